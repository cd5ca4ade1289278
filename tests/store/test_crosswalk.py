"""Golden customer resolution and the crosswalk's one-id-per-system rules."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from store import (
    CrosswalkConflict,
    CrosswalkRepository,
    CustomerAmbiguous,
    CustomerRef,
    GoldenCustomer,
    ResolvedCustomer,
    UnknownGoldenCustomer,
    golden_id_for,
    resolve_golden_customer,
    session_scope,
)
from tests.support.store import count, customer


def resolve(
    engine: Engine,
    crm: str,
    *,
    legal_name: str = "Acme, Inc.",
    tax_id: str | None = None,
    chosen: str | None = None,
    **refs: str,
) -> ResolvedCustomer:
    """Resolve a customer with `refs` (system=id) in its own transaction, as an activity would."""
    with session_scope(engine) as session:
        return resolve_golden_customer(session, crm, customer(legal_name, tax_id=tax_id, **refs), chosen=chosen)


def test_new_account_gets_the_deterministic_golden_id_and_is_linked(engine: Engine) -> None:
    resolved = resolve(engine, "salesforce", salesforce="001A000001")

    assert resolved == ResolvedCustomer(
        golden_id="gc_dd5b0a2e960e5771a886", created=True, refs={"salesforce": "001A000001"}
    )
    assert golden_id_for("salesforce", "001A000001") == resolved.golden_id
    assert count(engine, GoldenCustomer) == 1


def test_known_account_resolves_to_its_golden_id_even_after_a_rename(engine: Engine) -> None:
    first = resolve(engine, "salesforce", salesforce="001A", legal_name="Acme, Inc.")
    again = resolve(engine, "salesforce", salesforce="001A", legal_name="Acme Holdings Corp", stripe="cus_1")

    assert again.golden_id == first.golden_id
    assert again.created is False
    assert count(engine, GoldenCustomer) == 1
    assert count(engine, CustomerRef) == 1


def test_unknown_account_with_a_known_tax_id_reuses_the_golden_id(engine: Engine) -> None:
    first = resolve(engine, "salesforce", salesforce="001A", legal_name="Acme Inc", tax_id="DE 123.456-789")
    other = resolve(engine, "hubspot", hubspot="h-77", legal_name="Acme Europe", tax_id="de123456789")

    assert other.golden_id == first.golden_id
    assert other.created is False
    assert other.refs == {"salesforce": "001A", "hubspot": "h-77"}
    assert count(engine, GoldenCustomer) == 1


def test_duplicate_crm_account_with_a_known_tax_id_joins_the_same_golden_customer(engine: Engine) -> None:
    first = resolve(engine, "salesforce", salesforce="001A", tax_id="US12-3456789")

    second = resolve(engine, "salesforce", salesforce="001B", legal_name="Acme Duplicate", tax_id="US123456789")

    assert (second.golden_id, second.created) == (first.golden_id, False)
    assert count(engine, GoldenCustomer) == 1
    again = resolve(engine, "salesforce", salesforce="001B", legal_name="Acme Duplicate", tax_id="US123456789")
    assert again.golden_id == first.golden_id
    assert again.refs["salesforce"] == "001A"  # refs name the first account


def test_unknown_account_with_the_same_normalised_name_reuses_the_golden_id(engine: Engine) -> None:
    first = resolve(engine, "salesforce", salesforce="001A", legal_name="Acme, Inc.")
    other = resolve(engine, "hubspot", hubspot="h-77", legal_name="ACME Inc")

    assert other.golden_id == first.golden_id
    assert other.refs == {"salesforce": "001A", "hubspot": "h-77"}


def test_name_match_fills_in_a_missing_tax_id(engine: Engine) -> None:
    first = resolve(engine, "salesforce", salesforce="001A", legal_name="Acme, Inc.")
    resolve(engine, "hubspot", hubspot="h-77", legal_name="ACME Inc", tax_id="US-1")

    with session_scope(engine) as session:
        assert [g.golden_id for g in CrosswalkRepository(session).find_by_tax_id("us 1")] == [first.golden_id]


def test_name_match_is_not_taken_when_the_tax_ids_differ(engine: Engine) -> None:
    us = resolve(engine, "salesforce", salesforce="001A", legal_name="Acme Inc", tax_id="US-1")
    de = resolve(engine, "hubspot", hubspot="h-77", legal_name="Acme GmbH", tax_id="DE-2")

    assert de.golden_id != us.golden_id
    assert de.created is True


def test_name_match_is_not_taken_for_a_second_account_of_the_same_crm(engine: Engine) -> None:
    first = resolve(engine, "salesforce", salesforce="001A", legal_name="Acme, Inc.")
    second = resolve(engine, "salesforce", salesforce="001B", legal_name="ACME Inc")

    assert second.golden_id == golden_id_for("salesforce", "001B") != first.golden_id
    assert count(engine, GoldenCustomer) == 2


def test_customer_without_an_id_in_the_crm_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="no salesforce id"):
        resolve(engine, "salesforce", hubspot="h-77")


def test_link_is_idempotent(engine: Engine) -> None:
    with session_scope(engine) as session:
        crosswalk = CrosswalkRepository(session)
        crosswalk.add_golden("gc_1", "Acme Inc")
        assert crosswalk.link("gc_1", "stripe", "cus_1") is True
        assert crosswalk.link("gc_1", "stripe", "cus_1") is False
    with session_scope(engine) as session:
        crosswalk = CrosswalkRepository(session)
        assert crosswalk.link("gc_1", "stripe", "cus_1") is False
        assert crosswalk.refs("gc_1") == {"stripe": "cus_1"}
        found = crosswalk.find_by_ref("stripe", "cus_1")
        assert found is not None
        assert found.golden_id == "gc_1"
    assert count(engine, CustomerRef) == 1


def test_relinking_an_external_id_to_another_golden_id_is_a_conflict(engine: Engine) -> None:
    with session_scope(engine) as session:
        crosswalk = CrosswalkRepository(session)
        crosswalk.add_golden("gc_1", "Acme Inc")
        crosswalk.add_golden("gc_2", "Globex")
        crosswalk.link("gc_1", "stripe", "cus_1")
    with pytest.raises(CrosswalkConflict, match="already linked to gc_1"), session_scope(engine) as session:
        CrosswalkRepository(session).link("gc_2", "stripe", "cus_1")


def test_a_second_id_in_the_same_system_is_a_conflict(engine: Engine) -> None:
    with session_scope(engine) as session:
        crosswalk = CrosswalkRepository(session)
        crosswalk.add_golden("gc_1", "Acme Inc")
        crosswalk.link("gc_1", "stripe", "cus_1")
        with pytest.raises(CrosswalkConflict, match="already has stripe id 'cus_1'"):
            crosswalk.link("gc_1", "stripe", "cus_2")
        assert crosswalk.refs("gc_1") == {"stripe": "cus_1"}


def test_link_to_an_unknown_golden_id_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        CrosswalkRepository(session).link("gc_missing", "stripe", "cus_1")
    assert count(engine, CustomerRef) == 0


def test_golden_record_created_meanwhile_under_the_deterministic_id_is_reused(engine: Engine) -> None:
    # What a losing concurrent transaction sees: its lookups missed, then the insert hits the same id.
    golden_id = golden_id_for("salesforce", "001A")
    with session_scope(engine) as session:
        CrosswalkRepository(session).add_golden(golden_id, "Renamed Since Ltd")

    resolved = resolve(engine, "salesforce", salesforce="001A", legal_name="Acme, Inc.")

    assert resolved == ResolvedCustomer(golden_id=golden_id, created=False, refs={"salesforce": "001A"})
    assert count(engine, GoldenCustomer) == 1


def test_concurrent_resolution_of_one_new_account_yields_one_golden_record(engine: Engine) -> None:
    workers = 8
    start = threading.Barrier(workers)

    def attempt(_: int) -> ResolvedCustomer:
        start.wait(timeout=10)
        return resolve(engine, "salesforce", salesforce="001RACE", legal_name="Race Conditions Inc")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(attempt, range(workers)))

    assert {r.golden_id for r in results} == {golden_id_for("salesforce", "001RACE")}
    assert sum(r.created for r in results) == 1
    assert count(engine, GoldenCustomer) == 1
    assert count(engine, CustomerRef) == 1


def _two_acmes_in_hubspot(engine: Engine) -> tuple[str, str]:
    """Two golden customers whose names normalise alike and that have no Salesforce account yet."""
    first = resolve(engine, "hubspot", hubspot="h-1", legal_name="Acme Inc")
    second = resolve(engine, "hubspot", hubspot="h-2", legal_name="ACME GmbH")
    assert first.golden_id != second.golden_id  # same CRM: the name match is not taken
    return first.golden_id, second.golden_id


def test_several_equally_good_matches_are_ambiguous_and_link_nothing(engine: Engine) -> None:
    first, second = _two_acmes_in_hubspot(engine)
    with pytest.raises(CustomerAmbiguous) as ambiguous:
        resolve(engine, "salesforce", salesforce="001X", legal_name="Acme Corp")
    assert ambiguous.value.candidates == [first, second]
    assert "retry_with_customer" in str(ambiguous.value)
    assert count(engine, GoldenCustomer) == 2
    assert count(engine, CustomerRef) == 2  # the Salesforce account was not linked anywhere


def test_a_person_s_pick_decides_an_ambiguous_match(engine: Engine) -> None:
    _, second = _two_acmes_in_hubspot(engine)
    picked = resolve(engine, "salesforce", salesforce="001X", legal_name="Acme Corp", chosen=second)
    assert (picked.golden_id, picked.created) == (second, False)
    assert picked.refs == {"hubspot": "h-2", "salesforce": "001X"}
    again = resolve(engine, "salesforce", salesforce="001X", legal_name="Acme Corp")  # the next deal: no question
    assert again.golden_id == second


def test_a_pick_that_does_not_exist_or_contradicts_the_crosswalk_is_refused(engine: Engine) -> None:
    first, second = _two_acmes_in_hubspot(engine)
    with pytest.raises(UnknownGoldenCustomer):
        resolve(engine, "salesforce", salesforce="001X", legal_name="Acme Corp", chosen="gc_nope")
    resolve(engine, "salesforce", salesforce="001X", legal_name="Acme Corp", chosen=first)
    with pytest.raises(CrosswalkConflict):
        resolve(engine, "salesforce", salesforce="001X", legal_name="Acme Corp", chosen=second)
