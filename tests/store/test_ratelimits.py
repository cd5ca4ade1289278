"""The shared book behind the vendor request limits (store/ratelimits.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine

from store import SqlRateBook


def test_reservations_are_spaced_by_the_interval_and_booked_only_within_the_horizon(engine: Engine) -> None:
    book = SqlRateBook(engine)
    book.ensure("stripe", 0)
    slots = [book.reserve("stripe", 0.5, 1.0, 100.0) for _ in range(3)]
    assert slots == [(True, 100.0), (True, 100.5), (True, 101.0)]
    assert book.reserve("stripe", 0.5, 1.0, 100.0) == (False, 101.5)  # 1.5 s ahead: past the horizon
    assert book.reserve("stripe", 0.5, 1.0, 200.0) == (True, 200.0)  # an idle vendor books at once


def test_leases_are_taken_once_released_by_their_holder_and_expire(engine: Engine) -> None:
    book = SqlRateBook(engine)
    book.ensure("netsuite", 2)
    book.ensure("netsuite", 2)  # a second process starting
    assert book.take("netsuite", "a", 2, now=10.0, until=70.0) == 0
    assert book.take("netsuite", "b", 2, now=10.0, until=70.0) == 1
    assert book.take("netsuite", "c", 2, now=10.0, until=70.0) is None
    book.release("netsuite", 0, "b")  # not b's: stays taken
    assert book.take("netsuite", "c", 2, now=11.0, until=71.0) is None
    book.release("netsuite", 0, "a")
    assert book.take("netsuite", "c", 2, now=11.0, until=71.0) == 0
    assert book.take("netsuite", "d", 2, now=70.5, until=130.0) == 1  # b died holding slot 1: expired


def test_the_daily_budget_counts_per_day(engine: Engine) -> None:
    book = SqlRateBook(engine)
    book.ensure("salesforce", 0)
    assert [book.spend("salesforce", "2026-12-01", 2) for _ in range(3)] == [True, True, False]
    assert book.spend("salesforce", "2026-12-02", 2) is True
