"""The usage-priced customer of the demo (D-002: seats plus metered API calls): each month its product system reports
usage through the trigger API (`POST /usage`), once sending an event twice and once a negative quantity (refused);
each event reaches Stripe's meter through its own workflow, and the next month's renewal invoice bills the usage.
At the end: a table of the usage reported and billed per period, checked against billing and the ERP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.table import Column, Table
from temporalio.client import Client, WorkflowExecutionStatus

from canonical import ids
from settings import Settings
from workflows.subscription_messages import LifecycleStatus

USAGE_DEAL = "D-002"
METER = "api_calls"
# Each period's events: API calls, reported a few minutes into the period (billing's meter takes events at most 5
# minutes ahead of its clock).
PERIOD_USAGE = ([1_200, 345], [2_500], [800, 75, 5])


@dataclass
class UsageLog:
    """What the demo reported, per period number (1 = the saga's period), and the answers it got."""

    reported: dict[int, int] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


async def report_period(
    client: Client,
    http: httpx.AsyncClient,
    settings: Settings,
    deal_id: str,
    period: int,
    at: datetime,
    log: UsageLog,
    timeout: float,
) -> list[str]:
    """Report the period's usage at `at` (inside it), and wait until every event reached billing's meter; problems."""
    url = f"http://{settings.api_host}:{settings.api_port}/usage"
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    headers = {"Authorization": f"Bearer {token}"}
    problems: list[str] = []
    sent: list[str] = []
    for n, quantity in enumerate(PERIOD_USAGE[period - 1], start=1):
        event_id = f"{USAGE_DEAL}-p{period}-{n}"
        body = {
            "event_id": event_id,
            "subscription": deal_id,
            "meter": METER,
            "quantity": quantity,
            "timestamp": (at + timedelta(seconds=n)).isoformat(),
        }
        answer = await http.post(url, json=body, headers=headers)
        if answer.status_code != 202:
            problems.append(f"usage {event_id}: {answer.status_code} {answer.text}")
            continue
        sent.append(event_id)
        log.reported[period] = log.reported.get(period, 0) + quantity
        if n == 1:  # the product system's retry after a lost answer: counted once
            again = await http.post(url, json=body, headers=headers)
            log.answers.append(f"{event_id} sent twice: {again.json().get('status')}")
            if again.json().get("status") != "duplicate":
                problems.append(f"usage {event_id} sent twice was {again.json()}")
    if period == 1:
        bad = {"event_id": f"{USAGE_DEAL}-bad", "subscription": deal_id, "meter": METER, "quantity": -5}
        refused = await http.post(url, json={**bad, "timestamp": at.isoformat()}, headers=headers)
        log.answers.append(f"negative quantity: {refused.status_code} {refused.json().get('error')}")
        if refused.status_code != 422:
            problems.append(f"a negative usage event was answered {refused.status_code}")
    log.event_ids += sent
    deadline = time.monotonic() + timeout
    for event_id in sent:
        handle = client.get_workflow_handle(ids.usage_report_id(event_id))
        while (await handle.describe()).status is not WorkflowExecutionStatus.COMPLETED:
            if time.monotonic() > deadline:
                return [*problems, f"usage {event_id} not reported to billing in {timeout:.0f}s"]
            await asyncio.sleep(0.3)
    return problems


def usage_table(status: LifecycleStatus, log: UsageLog, states: dict[str, Any]) -> Table:
    """Per period: the usage reported in it, and the invoice (the next period's) that billed it."""
    table = Table(
        "period consumed",
        Column("reported", justify="right"),
        "billed on",
        Column("billed", justify="right"),
        Column("amount", justify="right"),
        "ERP invoice",
        title=f"{USAGE_DEAL}: usage of {METER} reported through POST /usage, billed in arrears",
        title_justify="left",
    )
    for period in sorted(log.reported):
        billing = next((p for p in status.periods if p.number == period + 1 and p.change is None), None)
        invoice = billing.ids.get("invoice", "") if billing else ""
        quantity, amount = _metered(states, invoice)
        table.add_row(
            str(period),
            str(log.reported[period]),
            invoice or "(not billed yet)",
            str(quantity) if invoice else "",
            f"{amount / 100:,.2f}" if invoice else "",
            billing.ids.get("erp_invoice", "") if billing else "",
        )
    return table


def verify_usage(status: LifecycleStatus, log: UsageLog, states: dict[str, Any]) -> list[str]:
    """Each reported period billed once, on the next period's invoice, at its quantity, and that invoice in the ERP."""
    problems = []
    for period, reported in sorted(log.reported.items()):
        billing = next((p for p in status.periods if p.number == period + 1 and p.change is None), None)
        if billing is None:
            problems.append(f"{USAGE_DEAL}: period {period}'s usage is on no invoice yet")
            continue
        invoice = billing.ids.get("invoice", "")
        quantity, amount = _metered(states, invoice)
        if quantity != reported or billing.totals.get("usage_quantity") != reported:
            problems.append(f"{USAGE_DEAL}: period {period} reported {reported} units, {invoice} bills {quantity}")
        erp = [i for i in states["netsuite"]["invoice"] if i["externalId"] == invoice]
        lines = [line for i in erp for line in i["item"]["items"] if line["item"]["id"] == "13"]
        if len(lines) != 1 or round(float(lines[0]["amount"]) * 100) != amount:
            problems.append(f"{USAGE_DEAL}: the ERP invoice of {invoice} has no usage line of {amount / 100:.2f}")
    return problems


def _metered(states: dict[str, Any], invoice_id: str) -> tuple[int, int]:
    invoice = next((i for i in states["stripe"]["invoices"] if i["id"] == invoice_id), None)
    lines = [
        line
        for line in (invoice["lines"]["data"] if invoice else [])
        if (line.get("price") or {}).get("recurring", {}).get("usage_type") == "metered"
    ]
    return sum(line["quantity"] for line in lines), sum(line["amount"] for line in lines)


def print_answers(console: Console, log: UsageLog) -> None:
    console.print(f"usage events: {len(log.event_ids)} reported; " + "; ".join(log.answers))
