"""The chaos run, small (part of `make test`): faults on, a worker killed, the Temporal server restarted, deals won in
both CRMs and billed in both billing systems, and the checker finds nothing."""

from __future__ import annotations

from pathlib import Path

from chaos.book import build_book
from chaos.run import RunConfig, billing_of, run_chaos
from sandbox.faults import ChaosRates


async def test_a_small_chaos_run_with_a_worker_kill_and_a_server_restart_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    config = RunConfig(
        deals=14,
        seed=20261128,
        kills=1,
        rates=ChaosRates(
            latency=0.02, status_5xx=0.015, status_429=0.01, reset=0.005, reset_after=0.005, lost_response=0.005
        ),
        # The kill comes as the main wave closes and the server restart just after: their stalls (an activity on
        # the dead worker waits out its 30 s start-to-close timeout) overlap, which keeps the test short.
        kill_between=(0.0, 0.0),
        batch=7,
        timeout=240,
        var=tmp_path / "chaos",
        # The later periods (renewals, CRM changes) run in `make chaos`; here they would double the test's time.
        later_periods=False,
    )
    lines: list[str] = []
    outcome = await run_chaos(config, say=lines.append)

    log, report = outcome.log, outcome.report
    assert (log.worker_kills, log.server_restarts) == (1, 1), lines
    assert sum(sum(counts.values()) for counts in log.faults.values()) > 0  # faults were injected
    assert report.violations == [], "\n".join(map(str, report.violations))
    assert report.closed == 14
    assert report.completed + sum(report.parked.values()) == 14
    assert set(report.parked) <= {"invalid_address"}
    assert report.duplicates == 0
    # Both estates: the book's HubSpot deals (UK01, billed in Chargebee, booked in Xero) were won, billed and booked
    # once each, next to the Salesforce / Stripe / NetSuite ones.
    book = build_book(config.deals, config.seed)
    hubspot = sum(spec.crm == "hubspot" for spec in book.deals)
    chargebee = sum(billing_of(spec) == "chargebee" and not spec.expect_park for spec in book.deals)
    assert hubspot >= 1
    assert chargebee >= 1
    counted = report.counted
    assert (counted["hubspot"]["closed won"], counted["salesforce"]["closed won"]) == (hubspot, 14 - hubspot)
    assert counted["hubspot"]["write-backs"] == hubspot
    for kind in ("subscriptions", "invoices", "payments"):
        assert counted["chargebee"][kind] == chargebee, (kind, counted)
        assert counted["stripe"][kind] == report.completed - chargebee, (kind, counted)
    assert counted["chargebee"]["customers"] >= 1
    assert (counted["xero"]["invoices"], counted["xero"]["payments"]) == (chargebee, chargebee)
    assert counted["netsuite"]["invoices"] == report.completed - chargebee
