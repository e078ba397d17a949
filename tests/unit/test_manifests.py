"""The cluster_config role's Kubernetes templates: rendered with the role defaults by a real
ansible-playbook run, validated strictly against the pinned K3s's Kubernetes (1.33), and the
pod specs checked against the Pod Security Standard `restricted`."""
from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from k8s_manifests import pinned_kubernetes_version as k8s_version
from k8s_manifests import render_templates, restricted_violations
from labtest import REPO

ROLE = REPO / "roles" / "cluster_config"
TEMPLATES = sorted((ROLE / "templates").glob("*.yaml.j2"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("manifests")
    # The node names as tasks/main.yml works them out; pi-2 twice, as when two inventory
    # hosts name the same node.
    nodes = [{"name": "pi-2"}, {"name": "pi-1"}, {"name": "pi-2"}]
    return render_templates(tmp, {t.name: t for t in TEMPLATES}, [ROLE / "defaults" / "main.yml"],
                            {"lab_root": str(tmp), "cluster_config_nodes": nodes})


def test_there_are_templates_to_check() -> None:
    assert {t.name for t in TEMPLATES} >= {"namespace.yaml.j2", "prepull-daemonset.yaml.j2", "node-storage.yaml.j2"}
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
    # Only images a playbook runs: the π worker's and the transcode's.
    assert images == ["python:3.13-slim", "lscr.io/linuxserver/ffmpeg:latest"]
    assert all(c["command"][0] == "/bin/sh" for c in spec["initContainers"])
    # It runs on every node, the control plane included.
    assert {"operator": "Exists"} in spec["tolerations"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()


def test_the_node_storage_is_one_local_volume_on_every_node_and_its_claim(rendered: dict[str, list[dict]]) -> None:
    volume, claim = rendered["node-storage.yaml.j2"]
    assert (volume["kind"], claim["kind"]) == ("PersistentVolume", "PersistentVolumeClaim")
    spec = volume["spec"]
    assert spec["local"] == {"path": "/var/lib/pi-cluster-lab/storage"}
    # Every node once, in a stable order (a rerun must render the same list).
    (term,) = spec["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["pi-1", "pi-2"]}]
    # Bound to each other by name and by a class no provisioner serves (K3s's local-path
    # must never take the claim); many pods on many nodes at once; the files outlive the objects.
    assert claim["spec"]["volumeName"] == volume["metadata"]["name"] == "lab-node-storage-lab"
    assert claim["spec"]["storageClassName"] == spec["storageClassName"] == "lab-node-storage"
    assert spec["storageClassName"] != "local-path"  # K3s's default class
    assert claim["spec"]["accessModes"] == spec["accessModes"] == ["ReadWriteMany"]
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert claim["spec"]["resources"]["requests"]["storage"] == spec["capacity"]["storage"] == "10Gi"
    assert claim["metadata"]["namespace"] == "lab"


def test_no_template_gives_a_pod_a_host_path() -> None:
    templates = [path for path in (REPO / "roles").rglob("*.j2")]
    assert templates
    assert [str(path) for path in templates if "hostPath" in path.read_text()] == []
