"""The cluster_config role's Kubernetes templates: rendered with the role defaults by a real
ansible-playbook run, validated strictly against the pinned K3s's Kubernetes (1.33), and the
pod specs checked against the Pod Security Standard `restricted`."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from labtest import REPO, run_playbook

ROLE = REPO / "roles" / "cluster_config"
TEMPLATES = sorted((ROLE / "templates").glob("*.yaml.j2"))
K3S_VARS = REPO / "playbooks" / "vars" / "k3s.yml"


def k8s_version() -> str:
    """The Kubernetes version of the pinned K3s (v1.33.5+k3s1 -> 1.33.0)."""
    pinned = yaml.safe_load(K3S_VARS.read_text())["k3s_version"]
    major, minor = pinned.lstrip("v").split(".")[:2]
    return f"{major}.{minor}.0"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("manifests")
    out = tmp / "out"
    play = tmp / "render.yml"
    play.write_text(json.dumps([{
        "name": "Render the cluster_config templates with the role defaults",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml")],
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}", "lab_root": str(tmp)},
        "tasks": [
            {"name": "Make the output folder", "ansible.builtin.file": {"path": str(out), "state": "directory",
                                                                         "mode": "0755"}},
            *[{"name": f"Render {t.name}", "ansible.builtin.template": {
                "src": str(t), "dest": str(out / t.name.removesuffix(".j2")), "mode": "0644"}} for t in TEMPLATES],
        ],
    }]))
    done = run_playbook(str(play), "-i", "localhost,", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return {t.name: [d for d in yaml.safe_load_all((out / t.name.removesuffix(".j2")).read_text()) if d]
            for t in TEMPLATES}


def test_there_are_templates_to_check() -> None:
    assert {t.name for t in TEMPLATES} >= {"namespace.yaml.j2", "prepull-daemonset.yaml.j2"}
    assert k8s_version() == "1.33.0"


@pytest.mark.parametrize("template", [t.name for t in TEMPLATES])
def test_every_object_is_valid_kubernetes_1_33(rendered: dict[str, list[dict]], template: str) -> None:
    assert rendered[template], f"{template} rendered no object"
    for obj in rendered[template]:
        kubernetes_validate.validate(obj, k8s_version(), strict=True)


def test_validation_is_strict(rendered: dict[str, list[dict]]) -> None:
    """An unknown field is an error (so the test above can fail)."""
    ds = copy.deepcopy(rendered["prepull-daemonset.yaml.j2"][0])
    ds["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, k8s_version(), strict=True)


def test_namespace_enforces_restricted(rendered: dict[str, list[dict]]) -> None:
    (ns,) = rendered["namespace.yaml.j2"]
    assert ns["metadata"]["name"] == "lab"
    labels = ns["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.33"


def restricted_violations(pod_spec: dict) -> list[str]:
    """What the Pod Security Standard `restricted` would reject in a pod spec (the checks that apply here)."""
    problems = []
    pod_sc = pod_spec.get("securityContext", {})
    if pod_spec.get("hostNetwork") or pod_spec.get("hostPID") or pod_spec.get("hostIPC"):
        problems.append("host namespaces")
    for vol in pod_spec.get("volumes", []):
        if "hostPath" in vol:
            problems.append(f"hostPath volume {vol['name']}")
    for c in pod_spec.get("initContainers", []) + pod_spec.get("containers", []):
        sc = c.get("securityContext", {})
        name = c["name"]
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{name}: runs as UID 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is {seccomp!r}")
        if c.get("ports") and any(p.get("hostPort") for p in c["ports"]):
            problems.append(f"{name}: hostPort")
    return problems


def test_prepull_pods_pass_restricted(rendered: dict[str, list[dict]]) -> None:
    (ds,) = rendered["prepull-daemonset.yaml.j2"]
    spec = ds["spec"]["template"]["spec"]
    assert restricted_violations(spec) == []
    broken = copy.deepcopy(spec)
    broken["initContainers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    assert restricted_violations(broken) == ["pull-1: allowPrivilegeEscalation is not false"]


def test_prepull_pulls_every_workload_image_with_a_shell(rendered: dict[str, list[dict]]) -> None:
    (ds,) = rendered["prepull-daemonset.yaml.j2"]
    spec = ds["spec"]["template"]["spec"]
    images = [c["image"] for c in spec["initContainers"]]
    assert images[0] == "python:3.13-slim"
    assert len(images) == 2 and "ffmpeg" in images[1]
    assert all(c["command"][0] == "/bin/sh" for c in spec["initContainers"])
    # It runs on every node, the control plane included.
    assert {"operator": "Exists"} in spec["tolerations"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
