"""The report's three forms: JSON that reads back, a terminal table, a self-contained HTML page with a KPI chart."""

from __future__ import annotations

import io
import re
from xml.etree import ElementTree

from rich.console import Console

from reconcile.compare import RepairAction, compare
from reconcile.kpis import compute
from reconcile.outcome import RepairOutcome, Report, build_report
from reconcile.report import kpi_chart, print_report, to_html, to_json
from tests.support.snapshots import estate


def broken_report() -> Report:
    snap = estate(3)
    snap.sagas.sagas = snap.sagas.sagas[1:]  # D1 has no saga
    snap.erp.invoices = [e for e in snap.erp.invoices if e.external_id != "in_2"]
    report = build_report(snap, compare(snap), compute(snap), repair_requested=True)
    report.repairs.append(
        RepairOutcome(
            mismatch=report.mismatches[0].key,
            action=RepairAction.START_SAGA,
            deal_id="D1",
            saga_id="c2c:salesforce:D1",
            ok=True,
            detail="saga started",
        )
    )
    return report


def test_json_reads_back_into_the_same_report() -> None:
    report = broken_report()
    again = Report.model_validate_json(to_json(report))
    assert again == report
    assert again.by_kind() == {"missing_saga": 1, "missing_in_erp": 1}
    assert again.counts.sagas == {"completed": 2, "missing": 1}


def test_terminal_report_lists_kpis_mismatches_and_repairs() -> None:
    out = io.StringIO()
    print_report(broken_report(), Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    for expected in ("Integration KPIs", "missing_saga", "missing_in_erp", "start_saga", "saga started", "D1"):
        assert expected in text


def test_clean_report_says_so() -> None:
    snap = estate(2)
    out = io.StringIO()
    print_report(build_report(snap, [], compute(snap), repair_requested=False), Console(file=out, width=160))
    assert "No mismatches" in out.getvalue()


def test_html_is_self_contained_and_charts_the_kpis() -> None:
    page = to_html(broken_report())
    assert page.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing fetched when opened
    assert "missing_in_erp" in page
    assert "c2c:salesforce:D1" in page
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg is not None
    tree = ElementTree.fromstring(svg.group(0))  # well-formed SVG
    bars = tree.findall("{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 4  # two rates, p50 and p95


def test_html_escapes_what_it_shows() -> None:
    report = broken_report()
    report.mismatches[0] = report.mismatches[0].model_copy(update={"found": "<script>alert(1)</script>"})
    assert "<script>" not in to_html(report)


def test_rate_bars_scale_with_the_rate() -> None:
    kpis = compute(estate(2))
    kpis.payment_application.numerator = 1  # 1 of 2 -> half the full width
    widths = [float(w) for w in re.findall(r'<rect[^>]* width="([\d.]+)"', kpi_chart(kpis))]
    assert widths[0] == widths[1] / 2
