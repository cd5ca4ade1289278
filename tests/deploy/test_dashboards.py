"""Grafana in the compose stack: its provisioning and the c2c dashboard, held to the metrics the worker exports.

No Grafana or Prometheus runs here. The dashboard's PromQL is read with a small extractor (metric names, label
matchers, grouping labels) and compared with observability/metrics.py (names, which are histograms, labels), the
Temporal SDK's compiled core (its `temporal_*` metric names), the saga's stages and the registered workflow types.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import temporalio.bridge
import yaml

from tests.deploy.test_deployment import (
    ROOT,
    bind_mounts,
    environment,
    healthcheck_words,
    host_path,
    image_tag,
    is_secret,
    published,
    stack,
)
from workflows.saga import Stage

DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
METRICS_MODULE = ROOT / "observability" / "metrics.py"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Labels Temporal's core puts on the metrics it records (business metrics through the workflow's meter included),
# the global tag metrics.runtime() sets, and Prometheus's histogram bucket label.
TEMPORAL_LABELS = {"namespace", "task_queue", "workflow_type", "activity_type", "service_name", "le"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
PROMQL_WORDS |= {"offset", "inf", "nan"}
GRAFANA_VARIABLES = {"$__range", "$__rate_interval", "$__interval"}


# ---- what the worker exports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    counters: frozenset[str]
    histograms: frozenset[str]
    labels: frozenset[str]


def exported() -> Exported:
    """observability/metrics.py read as source: its c2c_* constants, what each is created as, the label keys."""
    tree = ast.parse(METRICS_MODULE.read_text())
    constants = {
        node.targets[0].id: str(node.value.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and str(node.value.value).startswith("c2c_")
    }
    kinds: dict[str, set[str]] = {"counter": set(), "histogram": set()}
    labels: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Name) and first.id in constants:
                if node.func.attr == "create_counter":
                    kinds["counter"].add(constants[first.id])
                elif node.func.attr.startswith("create_histogram"):
                    kinds["histogram"].add(constants[first.id])
        if isinstance(node, ast.Dict):
            labels |= {key.value for key in node.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)}
    assert kinds["counter"], "observability/metrics.py no longer reads as expected"
    assert kinds["histogram"], "observability/metrics.py no longer reads as expected"
    return Exported(frozenset(kinds["counter"]), frozenset(kinds["histogram"]), frozenset(labels))


def temporal_core_names() -> bytes:
    """The Temporal SDK's compiled core: its metric names are string constants in it (without `temporal_`)."""
    [core] = [p for p in Path(temporalio.bridge.__file__).parent.iterdir() if p.name.startswith("temporal_sdk_bridge")]
    return core.read_bytes()


def workflow_types() -> set[str]:
    sources = "".join(path.read_text() for path in ROOT.glob("workflows/*.py"))
    return set(re.findall(r'@workflow\.defn\(name="(\w+)"', sources))


# ---- reading PromQL ---------------------------------------------------------------------------------------


@dataclass
class Query:
    metrics: list[str] = field(default_factory=list)
    matchers: list[tuple[str, str, str]] = field(default_factory=list)  # (metric or "", label, value)
    grouping: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SELECTOR = re.compile(rf"(?P<name>{NAME})?\s*\{{(?P<matchers>[^}}]*)\}}")
MATCHER = re.compile(r'\s*(?P<label>[a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*,?')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\((?P<labels>[^)]*)\)")


def read_promql(expr: str) -> Query:
    query = Query(variables=re.findall(r"\$\w+", expr))
    text = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors: [$window], [5m]

    def selector(match: re.Match[str]) -> str:
        body = match["matchers"]
        matchers = list(MATCHER.finditer(body))
        assert "".join(m.group(0) for m in matchers).strip() == body.strip(), f"unreadable matchers {{{body}}}"
        query.matchers += [(match["name"] or "", m["label"], m["value"]) for m in matchers]
        return f" {match['name'] or ''} "

    text = SELECTOR.sub(selector, text)
    for match in GROUPING.finditer(text):
        query.grouping += [label.strip() for label in match["labels"].split(",") if label.strip()]
    text = GROUPING.sub(" ", text)
    for match in re.finditer(rf"(?<![\w$.]){NAME}", text):
        word = match.group(0)
        if text[match.end() :].lstrip().startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function or an aggregation
        query.metrics.append(word)
    return query


def problems(expr: str, *, exports: Exported | None = None) -> list[str]:
    """Why `expr` would show nothing on the stack's Prometheus (an empty list when every name is real)."""
    exports = exports or exported()
    query = read_promql(expr)
    found = []
    if not query.metrics:
        found.append(f"no metric in {expr!r}")
    core = temporal_core_names()
    for name in query.metrics:
        base = next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), name)
        if name.startswith("c2c_"):
            if name in exports.histograms:
                found.append(f"{name} is a histogram: Prometheus has only {name}_bucket/_sum/_count")
            elif base in exports.histograms or name in exports.counters:
                continue
            else:
                found.append(f"{name}: the worker exports no such metric (observability/metrics.py)")
        elif name.startswith("temporal_"):
            if base.removeprefix("temporal_").encode() not in core:
                found.append(f"{name}: the Temporal SDK has no such metric")
        else:
            found.append(f"{name}: not a c2c_* or temporal_* metric of the worker")
    allowed = exports.labels | TEMPORAL_LABELS
    for label in query.grouping + [label for _, label, _ in query.matchers]:
        if label not in allowed:
            found.append(f"label {label!r}: no metric carries it")
    stages = {stage.value for stage in Stage}
    for _, label, value in query.matchers:
        if label == "stage" and value not in stages:
            found.append(f'stage="{value}" is not a stage')
        if label == "workflow_type" and value not in workflow_types():
            found.append(f'workflow_type="{value}" is not a registered workflow')
    return found


# ---- the dashboard ----------------------------------------------------------------------------------------


def dashboards() -> dict[Path, dict[str, Any]]:
    found = {path: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}
    assert DASHBOARDS / "c2c.json" in found
    return found


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    flat = []
    for panel in dashboard["panels"]:
        flat.append(panel)
        flat += panel.get("panels", [])  # panels inside a collapsed row
    return [panel for panel in flat if panel.get("type") != "row"]


def datasources() -> list[dict[str, Any]]:
    grafana = stack()["grafana"]
    directory = host_path(grafana, "/etc/grafana/provisioning/datasources")
    assert directory is not None
    assert directory.is_dir()
    return [ds for path in sorted(directory.glob("*.yaml")) for ds in yaml.safe_load(path.read_text())["datasources"]]


def test_the_dashboard_parses_and_every_panel_queries_the_provisioned_prometheus() -> None:
    [prometheus] = [ds for ds in datasources() if ds["type"] == "prometheus"]
    for path, dashboard in dashboards().items():
        assert dashboard["uid"]
        assert dashboard["title"]
        shown = panels(dashboard)
        assert shown, path
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
        for panel in shown:
            assert panel["datasource"]["uid"] == prometheus["uid"], panel["title"]
            assert panel["targets"], f"{panel['title']} queries nothing"
            for target in panel["targets"]:
                assert target.get("datasource", panel["datasource"])["uid"] == prometheus["uid"], panel["title"]
                for variable in read_promql(target["expr"]).variables:
                    assert variable in GRAFANA_VARIABLES or variable[1:] in variables, f"{panel['title']}: {variable}"


def test_every_metric_and_label_a_panel_queries_is_one_the_worker_exports() -> None:
    exports = exported()
    used: set[str] = set()
    for path, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel["targets"]:
                assert not problems(target["expr"], exports=exports), (path.name, panel["title"], target["expr"])
                used |= set(read_promql(target["expr"]).metrics)
    bases = {next((n.removesuffix(s) for s in HISTOGRAM_SUFFIXES if n.endswith(s)), n) for n in used}
    # The panels: sagas by stage, parked by code, posting latency, payment applications.
    for wanted in ("c2c_saga_stage_entries_total", "c2c_saga_exceptions_total", "c2c_invoice_posting_latency_seconds"):
        assert wanted in bases
    assert "c2c_payment_applications_total" in bases


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("sum(rate(c2c_sagas_parked_total[1h]))", "exports no such metric"),
        ("histogram_quantile(0.95, sum by (le) (rate(c2c_invoice_posting_latency_seconds[1h])))", "is a histogram"),
        ("sum(rate(c2c_saga_exceptions_total_bucket[1h]))", "exports no such metric"),
        ("sum by (region) (rate(c2c_saga_exceptions_total[1h]))", "label 'region'"),  # no c2c metric has it
        ('sum(c2c_saga_stage_entries_total{stage="paid"})', "not a stage"),
        ('sum(c2c_saga_stage_entries_total{workflow_type="Saga"})', "not a registered workflow"),
        ("sum(rate(temporal_vendor_http_429[5m]))", "Temporal SDK has no such metric"),
        ("sum(rate(http_requests_total[5m]))", "not a c2c_* or temporal_*"),
        ("vector(1)", "no metric"),
    ],
)
def test_the_check_refuses_a_metric_label_or_value_that_does_not_exist(expr: str, complaint: str) -> None:
    assert any(complaint in problem for problem in problems(expr)), problems(expr)


def test_the_extractor_reads_names_matchers_and_grouping() -> None:
    query = read_promql(
        'histogram_quantile(0.5, sum by (le, stage) (rate(c2c_saga_stage_duration_seconds_bucket{stage!="x",'
        ' workflow_type="CustomerToCash"}[$window]))) * 3600 + on (stage) temporal_workflow_completed'
    )
    assert query.metrics == ["c2c_saga_stage_duration_seconds_bucket", "temporal_workflow_completed"]
    assert query.grouping == ["le", "stage", "stage"]
    assert query.matchers == [
        ("c2c_saga_stage_duration_seconds_bucket", "stage", "x"),
        ("c2c_saga_stage_duration_seconds_bucket", "workflow_type", "CustomerToCash"),
    ]
    assert query.variables == ["$window"]
    assert not problems("sum(rate(temporal_activity_execution_latency_bucket[5m]))")


# ---- provisioning and the service -------------------------------------------------------------------------


def test_provisioning_points_at_the_stacks_prometheus_and_at_the_mounted_dashboards() -> None:
    services = stack()
    grafana = services["grafana"]
    assert (ROOT / "deploy/grafana/provisioning", "/etc/grafana/provisioning") in bind_mounts(grafana)
    [(_, _, prometheus_port)] = published(services["prometheus"])
    assert f"http://127.0.0.1:{prometheus_port}/-/healthy" in healthcheck_words(services["prometheus"])
    [prometheus] = datasources()
    assert prometheus["url"] == f"http://prometheus:{prometheus_port}"
    assert prometheus["access"] == "proxy"  # Grafana's server calls it: the service name resolves there
    providers = host_path(grafana, "/etc/grafana/provisioning/dashboards")
    assert providers is not None
    files = sorted(providers.glob("*.yaml"))
    assert files
    for path in files:
        for provider in yaml.safe_load(path.read_text())["providers"]:
            assert provider["type"] == "file"
            directory = host_path(grafana, provider["options"]["path"])
            assert directory == DASHBOARDS.resolve(), f"{path.name}: {provider['options']['path']} is not mounted"
            assert provider.get("allowUiUpdates") is False  # the JSON in the repository is the dashboard
    home = host_path(grafana, environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home is not None
    assert home.is_file()


def test_grafana_follows_the_stacks_rules() -> None:
    services = stack()
    grafana = services["grafana"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", image_tag(grafana))
    assert healthcheck_words(grafana)[:1] == ["CMD"]
    assert "/api/health" in healthcheck_words(grafana)[-1]
    [(address, host_port, container_port)] = published(grafana)
    assert address == "127.0.0.1"
    assert container_port == 3000
    others = {port for name, service in services.items() if name != "grafana" for _, port, _ in published(service)}
    assert host_port not in others
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    # The admin password comes from .env with no default (the deploy tests' rule for every secret) ...
    raw = environment(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"])
    assert is_secret("GF_SECURITY_ADMIN_PASSWORD")
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", raw["GF_SECURITY_ADMIN_PASSWORD"])
    # ... and anonymous visitors, when allowed, only view.
    env = environment(grafana)
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
