"""labkit.nodes: Kubernetes quantities, Node objects, and one description per node from every source."""
from __future__ import annotations

import copy

import pytest

from labkit.nodes import cpu_cores, describe, from_k8s_node, memory_bytes, readings

# A Node object as `kubectl get node pi2 -o json` prints it on a K3s cluster of Pi 4s (trimmed).
PI2 = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "pi2",
        "uid": "7d1e0c8a-4f0e-4a55-9a51-2f7f0c6f3e11",
        "creationTimestamp": "2026-11-20T09:12:44Z",
        "labels": {"beta.kubernetes.io/arch": "arm64", "kubernetes.io/arch": "arm64",
                   "kubernetes.io/hostname": "pi2", "kubernetes.io/os": "linux", "role": "worker",
                   "node.kubernetes.io/instance-type": "k3s"},
        "annotations": {"k3s.io/node-args": "[\"agent\"]", "flannel.alpha.coreos.com/backend-type": "vxlan"},
    },
    "spec": {"podCIDR": "10.42.1.0/24", "podCIDRs": ["10.42.1.0/24"], "providerID": "k3s://pi2"},
    "status": {
        "addresses": [{"type": "InternalIP", "address": "192.168.1.52"}, {"type": "Hostname", "address": "pi2"}],
        "allocatable": {"cpu": "4", "ephemeral-storage": "57414325468", "memory": "3884096Ki", "pods": "110"},
        "capacity": {"cpu": "4", "ephemeral-storage": "59021448Ki", "memory": "3884096Ki", "pods": "110"},
        "conditions": [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"},
        ],
        "nodeInfo": {"architecture": "arm64", "bootID": "0b3c", "containerRuntimeVersion": "containerd://2.1.4-k3s1",
                     "kernelVersion": "6.6.51+rpt-rpi-v8", "kubeProxyVersion": "v1.33.5+k3s1",
                     "kubeletVersion": "v1.33.5+k3s1", "machineID": "e1f2", "operatingSystem": "linux",
                     "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": "e1f2"},
    },
}


def node_object(name: str, **changes) -> dict:
    obj = copy.deepcopy(PI2)
    obj["metadata"]["name"] = name
    obj["metadata"]["labels"]["kubernetes.io/hostname"] = name
    for key, value in changes.items():
        obj[key] = value
    return obj


def reading(hostname: str, **facts) -> dict:
    """lab_node_context's `node` as a Pi reports it."""
    return {"hostname": hostname, "model": "Raspberry Pi 4 Model B Rev 1.5", "cores": 4,
            "memory_bytes": 3977314304, "kernel": "6.6.51+rpt-rpi-v8", "os": "Debian GNU/Linux 12 (bookworm)",
            "arch": "aarch64", "governor": "ondemand", "temperature_c": 48.7, "throttled": None,
            "versions": {"python": "3.11.2"}, "k3s_version": "v1.33.5+k3s1", **facts}


# --- quantities ----------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity, expected", [
    ("3884096Ki", 3884096 * 1024),
    ("512Mi", 512 * 2**20),
    ("4Gi", 4 * 2**30),
    ("1.5Gi", 3 * 2**29),
    ("4000000000", 4_000_000_000),
    ("4G", 4_000_000_000),
    ("128974848k", 128_974_848_000),
    ("129e6", 129_000_000),
    (" 16Mi ", 16 * 2**20),
    (4096, 4096),
    ("1500m", 2),          # a fraction of a byte rounds up, as Quantity.Value() does
])
def test_memory_quantities(quantity, expected) -> None:
    assert memory_bytes(quantity) == expected


@pytest.mark.parametrize("garbage", ["", None, "Ki", "4Gb", "4g", "4gi", "four", "-1Gi", "1.2.3Mi", "nan", True, {}])
def test_memory_garbage_is_none(garbage) -> None:
    assert memory_bytes(garbage) is None


def test_cpu_quantities() -> None:
    assert cpu_cores("4") == 4.0
    assert cpu_cores("3500m") == 3.5
    assert cpu_cores("100m") == pytest.approx(0.1)
    assert cpu_cores(2) == 2.0
    assert cpu_cores("0.5") == 0.5
    for garbage in ("", None, "m", "4 cores", "-2", "inf", "nan", False):
        assert cpu_cores(garbage) is None, garbage


# --- Node objects --------------------------------------------------------------------------------


def test_from_k8s_node_on_a_real_node_object() -> None:
    node = from_k8s_node(PI2)
    assert node == {
        "name": "pi2", "hostname": "pi2", "cores": 4, "allocatable_cpu": "4",
        "memory": "3884096Ki", "memory_bytes": 3977314304, "arch": "arm64", "kernel": "6.6.51+rpt-rpi-v8",
        "os": "Debian GNU/Linux 12 (bookworm)", "k3s_version": "v1.33.5+k3s1",
        "container_runtime": "containerd://2.1.4-k3s1", "schedulable": True, "ready": True,
        "labels": PI2["metadata"]["labels"],
    }
    # The input is not modified (it is the registered k8s_info result).
    assert PI2["status"]["capacity"]["memory"] == "3884096Ki"


def test_a_cordoned_not_ready_node() -> None:
    obj = node_object("pi3", spec={"unschedulable": True, "taints": [
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]})
    obj["status"]["conditions"][-1]["status"] = "Unknown"
    node = from_k8s_node(obj)
    assert node["schedulable"] is False and node["ready"] is False


def test_from_k8s_node_invents_nothing() -> None:
    # A node object with almost nothing in it (a node still registering).
    node = from_k8s_node({"metadata": {"name": "pi9"}})
    assert node == {"name": "pi9", "hostname": "pi9", "schedulable": True, "labels": {}}
    # No Ready condition is "unknown", not "not ready"; a garbled memory quantity is left out.
    obj = node_object("pi8")
    obj["status"]["conditions"] = []
    obj["status"]["capacity"]["memory"] = "lots"
    node = from_k8s_node(obj)
    assert "ready" not in node and "memory_bytes" not in node and node["memory"] == "lots"
    # The board model, governor, temperature and throttle flags are only the node's own to say.
    assert not {"model", "governor", "temperature_c", "throttled"} & set(from_k8s_node(PI2))


# --- readings ------------------------------------------------------------------------------------


def test_readings_keep_each_answer_and_skip_unreachable_and_failed_hosts() -> None:
    loop = {"changed": False, "msg": "All items completed", "results": [
        {"node": reading("pi1"), "item": "pi1", "ansible_loop_var": "item", "changed": False},
        {"unreachable": True, "msg": "Failed to connect to the host via ssh", "item": "pi2", "changed": False},
        {"failed": False, "msg": "vcgencmd crashed", "item": "pi3", "rc": 1},
        {"skipped": True, "item": "pi4"},
    ]}
    found = readings(loop["results"])
    assert [(r["name"], r["inventory_name"]) for r in found] == [("pi1", "pi1")]
    # The loop's whole register gives the same; so do plain results of single tasks.
    assert readings(loop) == found
    assert readings([{"node": reading("ctl")}]) == [dict(reading("ctl"), name="ctl")]
    assert readings([]) == [] and readings(None) == []


# --- describe ------------------------------------------------------------------------------------


def test_describe_matches_by_inventory_name_and_by_host_name() -> None:
    cluster = [node_object("pi1"), node_object("pi2"), node_object("pi3")]
    before = [
        # Inventory name pi1 (the host calls itself raspberrypi): matched by the inventory name.
        {"node": reading("raspberrypi", temperature_c=45.0), "item": "pi1"},
        # Inventory name 192.168.1.52: matched by the host name it reported.
        {"node": reading("pi2", temperature_c=51.5, cores=8, memory_bytes=1), "item": "192.168.1.52"},
        {"unreachable": True, "item": "pi3"},
        # A host that is not one of the cluster's nodes (no worker label): not described.
        {"node": reading("nas"), "item": "nas"},
    ]
    after = [{"node": reading("raspberrypi", temperature_c=63.0), "item": "pi1"},
             {"node": reading("pi2", temperature_c=70.5), "item": "192.168.1.52"}]
    nodes = describe(readings(before), readings(after), cluster)
    assert [n["name"] for n in nodes] == ["pi1", "pi2", "pi3"]
    pi1, pi2, pi3 = nodes
    assert pi1["temperature_c"] == 45.0 and pi1["model"].startswith("Raspberry Pi 4")
    assert pi1["after"]["temperature_c"] == 63.0
    assert pi2["temperature_c"] == 51.5 and pi2["after"]["temperature_c"] == 70.5
    # Where both speak, the API's facts win (cores: what Kubernetes schedules on).
    assert pi2["cores"] == 4 and pi2["memory_bytes"] == 3977314304
    assert pi2["governor"] == "ondemand" and pi2["k3s_version"] == "v1.33.5+k3s1"
    # The unreachable node: the API's facts only, nothing invented for the rest.
    assert pi3["cores"] == 4 and "after" not in pi3
    assert not {"model", "governor", "temperature_c", "throttled", "versions"} & set(pi3)


def test_a_fact_the_api_lacks_is_kept_from_the_reading() -> None:
    bare = node_object("pi1")
    del bare["status"]["nodeInfo"]
    del bare["status"]["capacity"]
    (node,) = describe(readings([{"node": reading("pi1")}]), (), [bare])
    assert node["kernel"] == "6.6.51+rpt-rpi-v8" and node["cores"] == 4 and node["arch"] == "aarch64"
    assert "after" not in node


def test_describe_without_a_cluster_is_the_nodes_that_were_read() -> None:
    nodes = describe(readings([{"node": reading("ctl", temperature_c=40.0)}]),
                     readings([{"node": reading("ctl", temperature_c=55.0)}]))
    assert len(nodes) == 1
    assert nodes[0]["name"] == "ctl" and nodes[0]["temperature_c"] == 40.0
    assert nodes[0]["after"]["temperature_c"] == 55.0
    assert describe() == []
    # Read before only: no after block is made up.
    assert "after" not in describe(readings([{"node": reading("ctl")}]))[0]


def test_the_schedulable_cores_filter() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
    from labkit_nodes import lab_schedulable_cores

    cordoned = node_object("pi3", spec={"unschedulable": True})
    halved = node_object("pi4")
    halved["status"]["capacity"]["cpu"] = "2"
    assert lab_schedulable_cores([PI2, cordoned, halved]) == 6
    assert lab_schedulable_cores([{"metadata": {"name": "registering"}}]) == 0
    assert lab_schedulable_cores([]) == 0 and lab_schedulable_cores(None) == 0
