"""End to end: every query of the Grafana dashboard, run by a real Prometheus on the demo's data.

The chain is the compose stack's, minus Grafana: ``wolkvox-exporter --demo`` (its simulated
Wolkvox) scraped every second by Prometheus (Debian's binary). Once it has a few scrapes of
campaign data, each panel query and each variable query runs as an instant and as a range query,
with the variables set to "All" (`tests.dashboard_queries.DEFAULT_VALUES`). Every query must run;
every query must return data, except the panels in `MAY_BE_EMPTY`, which show only trouble.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from exporter.simulator import data as simulator_data
from tests.dashboard_queries import (
    DASHBOARD,
    dashboard_queries,
    load,
    substitute,
    targets,
    variable_promql,
    variable_queries,
)
from tests.exporter_process import ExporterProcess
from tests.prometheus_server import PrometheusServer

#: Panels that legitimately show nothing on a healthy demo, by title, with the reason.
MAY_BE_EMPTY = {
    "Firing Wolkvox alerts": "no alert fires on the healthy demo; this Prometheus has no rules",
    "Refresh failures by reason": "keeps only reasons that occurred; every demo refresh succeeds",
    "Unreadable values by field": "keeps only fields with errors; the simulator sends none",
}
#: Scrapes of campaign data to wait for: two points make a deriv(), three leave a margin.
SCRAPES = 3
DEMO_OPERATIONS = {"demo-bogota", "demo-mexico"}
#: The campaigns of the demo's two operations, each with its own.
DEMO_CAMPAIGNS = len(simulator_data.DEFAULT_CAMPAIGNS) + len(simulator_data.MEXICO_CAMPAIGNS)
QUERIES = dashboard_queries(DASHBOARD)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with ExporterProcess(["--demo"]) as exporter:
        target = urlsplit(exporter.url).netloc
        with PrometheusServer(tmp_path_factory.mktemp("prometheus"), target) as server:
            server.wait_for_targets_up()
            server.wait_for_query(
                f"min(count_over_time(wolkvox_campaign_records[1m])) >= {SCRAPES}", timeout=30
            )
            yield server


def _expr(title: str, ref_id: str = "A") -> str:
    found = [t for t in targets(DASHBOARD) if t.panel == title and t.ref_id == ref_id]
    assert len(found) == 1, f"{title} {ref_id}: {len(found)} targets"
    return substitute(found[0].expr)


def _value(prometheus: PrometheusServer, expr: str) -> float:
    result = prometheus.query(expr)
    assert len(result) == 1, f"{expr}: {result}"
    return float(result[0]["value"][1])


@pytest.mark.parametrize(("title", "expr"), QUERIES, ids=[title for title, _ in QUERIES])
def test_every_dashboard_query_runs_and_returns_data(
    prometheus: PrometheusServer, title: str, expr: str
) -> None:
    result = prometheus.query(expr)  # an error answer raises PrometheusAPIError
    now = time.time()
    prometheus.query_range(expr, now - 10, now, 1)  # Grafana runs graphs as range queries
    if title not in MAY_BE_EMPTY:
        assert result, f"{title}: no data from {expr}"


def test_the_empty_panels_allowed_exist() -> None:
    titles = {title for title, _ in QUERIES}
    assert set(MAY_BE_EMPTY) <= titles


def test_legends_name_labels_that_the_series_have(prometheus: PrometheusServer) -> None:
    for target in targets(DASHBOARD):
        labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.legend))
        for sample in prometheus.query(substitute(target.expr)):
            missing = labels - set(sample["metric"])
            assert not missing, f"{target.panel}: legend needs {missing}, series {sample}"


def test_table_queries_drop_the_metric_name_so_their_rows_merge(
    prometheus: PrometheusServer,
) -> None:
    # Grafana's merge transformation joins rows on the columns all queries share; a __name__
    # column that differs per query would keep every campaign's rows apart.
    tables = {t.panel for t in targets(DASHBOARD) if t.table}
    assert tables
    for target in targets(DASHBOARD):
        if target.table:
            for sample in prometheus.query(substitute(target.expr)):
                assert "__name__" not in sample["metric"], f"{target.panel} {target.ref_id}"


def test_the_overview_counts_add_up(prometheus: PrometheusServer) -> None:
    total = _value(prometheus, _expr("Total campaigns"))
    assert total == DEMO_CAMPAIGNS
    states = [
        _expr(title) for title in ("Started campaigns", "Stopped campaigns", "Status unknown")
    ]
    assert sum(_value(prometheus, expr) for expr in states) == total
    assert _value(prometheus, _expr("Records left to dial")) > 0


def test_status_is_drawn_as_started_stopped_or_unknown(prometheus: PrometheusServer) -> None:
    result = prometheus.query(_expr("Campaign status"))
    assert len(result) == DEMO_CAMPAIGNS
    assert {float(sample["value"][1]) for sample in result} <= {0.0, 1.0, 2.0}
    table = prometheus.query(_expr("Campaigns", "B"))
    assert sorted(float(s["value"][1]) for s in table) == sorted(
        float(s["value"][1]) for s in result
    )


def test_the_operation_variable_offers_the_operations(prometheus: PrometheusServer) -> None:
    (query,) = [q for name, q in variable_queries(DASHBOARD) if name == "operation"]
    found = prometheus.query(substitute(variable_promql(query)))
    assert {sample["metric"]["operation"] for sample in found} == DEMO_OPERATIONS


def test_the_campaign_variable_offers_every_campaign_by_name(
    prometheus: PrometheusServer,
) -> None:
    variable = next(v for v in load(DASHBOARD)["templating"]["list"] if v["name"] == "campaign")
    pattern = re.fullmatch(r"/(.*)/[a-z]*", variable["regex"], re.S)
    assert pattern is not None
    regex = re.compile(pattern[1].replace("(?<", "(?P<"))
    options = {}
    for sample in prometheus.query(substitute(variable_promql(variable["query"]))):
        found = regex.search(_grafana_query_result_line(sample))
        assert found is not None, sample
        options[found["value"]] = found["text"]
    info = prometheus.query("wolkvox_campaign_info")
    assert options == {s["metric"]["campaign_id"]: s["metric"]["campaign_name"] for s in info}


def _grafana_query_result_line(sample: dict[str, Any]) -> str:
    """A series as Grafana's query_result() shows it to the variable's regex (labels in
    Prometheus' order, which is sorted)."""
    labels = dict(sample["metric"])
    name = labels.pop("__name__", "")
    text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    at, value = sample["value"]
    return f"{name}{{{text}}} {value} {int(float(at) * 1000)}"


def test_one_operation_selected_shows_only_that_operation(prometheus: PrometheusServer) -> None:
    for title, expr in dashboard_queries(DASHBOARD, {"operation": "demo-mexico"}):
        if title == "$operation":  # the list to choose from
            continue
        operations = {s["metric"].get("operation") for s in prometheus.query(expr)}
        assert operations <= {"demo-mexico", None}, f"{title}: {operations}"


def test_another_job_selected_shows_none_of_this_exporters_series(
    prometheus: PrometheusServer,
) -> None:
    # Two exporters (prod, staging) may both have an operation "demo-bogota": the job and
    # instance variables keep them apart.
    for values in ({"job": "staging"}, {"instance": "127.0.0.1:1"}):
        for title, expr in dashboard_queries(DASHBOARD, values):
            if title[1:] in values:  # the list to choose this variable from
                continue
            found = prometheus.query(expr)
            assert {s["metric"].get("instance") for s in found} <= {None}, f"{title}: {found}"


def _readme_promql() -> list[tuple[str, str]]:
    """(comment, expression) of each example in the README's "Example PromQL" block."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = text.split("## Example PromQL", 1)[1].split("```promql\n", 1)[1].split("```", 1)[0]
    examples = []
    for chunk in block.strip().split("\n\n"):
        lines = chunk.splitlines()
        comment = " ".join(line for line in lines if line.startswith("#"))
        examples.append((comment, "\n".join(line for line in lines if not line.startswith("#"))))
    return examples


@pytest.mark.parametrize(("comment", "expr"), _readme_promql())
def test_every_readme_example_runs_on_the_demo(
    prometheus: PrometheusServer, comment: str, expr: str
) -> None:
    result = prometheus.query(expr)  # an error answer raises PrometheusAPIError
    if "expected_started" not in expr and "!=" not in expr:  # those show only trouble
        assert result, f"{comment}: no data from {expr}"
