"""`GET /status`: a small HTML page of the worker's business metrics, for the embedded default (`make up`).

It reads the worker's own Prometheus endpoint (`C2C_METRICS_HOST:C2C_METRICS_PORT/metrics`, text exposition)
and shows sagas entering each stage, parked sagas by problem code, invoice posting latency p50/p95 (from the
histogram's buckets, interpolated as Prometheus's histogram_quantile does) and cash applications by outcome.
Counts are totals since the worker process started (Prometheus counters), not a time window; the compose stack
has Grafana for rates and history (docs/deploy.md, "Dashboards").

Unauthenticated, like /healthz and /docs: a browser cannot send the bearer token on a plain page load, and the page
shows only aggregate counts and latencies, which the worker's /metrics already serves without authentication to
whoever reaches it. No deal ids, customers or amounts.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from html import escape

import httpx
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from connectors.kit import tls_context
from observability import metrics
from settings import Settings

Sample = tuple[str, dict[str, str], float]
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SAGA = "CustomerToCash"


def parse(text: str) -> list[Sample]:
    """Prometheus text exposition -> (name, labels, value) per sample line; comments and junk skipped."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        name, labels, value = match.groups()
        try:
            samples.append((name, dict(_LABEL.findall(labels or "")), float(value)))
        except ValueError:
            continue
    return samples


def by_label(samples: list[Sample], name: str, *keys: str, **where: str) -> dict[tuple[str, ...], float]:
    """Sum of `name` grouped by the values of `keys`, over samples whose labels match `where`."""
    sums: dict[tuple[str, ...], float] = defaultdict(float)
    for sample_name, labels, value in samples:
        if sample_name == name and all(labels.get(k) == v for k, v in where.items()):
            sums[tuple(labels.get(k, "") for k in keys)] += value
    return dict(sums)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """histogram_quantile over cumulative buckets {upper bound: count}; None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # in the open top bucket: the highest finite bound, as Prometheus answers
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return lower


def posting_latency(samples: list[Sample]) -> dict[str, float | None]:
    buckets = by_label(samples, f"{metrics.INVOICE_POSTING_LATENCY}_bucket", "le", workflow_type=SAGA)
    cumulative = {float(le): count for (le,), count in buckets.items()}
    return {"p50": quantile(0.5, cumulative), "p95": quantile(0.95, cumulative)}


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h" if value < 172800 else f"{value / 86400:.1f} d"


def _table(title: str, headings: tuple[str, ...], rows: dict[tuple[str, ...], float]) -> str:
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in key) + f'<td class="n">{value:g}</td></tr>'
        for key, value in sorted(rows.items(), key=lambda item: (-item[1], item[0]))
    )
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    return f"<h2>{escape(title)}</h2><table><tr>{head}</tr>{body or '<tr><td colspan=9>none yet</td></tr>'}</table>"


def render(samples: list[Sample]) -> str:
    latency = posting_latency(samples)
    count = sum(
        v for n, ls, v in samples if n == f"{metrics.INVOICE_POSTING_LATENCY}_count" and ls.get("workflow_type") == SAGA
    )
    parts = [
        _table(
            "Sagas entering each stage",
            ("stage", "entries"),
            by_label(samples, metrics.STAGE_ENTRIES, "stage", workflow_type=SAGA),
        ),
        _table(
            "Parked by problem code",
            ("system", "code", "sagas"),
            by_label(samples, metrics.EXCEPTIONS, "system", "code"),
        ),
        "<h2>Invoice posting latency</h2><p>deal closed to AR invoice posted, "
        f"{count:g} invoices: p50 <b>{_seconds(latency['p50'])}</b>, p95 <b>{_seconds(latency['p95'])}</b></p>",
        _table(
            "Payments applied",
            ("outcome", "applications"),
            by_label(samples, metrics.PAYMENT_APPLICATIONS, "outcome"),
        ),
    ]
    return _page("".join(parts), "Totals since the worker started.")


def _page(body: str, note: str) -> str:
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:48em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}td.n{text-align:right}"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>c2c status</title><style>{style}</style></head>"
        f"<body><h1>c2c status</h1><p>{escape(note)}</p>{body}</body></html>"
    )


def metrics_url(settings: Settings) -> str | None:
    if not settings.metrics_port:
        return None
    host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "") else settings.metrics_host  # noqa: S104
    return f"http://{host}:{settings.metrics_port}/metrics"


def status_routes(settings: Settings) -> APIRouter:
    router = APIRouter()

    @router.get("/status", response_class=HTMLResponse, include_in_schema=False)
    async def status() -> HTMLResponse:
        url = metrics_url(settings)
        if url is None:
            return HTMLResponse(_page("", "The worker's metrics are off (C2C_METRICS_PORT=0)."), status_code=503)
        try:
            async with httpx.AsyncClient(timeout=3, verify=tls_context()) as client:
                answer = await client.get(url)
                answer.raise_for_status()
        except httpx.HTTPError:
            return HTMLResponse(_page("", f"No answer from the worker's metrics at {url}."), status_code=503)
        return HTMLResponse(render(parse(answer.text)))

    return router
