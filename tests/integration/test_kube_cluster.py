"""site.yml's cluster plays and nodes.yml against the real local Kubernetes (./lab kube).

cluster_config (labels, untaint, the restricted namespace, the pre-pull DaemonSet)
meets a real API server, PodSecurity admission and kubelet; the kubeconfig role
writes a kubeconfig from the one the cluster made, and a real client lists the
nodes through it; nodes.yml cordons, drains (a running pod evicted), uncordons and
deletes a real node, which its kubelet registers again when restarted.
"""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetest import RealKube, pods, wait_until
from labkube.cluster import KubeError, LocalKube
from labtest import REPO, run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.kube]

RESTRICTED = {"runAsNonRoot": True, "runAsUser": 65535, "allowPrivilegeEscalation": False,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def node(real: RealKube, name: str) -> dict[str, Any]:
    return dict(real.api(f"/api/v1/nodes/{name}"))


def ready(real: RealKube, name: str) -> bool:
    try:
        conditions = node(real, name)["status"].get("conditions", [])
    except urllib.error.HTTPError:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def cluster_config(real: RealKube, **extra: Any) -> Any:
    done = run_playbook("playbooks/cluster_config.yml", "-i", str(real.inventory), extra_vars=extra, timeout=600)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    return done


def test_up_first_clears_what_a_killed_cluster_left(real_kube: RealKube) -> None:
    if not real_kube.up_output:
        pytest.skip("the cluster was started outside the tests (LAB_KUBE_WORKDIR)")
    said = real_kube.up_output
    assert "removed network namespace lab-sbx-lkube-0" in said, said[-3000:]
    assert "removed cgroup lab-kube-lab-kube-2 and the 1 process(es) in it" in said, said[-3000:]
    assert "removed bridge labkube2" in said, said[-3000:]
    for planted in real_kube.leftovers:
        assert planted.wait(timeout=10) == -9, planted.args
    # The cluster it then started uses those names: the second node is Ready in its own namespace.
    assert "lab-kube-2" not in real_kube.nodes or ready(real_kube, "lab-kube-2")


def test_cluster_config_labels_untaints_and_makes_a_restricted_namespace(real_kube: RealKube) -> None:
    first = real_kube.nodes[0]
    # Upstream Kubernetes does not taint a node it did not make a control plane: taint it as
    # K3s and kubeadm taint their servers, so that untainting is really tested.
    patch = {"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}
    real_kube.api(f"/api/v1/nodes/{first}", method="PATCH", body=patch)
    done = cluster_config(real_kube, cluster_config_untaint_servers=True,
                          cluster_config_server_labels={"lab.pi-cluster/role": "server", "disk": "sd"})
    described = node(real_kube, first)
    assert described["metadata"]["labels"]["lab.pi-cluster/role"] == "server"
    assert described["metadata"]["labels"]["disk"] == "sd"
    assert not described["spec"].get("taints"), described["spec"]
    namespace = real_kube.api("/api/v1/namespaces/lab")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # The pre-pull DaemonSet ran on every node, with the local images.
    daemonset = real_kube.api("/apis/apps/v1/namespaces/lab/daemonsets/lab-image-prepull")
    assert daemonset["status"]["numberReady"] == len(real_kube.nodes)
    assert "PLAY RECAP" in done.stdout


def test_rerunning_cluster_config_changes_nothing(real_kube: RealKube) -> None:
    cluster_config(real_kube)
    again = cluster_config(real_kube)
    recap = [line for line in again.stdout.splitlines() if line.startswith("localhost")]
    assert recap and "changed=0" in recap[-1], again.stdout[-3000:]


def test_the_real_admission_controller_refuses_a_privileged_pod_in_the_lab_namespace(real_kube: RealKube) -> None:
    cluster_config(real_kube)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged", "namespace": "lab"},
           "spec": {"containers": [{"name": "c", "image": real_kube.images["pause"], "imagePullPolicy": "Never",
                                    "securityContext": {"privileged": True}}]}}
    with pytest.raises(urllib.error.HTTPError) as refused:
        real_kube.api("/api/v1/namespaces/lab/pods", method="POST", body=pod)
    message = json.loads(refused.value.read().decode())["message"]
    assert refused.value.code == 403
    assert 'violates PodSecurity "restricted:v1.33": privileged' in message, message
    # The same pod passes where nothing is enforced: the refusal is the namespace's label.
    pod["metadata"]["namespace"] = "default"
    real_kube.api("/api/v1/namespaces/default/pods", method="POST", body=pod)
    real_kube.api("/api/v1/namespaces/default/pods/privileged", method="DELETE", body={"gracePeriodSeconds": 0})


def test_the_kubeconfig_role_writes_a_kubeconfig_a_real_client_uses(real_kube: RealKube, tmp_path: Path) -> None:
    from kubernetes import client, config

    # The role reads what K3s writes on its server (/etc/rancher/k3s/k3s.yaml): here the
    # cluster's admin kubeconfig, on this machine, with its server rewritten to 127.0.0.1.
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {
        "controller": {"hosts": {"localhost": {"ansible_connection": "local",
                                               "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}},
        "server": {"hosts": {"kube-server": {"ansible_connection": "local", "ansible_become": False,
                                             "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}}}))
    dest = tmp_path / "artifacts" / "kubeconfig.yaml"
    extra = {"kubeconfig_source": str(real_kube.kubeconfig), "kubeconfig_server": "127.0.0.1",
             "kubeconfig_dest": str(dest), "cluster_name": "kube-role-test"}
    done = run_playbook("playbooks/kubeconfig.yml", "-i", str(inventory), extra_vars=extra, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "client-key-data" not in done.stdout
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    written = yaml.safe_load(dest.read_text())
    assert written["current-context"] == "kube-role-test"
    assert written["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(dest)))
    assert sorted(n.metadata.name for n in api.list_node().items) == sorted(real_kube.nodes)


def nodes_action(real: RealKube, name: str, action: str) -> Any:
    done = run_playbook("nodes.yml", "-i", str(real.inventory), extra_vars={"node": name, "node_action": action},
                        timeout=600)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    return done


def test_nodes_yml_cordons_drains_uncordons_and_deletes_a_real_node(real_kube: RealKube) -> None:
    cluster_config(real_kube)
    name = real_kube.nodes[-1]
    others = [n for n in real_kube.nodes if n != name]
    # The pod prefers the node to drain (and only it, on a one-node cluster): drained, it must go
    # elsewhere when there is an elsewhere, and wait when there is none.
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {
        "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [name]}]}}]}}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "drain-me", "namespace": "lab"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "drain-me"}},
                 "template": {"metadata": {"labels": {"app": "drain-me"}}, "spec": {
                     "affinity": affinity, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": real_kube.images["pause"], "imagePullPolicy": "Never",
                                     "securityContext": RESTRICTED}]}}}}
    real_kube.api("/apis/apps/v1/namespaces/lab/deployments", method="POST", body=deployment)
    try:
        def running() -> dict[str, str]:
            return {p["metadata"]["name"]: p["spec"].get("nodeName", "")
                    for p in pods(real_kube, "lab", "app=drain-me")
                    if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")}
        wait_until("the pod running", running)
        ((first_pod, first_node),) = running().items()
        assert first_node == name

        nodes_action(real_kube, name, "cordon")
        assert node(real_kube, name)["spec"].get("unschedulable") is True
        nodes_action(real_kube, name, "uncordon")
        assert not node(real_kube, name)["spec"].get("unschedulable")

        nodes_action(real_kube, name, "drain")
        assert node(real_kube, name)["spec"].get("unschedulable") is True
        names = [p["metadata"]["name"] for p in pods(real_kube, "lab", "app=drain-me")]
        assert first_pod not in names, "the drained node's pod was not evicted"
        if others:
            wait_until("the replacement running on another node", lambda: set(running().values()) & set(others))
        else:
            # Its replacement cannot go anywhere while the only node is cordoned.
            assert all(p["status"].get("phase") == "Pending" for p in pods(real_kube, "lab", "app=drain-me"))
        nodes_action(real_kube, name, "uncordon")
        wait_until("the replacement running", running)

        nodes_action(real_kube, name, "delete")
        with pytest.raises(urllib.error.HTTPError) as gone:
            node(real_kube, name)
        assert gone.value.code == 404
    finally:
        real_kube.api("/apis/apps/v1/namespaces/lab/deployments/drain-me", method="DELETE",
                      body={"propagationPolicy": "Foreground"})
        # A kubelet registers its Node again when it starts (as a K3s agent does on restart).
        real_kube.kube.restart(f"kubelet-{name}")
        wait_until(f"{name} registered and Ready again", lambda: ready(real_kube, name), 120)
        # Back as cluster_config leaves it (labels too), for the tests that follow.
        real_kube.api(f"/api/v1/nodes/{name}", method="PATCH", body={"spec": {"unschedulable": None}})
        cluster_config(real_kube)


def labkube(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "tools"))
    return subprocess.run([sys.executable, "-m", "labkube", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_status_names_every_process_and_node(real_kube: RealKube) -> None:
    shown = labkube("status", "--workdir", str(real_kube.kube.workdir))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert re.search(rf"^  {name} +pid \d+ +running$", shown.stdout, re.M), shown.stdout
    assert "nodes: " + ", ".join(f"{n} Ready" for n in real_kube.nodes) in shown.stdout
    as_json = json.loads(labkube("status", "--json", "--workdir", str(real_kube.kube.workdir)).stdout)
    assert sorted(as_json["ready"]) == sorted(real_kube.nodes)


def test_a_second_up_is_refused_before_it_changes_anything(real_kube: RealKube, tmp_path: Path) -> None:
    # In the running cluster's own folder: refused, the cluster untouched.
    again = labkube("up", "--workdir", str(real_kube.kube.workdir), "--inventory", str(tmp_path / "inv.yml"))
    assert again.returncode == 1
    assert "a local Kubernetes is already in" in again.stderr and "./lab kube down first" in again.stderr
    # In another folder: its ports are taken, and it says so instead of starting half a cluster.
    other = labkube("up", "--workdir", str(tmp_path / "other"), "--inventory", str(tmp_path / "inv.yml"))
    assert other.returncode == 1
    assert "ports 6443, 2479, 2480" in other.stderr and "in use" in other.stderr, other.stderr
    # It names the running cluster's folder and how to stop it.
    workdir = real_kube.kube.workdir
    assert f"a local Kubernetes runs from {workdir} (./lab kube down --workdir {workdir})" in other.stderr, other.stderr
    # The leftover sweep refuses too: what a running cluster made is not a leftover.
    with pytest.raises(KubeError, match="ports 6443, 2479, 2480 are in use: a local Kubernetes runs from"):
        LocalKube(tmp_path / "third", Path("/nonexistent"), log=lambda _: None).clear_leftovers()
    assert sorted(real_kube.kube.ready_nodes()) == sorted(real_kube.nodes)
    assert not (tmp_path / "other").exists() and not (tmp_path / "inv.yml").exists()
    assert sorted(real_kube.kube.ready_nodes()) == sorted(real_kube.nodes)


def test_down_of_a_folder_without_a_cluster_says_so(tmp_path: Path) -> None:
    done = labkube("down", "--workdir", str(tmp_path / "none"))
    assert done.returncode == 0 and "no local Kubernetes in" in done.stderr
