"""Rendering and checking the Kubernetes manifests in deploy/kubernetes offline.

`render` runs `kubectl kustomize`; `validate` holds each object to its schema strictly
(unknown fields are errors, as `kubectl apply --validate=strict` makes them): core kinds with
`kubernetes-validate`'s own schemas, Prometheus Operator kinds with the CRD schemas checked
in under deploy/kubernetes/crds. `security_problems` and `probe_problems` are the pod rules
every overlay must keep.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ["base", "overlays/native-sidecar", "overlays/gpu", "overlays/kube-prometheus-stack"]
K8S_VERSION = "1.32.0"  # the oldest release the manifests target (native sidecars on by default)
OPERATOR_GROUP = "monitoring.coreos.com"
CRDS = {
    "ServiceMonitor": KUBE / "crds" / "servicemonitors.monitoring.coreos.com.v1.yaml",
    "PrometheusRule": KUBE / "crds" / "prometheusrules.monitoring.coreos.com.v1.yaml",
}


def render(path: Path) -> list[dict]:
    """The objects `kubectl kustomize path` renders."""
    kubectl = shutil.which("kubectl")
    assert kubectl, (
        "kubectl (1.27+, with kustomize v5) is needed on PATH: README in deploy/kubernetes"
    )
    out = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def validate(obj: dict) -> None:
    """Raise when `obj` does not hold to its kind's schema (strictly)."""
    if obj["apiVersion"].split("/")[0] == OPERATOR_GROUP:
        jsonschema.validate(obj, strict_schema(yaml.safe_load(CRDS[obj["kind"]].read_text())))
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def strict_schema(schema: dict) -> dict:
    """A CRD's structural schema with unknown fields made errors: the API server prunes them
    silently (or rejects them under strict field validation); a typo should fail here."""
    schema = copy.deepcopy(schema)
    _close(schema)
    return schema


def _close(node: object) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    pattern = node.get("pattern")
    if isinstance(pattern, str) and pattern.startswith("^(?i)"):
        # Go's RE2 (the API server's) takes inline flags anywhere, Python's re only first.
        node["pattern"] = "(?i)^" + pattern[len("^(?i)") :]
    open_ = "additionalProperties" in node or node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and not open_:
        node["additionalProperties"] = False
    for value in node.values():
        _close(value)


def pod_spec(objs: list[dict]) -> dict:
    """The pod template of the one Deployment."""
    (dep,) = [o for o in objs if o["kind"] == "Deployment"]
    return dep["spec"]["template"]["spec"]


def containers(spec: dict) -> dict[str, dict]:
    """Every container of a pod spec (init containers too), by name."""
    return {c["name"]: c for c in spec.get("initContainers", []) + spec["containers"]}


def security_problems(spec: dict) -> list[str]:
    """What breaks the pod's security rules: non-root (uid 10001), no privilege escalation,
    read-only root filesystem, every capability dropped, RuntimeDefault seccomp."""
    pod = spec.get("securityContext", {})
    problems = []
    for name, c in containers(spec).items():
        sc = c.get("securityContext")
        if sc is None:
            problems.append(f"{name}: no securityContext")
            continue
        problems += [f"{name}: {p}" for p in _container_security(sc, pod)]
    return problems


def _container_security(sc: dict, pod: dict) -> list[str]:
    def field(key: str) -> object:
        return sc.get(key, pod.get(key))

    problems = []
    if field("runAsNonRoot") is not True or field("runAsUser") != 10001:
        problems.append("not runAsNonRoot as uid 10001")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append("root filesystem is writable")
    if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc["capabilities"].get("add"):
        problems.append("capabilities not dropped")
    if (field("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("seccompProfile is not RuntimeDefault")
    return problems


def probe_problems(spec: dict) -> list[str]:
    """The agent needs liveness on /health/live and readiness on /health; vLLM a startup
    probe (its model loads for minutes) and a liveness probe."""
    cs = containers(spec)
    problems = []
    agent, vllm = cs.get("agent", {}), cs.get("vllm", {})
    for kind, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health")):
        got = agent.get(kind, {}).get("httpGet", {}).get("path")
        if got != path:
            problems.append(f"agent: {kind} path is {got}, not {path}")
    for kind in ("startupProbe", "livenessProbe"):
        if kind not in vllm:
            problems.append(f"vllm: no {kind}")
    return problems
