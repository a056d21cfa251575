"""The monitoring bundle (`monitoring/`, written by `mlops init` too), checked by the real tools.

promtool checks the config and the rules and runs the rules' unit tests; a real Prometheus
(the Debian package's binary) scrapes a real `mlops serve`, and every query of the Grafana
dashboard runs on it. Grafana itself has no package here: the dashboard is checked by a
round-trip through grafana-foundation-sdk's dashboard model and by running its PromQL.

Without `prometheus`/`promtool` on the PATH these tests fail (CI installs the Debian package:
.ci/run); `MLOPS_TEST_SERVICES=optional` turns that into a skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.monitor import GAUGES
from services import free_port, stop_group, unavailable, wait_until

from .serving import Server, feature_rows, make_project, register, sample

ROOT = Path(__file__).resolve().parents[2]

#: The gauges `mlops monitor` writes to its textfile (the server appends it to /metrics once a
#: monitor run has written it; a fresh server has none).
MONITOR_GAUGES = frozenset(GAUGES)
#: Series Prometheus makes itself for every target.
PROMETHEUS_SERIES = frozenset({"up"})


# --------------------------------------------------------------------------- the bundle


def bundle_files() -> dict[str, str]:
    """The monitoring files as `mlops init` writes them."""
    from mlops import scaffold

    files = scaffold.render(scaffold.EXAMPLE, pinned="mlops")
    return {name: files[name] for name in scaffold.MONITORING_FILES}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    for name, text in bundle_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root / "monitoring"


def dashboard() -> dict[str, Any]:
    return dict(json.loads(bundle_files()["monitoring/grafana/dashboard.json"]))


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every dashboard target."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def rules() -> list[dict[str, Any]]:
    tree = yaml.safe_load(bundle_files()["monitoring/rules/alerts.yml"])
    return [rule for group in tree["groups"] for rule in group["rules"]]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in rules() if "alert" in rule]


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
KEYWORDS |= {"unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for found in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = found.group(1), found.group(2)
        if not call and name.lower() not in KEYWORDS and not name.startswith("$"):
            names.add(name)
    return names


def test_metric_names_parses_promql() -> None:
    expr = (
        'sum by (route, le) (rate(a_bucket{job=~"$job", x="y{z}"}[5m])) / ignoring (label) '
        "group_left sum(b_total offset 1h) and on (job) c:rec > 2 * 86400 - time()"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c:rec"}


# --------------------------------------------------------------------------- the files


def test_repository_monitoring_is_the_init_template() -> None:
    """One source: this repository's monitoring/ is what `mlops init` writes, file for file."""
    files = bundle_files()
    on_disk = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "monitoring").rglob("*")
        if path.is_file()
    }
    assert on_disk == set(files)
    for name, text in files.items():
        assert (ROOT / name).read_text(encoding="utf-8") == text, f"{name} differs from template"


def test_mlops_init_writes_the_bundle(tmp_path: Path) -> None:
    from mlops import scaffold

    files = scaffold.render(scaffold.EXAMPLE, pinned="mlops")
    assert set(scaffold.MONITORING_FILES) <= set(files)
    # Copied as they are, not through Jinja: Prometheus' own templates survive.
    assert "{{ $labels.instance }}" in files["monitoring/rules/alerts.yml"]
    assert '"legendFormat": "{{route}} {{status}}"' in files["monitoring/grafana/dashboard.json"]


def test_mlops_init_project_has_a_working_bundle(tmp_path: Path) -> None:
    from mlops import scaffold

    result = scaffold.init_project(tmp_path / "p", source="builtin:penguins", target="species")
    assert set(scaffold.MONITORING_FILES) <= set(result.written)
    bundle = result.root / "monitoring"
    checked = promtool("check", "config", "prometheus.yml", cwd=bundle)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (bundle / "grafana" / "dashboard.json").read_text() == bundle_files()[
        "monitoring/grafana/dashboard.json"
    ]


def test_dashboard_json_is_generated_from_code() -> None:
    from mlops import monitoring_bundle

    committed = bundle_files()["monitoring/grafana/dashboard.json"]
    assert monitoring_bundle.dashboard_json() == committed, (
        "regenerate it: python -m mlops.monitoring_bundle --repo ."
    )


def test_dashboard_round_trips_through_the_sdk_model() -> None:
    """Grafana's schema as grafana-foundation-sdk models it reads the file back unchanged."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel

    register_default_plugins()
    board = dashboard()
    model = Dashboard.from_json(board)
    assert json.loads(JSONEncoder(sort_keys=True).encode(model)) == board
    assert model.uid == "mlops-serve" and model.templating.list_val is not None
    assert [v.name for v in model.templating.list_val] == ["datasource", "job"]

    panels = model.panels or []
    assert all(isinstance(p, Panel | RowPanel) for p in panels)
    ids = [p.id_val for p in panels]
    assert None not in ids and len(set(ids)) == len(ids)
    for panel in panels:
        assert panel.grid_pos is not None
        assert panel.grid_pos.x + panel.grid_pos.w <= 24
        if isinstance(panel, Panel):
            assert panel.type_val in ("timeseries", "stat")
            assert panel.datasource is not None and panel.datasource.uid == "${datasource}"
            assert panel.targets, panel.title
            refs = [t.ref_id for t in panel.targets]  # type: ignore[attr-defined]
            assert len(set(refs)) == len(refs)


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    exprs = "\n".join(expr for _, expr in panel_queries())
    assert "histogram_quantile(0.99, sum by (le) (rate(mlops_request_duration_seconds_bucket" in (
        exprs
    )
    assert "sum by (label) (rate(mlops_predictions_total" in exprs
    for name in ("mlops_requests_total", "mlops_rows_scored_total", "mlops_model_info"):
        assert name in exprs
    for name in ("mlops_monitor_drift_detected", "mlops_monitor_prediction_drift_detected"):
        assert name in exprs


# --------------------------------------------------------------------------- promtool


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} not found: apt-get install prometheus (Debian) for the bundle tests")
        raise AssertionError("unreachable")
    return found


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_promtool_checks_the_config_and_the_rules(bundle: Path) -> None:
    config = promtool("check", "config", "prometheus.yml", cwd=bundle)
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout + config.stderr
    checked = promtool("check", "rules", "rules/alerts.yml", cwd=bundle)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules())} rules found" in checked.stdout + checked.stderr


def test_promtool_rejects_a_broken_rule(bundle: Path, tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yml"
    text = bundle_files()["monitoring/rules/alerts.yml"]
    broken.write_text(text.replace("expr: mlops_model_ready == 0", "expr: mlops_model_ready =="))
    checked = promtool("check", "rules", str(broken), cwd=tmp_path)
    assert checked.returncode != 0


def test_promtool_unit_tests_pass(bundle: Path) -> None:
    tested = promtool("test", "rules", "rules/alerts_test.yml", cwd=bundle)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    tree = yaml.safe_load(bundle_files()["monitoring/rules/alerts_test.yml"])
    cases = [case for test in tree["tests"] for case in test.get("alert_rule_test", [])]
    for alert in alert_names():
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case.get("exp_alerts") for case in mine), f"{alert}: no firing case"
        assert any(not case.get("exp_alerts") for case in mine), f"{alert}: no quiet case"


@pytest.mark.parametrize("alert", alert_names())
def test_unit_tests_catch_an_alert_that_never_fires(
    alert: str, bundle: Path, tmp_path: Path
) -> None:
    """Mutation: with one alert's expression made to never fire, promtool's tests fail."""
    tree = yaml.safe_load(bundle_files()["monitoring/rules/alerts.yml"])
    for group in tree["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = "vector(1) == 0"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(tree))
    # Only the test groups about this alert (the 1-2 day ones are slow to evaluate).
    tests = yaml.safe_load((bundle / "rules" / "alerts_test.yml").read_text())
    tests["tests"] = [
        group
        for group in tests["tests"]
        if any(case["alertname"] == alert for case in group.get("alert_rule_test", []))
    ]
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests))
    tested = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0
    assert f"alertname: {alert}" in tested.stdout + tested.stderr


# --------------------------------------------------------------------------- a real Prometheus


class Prometheus:
    """`prometheus` on a free 127.0.0.1 port, temp storage, scraping the given target."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as reply:
            return dict(json.loads(reply.read()))

    def query(self, promql: str) -> dict[str, Any]:
        """/api/v1/query; the whole answer (`status`, `data.result`)."""
        try:
            return self.get("/api/v1/query", query=promql)
        except urllib.error.HTTPError as error:  # 400/422: the answer says why
            return dict(json.loads(error.read()))

    def value(self, promql: str) -> float | None:
        """The single value of an instant vector query (None when it is empty)."""
        answer = self.query(promql)
        assert answer["status"] == "success", (promql, answer)
        result = answer["data"]["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None


def eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def served(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = make_project(trained_template, tmp_path_factory.mktemp("monitoring") / "project")
    register(project)
    server = Server.start(project)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def prometheus(
    served: Server, bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """The bundle's prometheus.yml (and its rules), pointed at the test server, every second."""
    executable = binary("prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    shutil.copytree(bundle / "rules", folder / "rules")
    config = yaml.safe_load((bundle / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    [job] = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8080"]  # the serve default
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{served.port}"]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = folder / "prometheus.log"
    command = [
        executable,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=folder, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        instance = Prometheus(f"http://127.0.0.1:{port}")

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{instance.url}/-/ready", timeout=2) as reply:
                    return bool(reply.status == 200)
            except OSError:
                return False

        wait_until(ready, "prometheus", process, log, 60)
        eventually(
            lambda: instance.value('up{job="mlops"}') == 1.0, "the first scrape of mlops serve"
        )
        yield instance
    finally:
        stop_group(process)


def score(server: Server, rows: int, times: int) -> None:
    frame = feature_rows(Path(server.log).parent).head(rows)
    data = json.loads(frame.to_json(orient="split", index=False))
    body = json.dumps({"dataframe_split": {"columns": data["columns"], "data": data["data"]}})
    for _ in range(times):
        assert server.post(body).status == 200


def test_server_exposes_process_metrics(served: Server) -> None:
    text = served.metrics()
    for name in ("process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total"):
        found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert found and float(found.group(1)) > 0, name
    assert re.search(r"^python_info\{", text, re.MULTILINE)
    assert 'mlops_model_loads_total{result="failure"} 0.0' in text  # at 0: increase() sees a 1st


def test_prometheus_scrapes_the_requests_sent(served: Server, prometheus: Prometheus) -> None:
    invocations = 'sum(mlops_requests_total{job="mlops", route="/invocations", status="200"})'
    text = served.metrics()  # the server's own count (Prometheus may not have scraped it yet)
    before = sample(text, "mlops_requests_total", route="/invocations", status="200")
    rows_before = sample(text, "mlops_rows_scored_total")

    score(served, rows=3, times=5)
    eventually(lambda: prometheus.value(invocations) == before + 5, "5 requests scraped")
    score(served, rows=3, times=7)  # a second batch: the counter rises between scrapes
    eventually(lambda: prometheus.value(invocations) == before + 12, "12 requests scraped")

    assert prometheus.value('sum(mlops_rows_scored_total{job="mlops"})') == rows_before + 36
    rate = prometheus.value(
        'sum(rate(mlops_requests_total{job="mlops", route="/invocations"}[1m]))'
    )
    assert rate is not None and rate > 0
    increase = prometheus.value(
        'sum(increase(mlops_requests_total{job="mlops", route="/invocations"}[5m]))'
    )
    # Extrapolated to the window's edges (at most half a scrape back, one forward, over at
    # least one scrape of samples): not exact, but at least the second batch and at most 2.5x.
    assert increase is not None and 7 <= increase <= 12 * 2.5
    assert prometheus.value(
        'histogram_quantile(0.99, sum by (le) (rate(mlops_request_duration_seconds_bucket{route="/invocations"}[1m])))'
    )
    ready = prometheus.value('mlops_model_ready{job="mlops"}')
    assert ready == 1.0
    info = prometheus.query('mlops_model_info{job="mlops"} == 1')["data"]["result"]
    assert [series["metric"]["version"] for series in info] == ["1"]


def known_names(text: str) -> set[str]:
    """The metric names in a /metrics exposition (samples, not just families)."""
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_rules_and_dashboard_use_only_metrics_that_exist(
    served: Server, prometheus: Prometheus
) -> None:
    score(served, rows=3, times=1)  # the label series (mlops_predictions_total) exist
    exposed = known_names(served.metrics())
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    known = exposed | MONITOR_GAUGES | PROMETHEUS_SERIES | recorded
    assert "mlops_predictions_total" in exposed and "process_open_fds" in exposed
    used: dict[str, set[str]] = {}
    for rule in rules():
        used[rule.get("alert") or rule["record"]] = metric_names(rule["expr"])
    for title, expr in panel_queries():
        used.setdefault(f"panel {title}", set()).update(metric_names(expr))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":  # label_values(metric, label)
            used[f"variable {variable['name']}"] = set(
                re.findall(r"label_values\((\w+)", variable["query"])
            )
    assert all(used.values())
    unknown = {where: names - known for where, names in used.items() if names - known}
    assert not unknown, f"metrics not in /metrics: {unknown}"


def grafana_vars(expr: str) -> str:
    """What Grafana sends: its variables replaced."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace('job=~"$job"', 'job=~"mlops"')
        .replace("$__range", "1h")
    )


def test_every_dashboard_query_runs_on_prometheus(prometheus: Prometheus, served: Server) -> None:
    score(served, rows=3, times=2)
    for title, expr in panel_queries():
        query = grafana_vars(expr)
        assert "$" not in query, query
        answer = prometheus.query(query)
        assert answer["status"] == "success", (title, query, answer)
        names = metric_names(query)
        # Data wherever the server has it (not yet: capture, monitor, regressors, recorded).
        unfed = MONITOR_GAUGES | {"mlops_prediction_value_bucket", "mlops_capture_queue_rows"}
        if names and not names & unfed and not any(":" in name for name in names):
            assert answer["data"]["result"], f"{title}: no data for {query}"


def test_rules_evaluate_on_real_data_and_a_healthy_server_raises_nothing(
    prometheus: Prometheus, served: Server
) -> None:
    def evaluated() -> list[dict[str, Any]]:
        groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        found = [rule for group in groups for rule in group["rules"]]
        return (
            found if all(rule.get("lastEvaluation", "").startswith("2") for rule in found) else []
        )

    found = eventually(evaluated, "the rules evaluated")
    assert {rule["name"] for rule in found} == {
        rule.get("alert") or rule["record"] for rule in rules()
    }
    assert [rule for rule in found if rule["health"] != "ok"] == []
    alerts = prometheus.get("/api/v1/alerts")["data"]["alerts"]
    # Nothing pending or firing (latency aside: a loaded test machine may be slow).
    assert [a for a in alerts if a["labels"]["alertname"] != "MlopsHighLatencyP99"] == []
    # The recorded prediction shares sum to 1 over the labels.
    score(served, rows=6, times=2)
    shares = 'sum(mlops:prediction_share:ratio_1h{job="mlops"})'

    def summed() -> bool:  # NaN until the hour holds an increase (0/0)
        total = prometheus.value(shares)
        return total is not None and total == pytest.approx(1.0)

    eventually(summed, "the recorded prediction shares to sum to 1")


def test_several_workers_report_every_workers_process_metrics(trained_template: Path,
                                                             tmp_path: Path) -> None:  # fmt: skip
    project = make_project(trained_template, tmp_path / "project")
    register(project)
    server = Server.start(project, "--workers", "2")
    try:
        server.wait_ready()
        text = server.metrics()
        pids = set(re.findall(r'^process_resident_memory_bytes\{pid="(\d+)"\} \S+$', text, re.M))
        assert len(pids) == 2, text
        for name in ("process_open_fds", "process_cpu_seconds_total"):
            assert len(re.findall(rf"^{name}\{{pid=", text, re.M)) == 2
    finally:
        server.stop()
