"""Where one saga's cost over the baseline goes: its history (events by kind, activities by queue, payload bytes
through the data converter, search-attribute upserts) and its vendor HTTP requests (by vendor; token requests
apart, which connection reuse and token caching should keep rare)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from bench.estate import SYSTEMS, BenchEstate


@dataclass
class Profile:
    name: str
    events: Counter[str]
    activities_by_queue: Counter[str]
    payload_bytes: int
    requests: Counter[str]

    def row(self) -> list[str]:
        e = self.events
        return [
            self.name,
            str(sum(e.values())),
            str(e["WORKFLOW_TASK_COMPLETED"]),
            ", ".join(f"{q} {n}" for q, n in sorted(self.activities_by_queue.items())),
            str(e["MARKER_RECORDED"]),
            str(e["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"]),
            f"{self.payload_bytes / 1024:.1f}",
            ", ".join(f"{v} {n}" for v, n in sorted(self.requests.items())) or "-",
        ]


def _payload_bytes(event: HistoryEvent) -> int:
    """Bytes of the payloads an event carries (inputs, results, markers, memo/search attributes excepted)."""
    attributes = event.WhichOneof("attributes")
    body = getattr(event, attributes) if attributes else None
    total = 0
    for field in ("input", "result"):
        payloads = getattr(body, field, None)
        if payloads is not None and hasattr(payloads, "payloads"):
            total += sum(len(p.data) + sum(len(v) for v in p.metadata.values()) for p in payloads.payloads)
    details = getattr(body, "details", None)
    if details is not None and event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
        total += sum(len(p.data) for value in details.values() for p in value.payloads)
    return total


async def profile(estate: BenchEstate, name: str, workflow_id: str, requests: Counter[str]) -> Profile:
    history = await estate.client.get_workflow_handle(workflow_id).fetch_history()
    events: Counter[str] = Counter()
    queues: Counter[str] = Counter()
    size = 0
    for event in history.events:
        events[EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")] += 1
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            queue = event.activity_task_scheduled_event_attributes.task_queue.name
            queues[queue.rpartition("-")[2]] += 1
        size += _payload_bytes(event)
    return Profile(name, events, queues, size, requests)


async def vendor_requests(estate: BenchEstate) -> Counter[str]:
    """Requests the emulators served since their logs were last cleared, by vendor (`vendor token` apart)."""
    counts: Counter[str] = Counter()
    for system in SYSTEMS:
        for request in await estate.requests_served(system):
            token = "token" in str(request["path"]) or "oauth" in str(request["path"])
            counts[f"{system} token" if token else system] += 1
    return counts


def print_profiles(profiles: list[Profile], console: Console) -> None:
    table = Table(
        "run",
        "history events",
        "workflow tasks",
        "activities by queue",
        "markers (local activities)",
        "search-attribute upserts",
        "payload KiB",
        "vendor HTTP requests",
        title="one workflow's profile",
    )
    for p in profiles:
        table.add_row(*p.row())
    console.print(table)


CAUSED = ("CustomerToCash", "SubscriptionLifecycle", "CustomerMaster")  # what a saga runs: itself, its lifecycle
# (a child), its golden customer's master (signalled; one per customer, so shared by that customer's sagas)
COUNTED = {
    "WORKFLOW_TASK_COMPLETED": "workflow tasks",
    "ACTIVITY_TASK_SCHEDULED": "activity tasks",
    "MARKER_RECORDED": "markers",
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": "search-attribute upserts",
    "WORKFLOW_EXECUTION_SIGNALED": "signals",
    "TIMER_STARTED": "timers",
}


async def census(estate: BenchEstate) -> dict[str, Counter[str]]:
    """Every run of the workflows a saga causes on the bench's server, by type: runs, history events and the server
    round trips of COUNTED. Divided by the sagas, it is what one saga costs the server beyond its own history."""
    totals: dict[str, Counter[str]] = {}
    for kind in CAUSED:
        counts = totals.setdefault(kind, Counter())
        async for run in estate.client.list_workflows(f"WorkflowType = '{kind}'"):
            history = await estate.client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
            counts["runs"] += 1
            counts["history events"] += len(history.events)
            for event in history.events:
                name = COUNTED.get(EventType.Name(event.event_type).removeprefix("EVENT_TYPE_"))
                if name:
                    counts[name] += 1
    return totals


def print_census(totals: dict[str, Counter[str]], console: Console) -> None:
    sagas = totals["CustomerToCash"]["runs"] or 1
    columns = ["runs", "history events", *COUNTED.values()]
    table = Table("workflow", *columns, title=f"per saga, every workflow the {sagas} sagas of this run caused")
    for kind, counts in totals.items():
        table.add_row(kind, *(f"{counts[c] / sagas:.2f}" for c in columns))
    table.add_row("all", *(f"{sum(t[c] for t in totals.values()) / sagas:.2f}" for c in columns))
    console.print(table)
