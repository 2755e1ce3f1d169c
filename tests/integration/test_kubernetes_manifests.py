"""deploy/kubernetes, validated offline: every overlay renders with `kubectl kustomize`,
every object holds strictly to its schema, every container keeps the security rules, the
probes hit what the agent serves, and the ConfigMap holds a config the agent accepts."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import aiohttp
import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.kube_manifests import (
    KUBE,
    OVERLAYS,
    containers,
    pod_spec,
    probe_problems,
    render,
    security_problems,
    validate,
)

pytestmark = [pytest.mark.integration, pytest.mark.kubernetes]

_RENDERED: dict[str, list[dict]] = {}


def rendered(overlay: str) -> list[dict]:
    """Each overlay rendered once per session (kubectl takes about a second)."""
    if overlay not in _RENDERED:
        _RENDERED[overlay] = render(KUBE / overlay)
    return copy.deepcopy(_RENDERED[overlay])


def one(objs: list[dict], kind: str) -> dict:
    (obj,) = [o for o in objs if o["kind"] == kind]
    return obj


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_every_overlay_validates_strictly(overlay):
    objs = rendered(overlay)
    kinds = sorted({o["kind"] for o in objs})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "PrometheusRule",
        "Service",
        "ServiceMonitor",
    ]
    for obj in objs:
        validate(obj)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_as_non_root_read_only_without_capabilities(overlay):
    spec = pod_spec(rendered(overlay))
    assert set(containers(spec)) == {"agent", "vllm"}
    assert security_problems(spec) == []
    assert probe_problems(spec) == []


def test_a_misspelled_field_in_a_core_kind_is_rejected():
    dep = one(rendered("base"), "Deployment")
    dep["spec"]["template"]["spec"]["containers"][1]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolicyy"):
        validate(dep)


def test_a_misspelled_field_in_a_servicemonitor_is_rejected():
    sm = one(rendered("base"), "ServiceMonitor")
    sm["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate(sm)


def test_a_misspelled_field_in_a_prometheusrule_is_rejected():
    rule = one(rendered("base"), "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["exp"] = "up"
    with pytest.raises(jsonschema.ValidationError, match="exp"):
        validate(rule)


def test_a_container_without_a_security_context_breaks_the_rules():
    spec = pod_spec(rendered("base"))
    del spec["containers"][0]["securityContext"]
    spec["containers"][1]["securityContext"]["readOnlyRootFilesystem"] = False
    assert security_problems(spec) == [
        "vllm: no securityContext",
        "agent: root filesystem is writable",
    ]


def test_an_overlay_that_drops_the_agents_probes_breaks_the_rules(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                # kustomize takes a base by relative path only
                "resources": [os.path.relpath(KUBE / "base", tmp_path)],
                "patches": [
                    {
                        "target": {"kind": "Deployment", "name": "inferwatch"},
                        "patch": "- op: remove\n  path: /spec/template/spec/containers/1/"
                        "readinessProbe\n- op: remove\n  path: /spec/template/spec/"
                        "containers/1/livenessProbe\n",
                    }
                ],
            }
        )
    )
    spec = pod_spec(render(tmp_path))
    assert probe_problems(spec) == [
        "agent: livenessProbe path is None, not /health/live",
        "agent: readinessProbe path is None, not /health",
    ]


def test_only_the_agent_is_reachable_vllm_binds_loopback():
    objs = rendered("base")
    cs = containers(pod_spec(objs))
    assert one(objs, "Service")["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert cs["agent"]["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert "ports" not in cs["vllm"]
    assert {"--host=127.0.0.1", "--port=8001"} <= set(cs["vllm"]["args"])
    assert "--upstream=http://127.0.0.1:8001" in cs["agent"]["args"]
    assert cs["agent"]["image"] == "localhost/inferwatch:dev"


def test_native_sidecar_runs_the_agent_as_an_init_container_that_restarts():
    spec = pod_spec(rendered("overlays/native-sidecar"))
    assert [c["name"] for c in spec["initContainers"]] == ["agent"]
    assert spec["initContainers"][0]["restartPolicy"] == "Always"
    assert [c["name"] for c in spec["containers"]] == ["vllm"]


def test_gpu_overlay_gives_vllm_the_gpu_and_the_agent_nvml():
    cs = containers(pod_spec(rendered("overlays/gpu")))
    assert cs["vllm"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in cs["agent"].get("resources", {}).get("limits", {})
    env = {e["name"]: e["value"] for e in cs["agent"]["env"]}
    assert env == {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "utility"}


def test_kube_prometheus_stack_overlay_labels_what_its_prometheus_selects():
    objs = rendered("overlays/kube-prometheus-stack")
    labelled = {o["kind"] for o in objs if o["metadata"]["labels"].get("release")}
    assert labelled == {"ServiceMonitor", "PrometheusRule"}
    assert "release" not in one(rendered("base"), "ServiceMonitor")["metadata"]["labels"]


def _config_show(path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "agent.cli", "config", "show", "--config", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_the_configmap_holds_a_config_the_agent_accepts(tmp_path):
    objs = rendered("base")
    (cm,) = [o for o in objs if o["metadata"]["name"].startswith("inferwatch-config")]
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    shown = _config_show(path)
    assert shown.returncode == 0, shown.stderr
    effective = yaml.safe_load(shown.stdout)
    assert effective["collectors"]["vllm_port"] == 8001
    assert effective["cost"]["prices"]["H100"]["per_hour"] == 2.5
    path.write_text(cm["data"]["config.yaml"].replace("vllm_port", "vllm_prot"))
    bad = _config_show(path)
    assert bad.returncode != 0 and "vllm_prot" in bad.stderr


def test_the_keys_secret_holds_no_values_in_the_repo():
    """Keys come from a Secret made at install time (README.md): none is rendered."""
    for overlay in OVERLAYS:
        assert [o for o in rendered(overlay) if o["kind"] == "Secret"] == []
    example = (KUBE / "base" / "keys.env.example").read_text()
    pairs = [line.split("=", 1) for line in example.splitlines() if "=" in line]
    assert pairs and all(v.strip() == "" for k, v in pairs if not k.startswith("#"))


async def test_the_agents_probe_paths_answer_test_upstream(fake_upstream, start_agent):
    agent = await start_agent(fake_upstream.url)
    probes = containers(pod_spec(rendered("base")))["agent"]
    async with aiohttp.ClientSession() as http:
        for kind in ("livenessProbe", "readinessProbe"):
            async with http.get(agent.url + probes[kind]["httpGet"]["path"]) as resp:
                assert resp.status == 200, kind
        async with http.get(agent.url + "/healthz") as resp:  # a path it does not serve
            assert resp.status == 404
