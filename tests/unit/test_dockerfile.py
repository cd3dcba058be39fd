"""The Dockerfile and .dockerignore, checked by reading them (no Docker engine runs here).

Each check is against the code or the manifests, not a copied value: the HEALTHCHECK's path is
a route of the app and answers 200 on a started app, the CMD's module exists and runs, the ENV
settings are fields of Settings, the user is the one the Kubernetes manifests run as.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys

import pytest
import yaml

from serving.settings import Settings
from tests.deploy_support import (
    ENV_PREFIX,
    K8S,
    ROOT,
    SECRET_NAME,
    dockerignore_excludes,
    dockerignore_patterns,
    exec_form,
    get_routes,
    healthy_app,
    parse_dockerfile,
    setting_env_names,
)

DOCKERFILE = parse_dockerfile()
FINAL = DOCKERFILE.final
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|python3?-dev)\b")


def test_multi_stage_on_one_pinned_base():
    stage_names = {s.name for s in DOCKERFILE.stages}
    external = [s.base for s in DOCKERFILE.stages if s.base not in stage_names]
    assert len(DOCKERFILE.stages) >= 2, "build in one stage, run in another"
    for base in external:
        name, _, digest = base.partition("@")
        assert ":" in name, f"{base}: no tag"
        tag = name.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d+\.\d+\.\d+", tag), f"{base}: not a patch tag"
        assert DIGEST.search(base), f"{base}: not pinned by digest"
    # The venv's interpreter is a symlink into the base image: both stages need the same one.
    assert len(set(external)) == 1, external


def test_final_stage_runs_as_the_numeric_non_root_user_of_the_manifests():
    users = FINAL.all("USER")
    assert users, "the final stage has no USER: the container would run as root"
    uid, _, gid = users[-1].partition(":")
    # Kubernetes can verify runAsNonRoot only against a numeric user.
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]
    api = yaml.safe_load((K8S / "base" / "api-deployment.yaml").read_text())
    pod_security = api["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsUser"] == int(uid)
    assert not gid or pod_security["runAsGroup"] == int(gid)


def test_no_build_tools_in_the_final_stage():
    builder = next(s for s in DOCKERFILE.stages if s is not FINAL)
    assert any(BUILD_TOOLS.search(r) for r in builder.all("RUN")), "no compilers in builder?"
    for run in FINAL.all("RUN"):
        assert "apt-get install" not in run and not BUILD_TOOLS.search(run), run
    for copy in FINAL.all("COPY"):
        # Only the virtual environment comes from the builder; nothing from the context.
        assert copy.startswith("--from="), f"COPY {copy}: the runtime stage takes the venv only"


def test_hnswlib_is_built_for_any_cpu():
    # Without it hnswlib compiles with -march=native: SIGILL on a node with another CPU.
    builder = next(s for s in DOCKERFILE.stages if s is not FINAL)
    assert builder.env().get("HNSWLIB_NO_NATIVE") == "1"


def test_dependencies_come_from_the_pins_of_pyproject():
    builder_runs = " ".join(DOCKERFILE.stages[0].all("RUN"))
    assert "tomllib" in builder_runs and "['project']['dependencies']" in builder_runs
    assert "pip install --no-deps ." in builder_runs, "the project after its pinned deps"


def test_python_runtime_environment():
    env = FINAL.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    # numba caches compiled kernels; the image's tree is read-only in Kubernetes.
    assert env["NUMBA_CACHE_DIR"].startswith("/tmp/")


def test_env_settings_are_real_and_listen_on_every_interface(monkeypatch):
    env = FINAL.env()
    settings_env = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    assert set(settings_env) <= setting_env_names(), set(settings_env) - setting_env_names()
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in settings_env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.host == "0.0.0.0" and settings.consumer_metrics_host == "0.0.0.0"


def test_no_secret_in_env_or_args():
    names = list(DOCKERFILE.global_args)
    for stage in DOCKERFILE.stages:
        names += list(stage.env())
        names += [a.partition("=")[0] for a in stage.all("ARG")]
    assert not [n for n in names if SECRET_NAME.search(n)]


def test_cmd_runs_the_api_module():
    cmd = exec_form(FINAL.all("CMD")[-1])
    assert cmd[:2] == ["python", "-m"], cmd
    module = cmd[2]
    spec = importlib.util.find_spec(f"{module}.__main__") or importlib.util.find_spec(module)
    assert spec is not None, f"CMD runs {module}, which does not exist"
    help_text = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "--port" in help_text


def test_exposed_ports_are_the_api_and_consumer_ports():
    exposed = {int(p.split("/")[0]) for e in FINAL.all("EXPOSE") for p in e.split()}
    env = FINAL.env()
    api_port = int(env.get("NOWREC_PORT", Settings.model_fields["port"].default))
    metrics_port = int(
        env.get(
            "NOWREC_CONSUMER_METRICS_PORT", Settings.model_fields["consumer_metrics_port"].default
        )
    )
    # the API's metrics port, when the manifests move the metrics off the API's port
    settings_env = (K8S / "base" / "settings.env").read_text()
    moved = re.findall(r"^NOWREC_METRICS_PORT=(\d+)$", settings_env, re.M)
    api_metrics_ports = {int(p) for p in moved}
    assert exposed == {api_port, metrics_port} | api_metrics_ports
    api = yaml.safe_load((K8S / "base" / "api-deployment.yaml").read_text())
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert [p["containerPort"] for p in container["ports"]] == [api_port, *api_metrics_ports]


def _healthcheck_code() -> str:
    checks = FINAL.all("HEALTHCHECK")
    assert len(checks) == 1, "one HEALTHCHECK in the final stage"
    options, _, command = checks[0].partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = exec_form(command)
    assert argv[:2] == ["python", "-c"], "python's urllib: the slim image has no curl"
    ast.parse(argv[2])  # the check is valid Python
    return argv[2]


def test_healthcheck_targets_a_real_route_on_the_configured_port(tmp_path):
    code = _healthcheck_code()
    match = re.search(r"http://127\.0\.0\.1:%s(/[\w/]*)'.*get\('NOWREC_PORT', '(\d+)'\)", code)
    assert match, code
    path, default_port = match.groups()
    assert path in get_routes()
    assert int(default_port) == int(FINAL.env()["NOWREC_PORT"])
    with healthy_app(tmp_path) as client:
        assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("pyproject.toml", False),
        ("README.md", False),
        ("engine/bundle.py", False),
        ("serving/api/health.py", False),
        ("pipelines/cli.py", False),
        ("engine/__pycache__/bundle.cpython-313.pyc", True),
        ("artifacts/latest/manifest.json", True),
        ("artifacts/diginetica/20260101T000000Z-abcdef/vectors_input.npy", True),
        ("data/demo/events.parquet", True),
        (".venv/bin/python", True),
        (".git/HEAD", True),
        ("tests/unit/test_bundle.py", True),
        ("k8s/base/kustomization.yaml", True),
        (".env", True),
    ],
)
def test_dockerignore_keeps_data_and_models_out(path, excluded):
    assert dockerignore_excludes(dockerignore_patterns(), path) is excluded


def test_everything_the_dockerfile_copies_is_in_the_context():
    patterns = dockerignore_patterns()
    for stage in DOCKERFILE.stages:
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _dest = copy.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                assert not dockerignore_excludes(patterns, source), f"{source} is ignored"
    packaged = [p for d in ("engine", "pipelines", "serving") for p in (ROOT / d).rglob("*.py")]
    assert packaged
    for path in packaged:
        assert not dockerignore_excludes(patterns, path.relative_to(ROOT).as_posix()), path
