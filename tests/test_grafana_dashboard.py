"""The Grafana dashboard, its provisioning and the compose stack, checked as data.

Grafana cannot run here, so the dashboard is held to what Grafana needs and what a reader of it
sees: a sound layout, the datasource variable everywhere, PromQL that parses (``promtool``) and
names only metrics the exporter really exposes (read from a live ``--demo`` scrape). That the
queries return data from a real Prometheus is ``test_e2e_dashboard.py``'s job.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dashboard_queries import (
    DASHBOARD,
    all_panels,
    dashboard_queries,
    load,
    metric_names,
    substitute,
    targets,
    variable_promql,
    variable_queries,
)
from tests.exporter_process import ExporterProcess
from tests.helpers import samples_of, series, tool

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = ROOT / "grafana" / "provisioning" / "dashboards" / "wolkvox.yml"
PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"
COMPOSE_PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.compose.yml"
ALERT_RULES = ROOT / "prometheus" / "alerts.yml"

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: Series Prometheus itself writes: scrape health and the alerting rules' state.
PROMETHEUS_OWN = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})
PANEL_TYPES = frozenset({"row", "stat", "timeseries", "state-timeline", "table"})
#: service -> the port it publishes, the same on the host and in the container.
PORTS = {"exporter": 9870, "prometheus": 9090, "alertmanager": 9093, "grafana": 3000}
GRID_COLUMNS = 24


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load(DASHBOARD)


@pytest.fixture(scope="module")
def exposed_names() -> set[str]:
    """Every sample name of a live ``--demo`` scrape, once campaigns are in it."""
    with ExporterProcess(["--demo"]) as exporter:
        text = exporter.wait_for_metrics(lambda t: series(t, "wolkvox_campaign_info"))
    return {sample.name for sample in samples_of(text)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = _yaml(COMPOSE)
    return document


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel but rows."""
    return [p for p in all_panels(dashboard) if p["type"] != "row"]


# -- layout ------------------------------------------------------------------------------------


def test_the_dashboard_is_a_modern_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert 39 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] == "wolkvox-campaigns"
    assert dashboard["id"] is None, "an id ties the JSON to one Grafana database"
    kinds = {panel["type"] for panel in all_panels(dashboard)}
    assert kinds <= PANEL_TYPES, f"unexpected panel types {kinds - PANEL_TYPES}"


def test_panel_ids_and_titles_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in all_panels(dashboard)]
    titles = [panel["title"] for panel in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate ids in {sorted(ids)}"
    assert len(titles) == len(set(titles)), f"duplicate titles in {sorted(titles)}"


def test_panels_do_not_overlap_rows_and_collapsed_rows_included(dashboard: dict[str, Any]) -> None:
    boxes = []
    for panel in all_panels(dashboard):
        pos = panel["gridPos"]
        x, y, w, h = pos["x"], pos["y"], pos["w"], pos["h"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0, f"{panel['title']}: {pos}"
        assert x + w <= GRID_COLUMNS, f"{panel['title']} is wider than the grid: {pos}"
        boxes.append((panel["title"], x, y, w, h))
    for (a, ax, ay, aw, ah), (b, bx, by, bw, bh) in combinations(boxes, 2):
        overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
        assert not overlap, f"{a!r} and {b!r} overlap"


def test_only_collapsed_rows_hold_panels_and_they_sit_below_their_row(
    dashboard: dict[str, Any],
) -> None:
    rows = [panel for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows, "the dashboard is organised in rows"
    for row in rows:
        assert row["gridPos"] == {**row["gridPos"], "x": 0, "w": GRID_COLUMNS, "h": 1}
        if not row["collapsed"]:
            assert row["panels"] == [], f"open row {row['title']!r} must not nest panels"
        for panel in row["panels"]:
            assert panel["type"] != "row"
            assert panel["gridPos"]["y"] > row["gridPos"]["y"], panel["title"]


def test_every_panel_has_a_description_and_a_unit(dashboard: dict[str, Any]) -> None:
    for panel in _panels(dashboard):
        assert panel.get("description", "").strip(), f"{panel['title']}: no description"
        if panel["type"] in ("stat", "timeseries", "table"):
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']}: no unit"


# -- data source -------------------------------------------------------------------------------


def _datasource_references(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "datasource":
                yield f"{path}.{key}", value
            yield from _datasource_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _datasource_references(value, f"{path}[{i}]")


def test_every_panel_target_and_variable_uses_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    for panel in _panels(dashboard):
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE, f"{panel['title']} {target['refId']}"
    references = list(_datasource_references(dashboard))
    assert references
    for where, value in references:
        assert value == DATASOURCE, f"{where} is {value!r}: a hard-coded data source"


def test_the_data_source_is_a_variable_and_import_asks_for_nothing_unused(
    dashboard: dict[str, Any],
) -> None:
    # No __inputs: the import form would ask for a data source that no panel uses, since every
    # panel follows the ${datasource} variable.
    assert "__inputs" not in dashboard
    assert "${DS_" not in json.dumps(dashboard)
    variable = _variable(dashboard, "datasource")
    assert variable["type"] == "datasource"
    assert variable["query"] == "prometheus"
    # Grafana picks its default data source of the type for this value (provisioning, import).
    assert variable["current"]["value"] == "default"
    assert variable["current"]["text"] == "default"


# -- variables ---------------------------------------------------------------------------------


def _variable(dashboard: Mapping[str, Any], name: str) -> dict[str, Any]:
    found = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    assert len(found) == 1, f"variable {name}: {len(found)} definitions"
    variable: dict[str, Any] = found[0]
    return variable


def test_the_operation_variable_lists_the_exporters_operations(dashboard: dict[str, Any]) -> None:
    variable = _variable(dashboard, "operation")
    assert variable["type"] == "query"
    assert variable["multi"] and variable["includeAll"]
    assert re.sub(r"\s", "", variable["query"]) == (
        'label_values(wolkvox_up{job=~"$job",instance=~"$instance"},operation)'
    )


def test_job_and_instance_variables_keep_two_exporters_apart(dashboard: dict[str, Any]) -> None:
    # prod and staging exporters may both have an operation "bogota": pick the job, then the
    # exporter, then the operation.
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names.index("job") < names.index("instance") < names.index("operation")
    job, instance = _variable(dashboard, "job"), _variable(dashboard, "instance")
    assert re.sub(r"\s", "", job["query"]) == "label_values(wolkvox_up,job)"
    assert re.sub(r"\s", "", instance["query"]) == 'label_values(wolkvox_up{job=~"$job"},instance)'
    for variable in (job, instance):
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".+"


def test_the_campaign_variable_shows_names_and_selects_ids(dashboard: dict[str, Any]) -> None:
    variable = _variable(dashboard, "campaign")
    assert variable["type"] == "query"
    assert variable["multi"] and variable["includeAll"]
    assert (
        'wolkvox_campaign_info{job=~"$job", instance=~"$instance", operation=~"$operation"}'
        in variable["query"]
    )
    # Grafana's query_result(...) renders each series as `name{labels} value timestamp`, labels in
    # Prometheus' (sorted) order; the regex is JavaScript's, named groups (?<value>) and (?<text>).
    line = (
        'wolkvox_campaign_info{campaign_id="20517",campaign_name="Venta Cruzada – CDMX",'
        'campaign_type="progressive",dial_mode="autopilot",instance="exporter:9870",'
        'job="wolkvox",operation="demo-bogota",skill_id="5210"} 1 1718000000000'
    )
    found = re.search(_python_regex(variable["regex"]), line)
    assert found is not None
    assert found["value"] == "20517"
    assert found["text"] == "Venta Cruzada – CDMX"
    # A name with a quote is escaped in the series; the whole name is kept, not cut at \".
    quoted = line.replace("Venta Cruzada – CDMX", 'Encuesta \\"NPS\\" 2024')
    found = re.search(_python_regex(variable["regex"]), quoted)
    assert found is not None
    assert found["text"] == 'Encuesta \\"NPS\\" 2024'


def _python_regex(grafana_regex: str) -> str:
    """A Grafana ``/pattern/flags`` regex as Python's: ``(?<name>`` becomes ``(?P<name>``."""
    found = re.fullmatch(r"/(.*)/[gimsuy]*", grafana_regex, re.S)
    assert found, f"not a /regex/: {grafana_regex!r}"
    return found[1].replace("(?<", "(?P<")


def test_every_variable_query_is_label_values_or_query_result(dashboard: dict[str, Any]) -> None:
    queries = variable_queries(DASHBOARD)
    assert {name for name, _ in queries} == {"job", "instance", "operation", "campaign"}
    for _name, query in queries:
        variable_promql(query)  # raises for any other form


# -- the queries -------------------------------------------------------------------------------


def test_every_query_parses_as_promql(tmp_path: Path) -> None:
    queries = dashboard_queries(DASHBOARD)
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr}
                    for i, (_, expr) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    legend = "\n".join(f"dashboard:query_{i}: {title}" for i, (title, _) in enumerate(queries))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{legend}"


def test_every_query_selects_at_least_one_metric() -> None:
    for title, expr in dashboard_queries(DASHBOARD):
        assert metric_names(expr), f"{title}: {expr!r} selects no metric"


def test_queries_use_only_metrics_the_exporter_or_prometheus_exposes(
    exposed_names: set[str],
) -> None:
    assert "wolkvox_api_requests_total" in exposed_names  # the scrape is parsed as expected
    known = exposed_names | PROMETHEUS_OWN
    for title, expr in dashboard_queries(DASHBOARD):
        unknown = metric_names(expr) - known
        assert not unknown, f"{title}: {sorted(unknown)} are not exposed; query {expr!r}"


def test_counters_are_rated_and_gauges_never_are() -> None:
    for title, expr in dashboard_queries(DASHBOARD):
        for function, name in re.findall(r"\b(\w+)\s*\(\s*([A-Za-z_:][\w:]*)\s*[{\[]", expr):
            if function in ("rate", "irate", "increase", "resets"):
                assert name.endswith("_total"), f"{title}: {function}() of the gauge {name}"
            if function in ("deriv", "delta", "idelta", "predict_linear"):
                assert not name.endswith("_total"), f"{title}: {function}() of counter {name}"
        for name in re.findall(r"\b(\w+_total)\b", expr):
            assert re.search(rf"\b(rate|irate|increase)\s*\(\s*{name}\b", expr), (
                f"{title}: the counter {name} is shown raw; use increase() or rate()"
            )


def test_queries_follow_the_job_instance_operation_and_campaign_variables() -> None:
    selector = re.compile(r"\b((?:wolkvox_\w+)|ALERTS(?:_FOR_STATE)?|up)\s*(\{[^}]*\})?")
    label_list = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
    for target in targets(DASHBOARD):
        for name, matchers in selector.findall(label_list.sub("", target.expr)):
            where = f"{target.panel} {target.ref_id}: {name}"
            assert 'job=~"$job"' in matchers, where
            if name.startswith("ALERTS"):  # WolkvoxExporterAbsent has a job and nothing else
                assert 'instance=~"$instance|"' in matchers, where
            else:
                assert 'instance=~"$instance"' in matchers, where
            if name in ("wolkvox_exporter_build_info", "up"):  # one per exporter
                continue
            if name.startswith("ALERTS"):  # exporter-wide alerts have no operation or campaign
                assert 'operation=~"$operation|"' in matchers, where
                assert 'campaign_id=~"$campaign|"' in matchers, where
                continue
            assert 'operation=~"$operation"' in matchers, where
            if name.startswith("wolkvox_campaign_"):
                assert 'campaign_id=~"$campaign"' in matchers, where


def test_campaign_panels_name_the_campaigns() -> None:
    for target in targets(DASHBOARD):
        per_campaign = any(n.startswith("wolkvox_campaign_") for n in metric_names(target.expr))
        if not per_campaign or target.panel_type not in ("timeseries", "state-timeline"):
            continue
        joined = re.sub(r"\s+", " ", target.expr)
        assert (
            "* on (job, instance, operation, campaign_id) group_left (campaign_name) "
            "wolkvox_campaign_info{" in joined
        ), f"{target.panel}: join the campaign names"
        assert "{{campaign_name}}" in target.legend, f"{target.panel}: legend without the name"


def test_the_alerts_panel_covers_every_shipped_alert() -> None:
    alerts = [
        rule["alert"]
        for group in _yaml(ALERT_RULES)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    patterns = {
        pattern
        for target in targets(DASHBOARD)
        for pattern in re.findall(r'ALERTS\{[^}]*alertname=~"([^"]+)"', target.expr)
    }
    assert patterns, "no panel shows the alerts"
    for pattern in patterns:
        missed = [name for name in alerts if not re.fullmatch(pattern, name)]
        assert not missed, f'alertname=~"{pattern}" misses {missed}'


# -- the query helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('wolkvox_up{operation=~"a|b"} == 1', {"wolkvox_up"}),
        (
            'sum by (operation, reason) (increase(wolkvox_refresh_failures_total{x="}"}[1h])) > 0',
            {"wolkvox_refresh_failures_total"},
        ),
        (
            'a * on (job, campaign_id) group_left (campaign_name) b{c="d"} offset 5m',
            {"a", "b"},
        ),
        ("sum(x) without (instance) / ignoring (code) y and bool z", {"x", "y", "z"}),
        ("time() - ts_seconds > bool 1e3", {"ts_seconds"}),
        ("-deriv(records[15m:1m]) * 3600 or vector(0)", {"records"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m"}),
        ("ALERTS_FOR_STATE and ignoring (alertstate) ALERTS", {"ALERTS_FOR_STATE", "ALERTS"}),
        ("rule:recorded:rate5m @ end()", {"rule:recorded:rate5m"}),
        ('count_values("v", m) > Inf or NaN', {"m"}),
    ],
)
def test_metric_names_finds_the_selected_metrics(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_substitute_replaces_every_variable_syntax() -> None:
    values = {"operation": "acme", "campaign": ".+", "__rate_interval": "1m"}
    expr = 'r{o=~"$operation", c=~"${campaign}", d=~"${operation:regex}|[[campaign]]"}'
    expr += "[$__rate_interval]"
    assert substitute(expr, values) == 'r{o=~"acme", c=~".+", d=~"acme|.+"}[1m]'
    assert substitute('label_replace(m, "d", "$1", "s", "(.*)")', values).count("$1") == 1
    with pytest.raises(KeyError, match="opration"):
        substitute('m{o=~"$opration"}', values)


def test_variable_queries_become_the_promql_that_answers_them() -> None:
    assert variable_promql("label_values(wolkvox_up, operation)") == (
        "count by (operation) (wolkvox_up)"
    )
    assert variable_promql('label_values(m{a="x,y"}, b)') == 'count by (b) (m{a="x,y"})'
    assert variable_promql("label_values(job)") == 'count by (job) ({job!=""})'
    assert variable_promql("query_result(max(m))") == "max(m)"
    with pytest.raises(ValueError, match="metrics"):
        variable_promql("metrics(wolkvox_.*)")


def test_dashboard_queries_cover_targets_and_variables_with_values_given() -> None:
    queries = dashboard_queries(DASHBOARD, {"operation": "demo-bogota"})
    assert len(queries) == len(targets(DASHBOARD)) + len(variable_queries(DASHBOARD))
    assert all("$" not in expr for _, expr in queries)
    assert any('operation=~"demo-bogota"' in expr for _, expr in queries)
    assert ("$job", "count by (job) (wolkvox_up)") in queries
    assert ("$operation", 'count by (operation) (wolkvox_up{job=~".+", instance=~".+"})') in queries


# -- provisioning and compose ------------------------------------------------------------------


def _service_mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """Bind mounts of a compose service: container path -> source relative to the repo."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        if source.startswith((".", "/")):
            mounts[target] = source
    return mounts


def test_compose_defines_the_stack_on_the_documented_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == set(PORTS)
    for name, port in PORTS.items():
        published = [str(p) for p in services[name].get("ports", [])]
        assert published == [f"{port}:{port}"], f"{name}: ports {published}"


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        tag = image.rpartition(":")[2]
        assert ":" in image and re.search(r"\d", tag) and tag != "latest", f"{name}: {image}"


def test_compose_files_exist(compose: dict[str, Any]) -> None:
    exporter = compose["services"]["exporter"]
    build = exporter["build"]
    assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).is_file()
    for env_file in exporter["env_file"]:
        assert env_file["required"] is False, "the demo must start without credentials"
    assert exporter["command"] == ["--demo"]
    for name, service in compose["services"].items():
        for target, source in _service_mounts(service).items():
            assert (ROOT / source).exists(), f"{name}: {source} (mounted at {target}) is missing"
        for env_file in service.get("env_file", []):
            if isinstance(env_file, str) or env_file.get("required", True):
                path = env_file if isinstance(env_file, str) else env_file["path"]
                assert (ROOT / path).exists(), f"{name}: env file {path} is missing"


def test_compose_prometheus_differs_from_the_shipped_config_only_in_addresses() -> None:
    shipped = PROMETHEUS_CONFIG.read_text(encoding="utf-8")
    for local, service in (
        ("localhost:9870", "exporter:9870"),
        ("localhost:9093", "alertmanager:9093"),
    ):
        assert local in shipped
        shipped = shipped.replace(local, service)
    assert yaml.safe_load(shipped) == _yaml(COMPOSE_PROMETHEUS_CONFIG)
    result = subprocess.run(
        [tool("promtool"), "check", "config", COMPOSE_PROMETHEUS_CONFIG.name],
        cwd=COMPOSE_PROMETHEUS_CONFIG.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_wires_the_services_to_each_other(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus = services["prometheus"]
    config_flag = [c for c in prometheus["command"] if c.startswith("--config.file=")]
    config_path = config_flag[0].partition("=")[2]
    mounts = _service_mounts(prometheus)
    folder = str(Path(config_path).parent)
    assert mounts[folder] == "./prometheus"
    assert Path(config_path).name == COMPOSE_PROMETHEUS_CONFIG.name
    config = _yaml(COMPOSE_PROMETHEUS_CONFIG)
    scrape = [
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    ]
    alerting = [
        t
        for manager in config["alerting"]["alertmanagers"]
        for s in manager["static_configs"]
        for t in s["targets"]
    ]
    assert scrape == [f"exporter:{PORTS['exporter']}"]
    assert alerting == [f"alertmanager:{PORTS['alertmanager']}"]
    assert _service_mounts(services["alertmanager"]) == {
        "/etc/alertmanager/alertmanager.yml": "./prometheus/alertmanager.yml"
    }
    grafana = _service_mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == "./grafana/provisioning"
    providers = _yaml(DASHBOARD_PROVIDERS)["providers"]
    assert [p["options"]["path"] for p in providers] == [
        target for target, source in grafana.items() if source == "./grafana/dashboards"
    ]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{providers[0]['options']['path']}/{DASHBOARD.name}"


def test_provisioning_gives_grafana_the_stacks_prometheus_as_default() -> None:
    sources = _yaml(DATASOURCES)
    assert sources["apiVersion"] == 1
    prometheus = [s for s in sources["datasources"] if s["type"] == "prometheus"]
    assert len(prometheus) == 1
    assert prometheus[0]["isDefault"] is True
    assert prometheus[0]["uid"] == "prometheus"
    assert prometheus[0]["url"] == f"http://prometheus:{PORTS['prometheus']}"
    providers = _yaml(DASHBOARD_PROVIDERS)
    assert providers["apiVersion"] == 1
    assert [p["type"] for p in providers["providers"]] == ["file"]
