"""The k3s backend's manifests: rendered by a real ansible-playbook run, validated against Kubernetes 1.33.

The pinned K3s is v1.33.x, so every object must pass kubernetes-validate's
strict schema of 1.33 (unknown fields are errors), and the worker pods must
meet the Pod Security Standard `restricted` that the workload namespace enforces.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest

from k8s_manifests import PI_JOB, pi_job_settings, pinned_kubernetes_version, render_templates, restricted_violations
from labtest import REPO

K8S_VERSION = pinned_kubernetes_version()
WORKER = REPO / "plugins" / "workers" / "pi_worker.py"
TEMPLATES = REPO / "roles" / "pi" / "templates"
DEFAULTS = REPO / "roles" / "pi" / "defaults" / "main.yml"
RUN = {"run_id": "pi-20261125-031500-strong-n3-r2", "workers": 3, "work": 20_000_000, "seed": 20251132,
       "label": "[4/13] strong N=3 rep 2/3", "mode": "strong", "repetition": 2}


def render(tmp_path: Path, extra_vars: dict | None = None, run: dict | None = None) -> dict[str, list[dict]]:
    """Render the ConfigMap (its template) and the Job (the role's lab_pi_job call) with the role
    defaults in a real playbook run; parse every object."""
    templates = {"configmap": TEMPLATES / "pi-worker-configmap.yaml.j2", "job": PI_JOB}
    return render_templates(tmp_path, templates, [DEFAULTS],
                            {"lab_root": str(REPO), "pi_k3s_run": run or RUN, "pi_k3s_kernel": "python",
                             "pi_k3s_job": pi_job_settings()},
                            extra_vars)


@pytest.fixture(scope="module")
def default_render(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    return render(tmp_path_factory.mktemp("manifests"))


def validate(obj: dict) -> None:
    # Raises kubernetes_validate.ValidationError naming the field on any schema violation.
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_every_object_is_valid_kubernetes_1_33(default_render: dict[str, list[dict]]) -> None:
    assert [len(default_render["configmap"]), len(default_render["job"])] == [1, 1]
    for docs in default_render.values():
        for obj in docs:
            validate(obj)


def test_the_validator_does_reject_a_broken_job(default_render: dict[str, list[dict]]) -> None:
    # Guard against a validator that passes anything: an unknown field and a wrong type fail.
    job = json.loads(json.dumps(default_render["job"][0]))
    job["spec"]["completionsMode"] = "Indexed"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job)
    job = json.loads(json.dumps(default_render["job"][0]))
    job["spec"]["parallelism"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job)


def test_the_configmap_carries_the_worker_byte_for_byte(default_render: dict[str, list[dict]]) -> None:
    configmap = default_render["configmap"][0]
    assert configmap["kind"] == "ConfigMap" and configmap["metadata"]["name"] == "pi-worker"
    assert configmap["metadata"]["namespace"] == "lab"
    assert configmap["data"]["pi_worker.py"].encode("utf-8") == WORKER.read_bytes()


def test_the_job_is_an_indexed_job_of_the_run(default_render: dict[str, list[dict]]) -> None:
    job = default_render["job"][0]
    spec = job["spec"]
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"] == RUN["run_id"]
    assert job["metadata"]["namespace"] == "lab"
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 3
    assert spec["backoffLimit"] == 0
    assert spec["ttlSecondsAfterFinished"] > 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["name"] == "worker"
    assert container["image"] == "python:3.13-slim"
    assert container["command"] == [
        "python3", "/opt/lab/pi_worker.py", "--count", "3", "--samples", "20000000", "--seed", "20251132",
        "--run-id", RUN["run_id"], "--kernel", "python"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # The index comes from Kubernetes, never from the command line.
    assert "--index" not in container["command"] and "JOB_COMPLETION_INDEX" not in env
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/opt/lab"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == "pi-worker"
    assert volume["configMap"]["defaultMode"] == 0o444
    assert container["resources"]["requests"]["cpu"] == "900m"
    assert "cpu" not in container["resources"].get("limits", {})
    # Labels on the Job and on its pods; the spread constraint selects this run's pods.
    for labels in (job["metadata"]["labels"], spec["template"]["metadata"]["labels"]):
        assert labels["lab/run_id"] == RUN["run_id"]
        assert labels["app.kubernetes.io/name"] == "pi-worker"
        assert labels["app.kubernetes.io/part-of"] == "pi-cluster-lab"
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["maxSkew"] == 1
    assert spread["labelSelector"]["matchLabels"] == {"lab/run_id": RUN["run_id"]}
    assert "nodeSelector" not in pod


def test_the_pods_meet_the_restricted_pod_security_standard(default_render: dict[str, list[dict]]) -> None:
    pod = default_render["job"][0]["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int) and pod["securityContext"]["runAsUser"] > 0
    assert isinstance(pod["securityContext"]["runAsGroup"], int) and pod["securityContext"]["runAsGroup"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    # restricted allows only these volume types.
    allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
    for volume in pod["volumes"]:
        assert set(volume) - {"name"} <= allowed
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert not context["capabilities"].get("add")
        assert context["readOnlyRootFilesystem"] is True
        assert context.get("privileged") is not True
        assert context.get("runAsUser", 1) != 0
        assert not container.get("ports")


def test_options_node_selector_limits_other_image_and_an_odd_run_id(tmp_path: Path) -> None:
    odd = dict(RUN, run_id="Pi_2026 11 25/Strong-N3-R2" + "-x" * 40)
    docs = render(tmp_path, extra_vars={
        "pi_k3s_node_selector": {"role": "worker"},
        "pi_k3s_cpu_limit": "1",
        "pi_k3s_memory_limit": "",
        "pi_k3s_image": "docker.io/library/python:3.12-slim",
        "pi_k3s_namespace": "bench",
        "pi_k3s_run_as_user": 1000,
        "pi_worker_timeout": 120,
    }, run=odd)
    for obj in docs["configmap"] + docs["job"]:
        validate(obj)
    job = docs["job"][0]
    name = job["metadata"]["name"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 52
    assert job["metadata"]["namespace"] == docs["configmap"][0]["metadata"]["namespace"] == "bench"
    assert job["spec"]["activeDeadlineSeconds"] == 120
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"role": "worker"}
    assert pod["securityContext"]["runAsUser"] == 1000
    (container,) = pod["containers"]
    assert container["image"] == "docker.io/library/python:3.12-slim"
    assert container["resources"]["limits"] == {"cpu": "1"}
    # The run id itself is passed on unchanged; only the label is made label-safe.
    assert container["command"][container["command"].index("--run-id") + 1] == odd["run_id"]
    label = job["metadata"]["labels"]["lab/run_id"]
    assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", label) and len(label) <= 63
