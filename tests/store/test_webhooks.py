"""Inbound webhook dedupe by (source, event id)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from store import CrosswalkRepository, GoldenCustomer, ProcessedEvent, ProcessedEventRepository, session_scope
from tests.support.store import count


def test_an_event_is_recorded_once_per_source(engine: Engine) -> None:
    with session_scope(engine) as session:
        events = ProcessedEventRepository(session)
        assert events.record_once("stripe", "evt_1") is True
        assert events.record_once("stripe", "evt_1") is False
        assert events.record_once("salesforce", "evt_1") is True
    with session_scope(engine) as session:
        events = ProcessedEventRepository(session)
        assert events.record_once("stripe", "evt_1") is False
        assert events.seen("stripe", "evt_1") is True
        assert events.seen("stripe", "evt_2") is False
    assert count(engine, ProcessedEvent) == 2


def test_a_duplicate_does_not_spoil_the_rest_of_the_transaction(engine: Engine) -> None:
    with session_scope(engine) as session:
        ProcessedEventRepository(session).record_once("stripe", "evt_1")
    with session_scope(engine) as session:
        assert ProcessedEventRepository(session).record_once("stripe", "evt_1") is False
        CrosswalkRepository(session).add_golden("gc_1", "Acme Inc")
    assert count(engine, GoldenCustomer) == 1


def test_concurrent_deliveries_of_one_event_are_recorded_once(engine: Engine) -> None:
    workers = 6
    start = threading.Barrier(workers)

    def deliver(_: int) -> bool:
        start.wait(timeout=10)
        with session_scope(engine) as session:
            return ProcessedEventRepository(session).record_once("stripe", "evt_race")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        firsts = list(pool.map(deliver, range(workers)))

    assert firsts.count(True) == 1
    assert count(engine, ProcessedEvent) == 1
