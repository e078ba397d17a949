"""What would break the first real site.yml, checked on the real local Kubernetes (./lab kube).

cluster_config's Ready wait must fail, naming the node, for a node the inventory
lists but the cluster never registered (kubernetes.core's k8s_info returns an
empty list then, not an error); a server that should not run work gets its taint
through the API; `reset.yml --limit <agent>` deletes the agent's Node object before
removing K3s, and refuses to reset a server whose agents stay.
"""
from __future__ import annotations

import json
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from kubetest import RealKube, wait_until
from labtest import run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.kube]


def inventory_with(real: RealKube, tmp_path: Path, extra_agents: dict[str, dict[str, Any]]) -> Path:
    """The local cluster's inventory with more agents in it."""
    text = real.inventory.read_text()
    document = json.loads(text[text.index("{"):])
    agents = document["all"]["children"]["kube_local"]["children"]["kube_local_agent"]
    agents["hosts"] = {**(agents.get("hosts") or {}), **extra_agents}
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps(document))
    return path


def test_a_node_that_never_registers_fails_the_play_naming_it(configured_kube: RealKube, tmp_path: Path) -> None:
    ghost = {"lab-kube-ghost": {"ansible_connection": "local", "k3s_node_name": "lab-kube-ghost"}}
    started = time.monotonic()
    done = run_playbook("playbooks/cluster_config.yml", "-i", str(inventory_with(configured_kube, tmp_path, ghost)),
                        extra_vars={"cluster_config_node_ready_timeout": 5}, timeout=300)
    assert done.returncode != 0, done.stdout[-3000:]
    assert "Node lab-kube-ghost never registered with the cluster within 5 s" in done.stdout, done.stdout[-3000:]
    assert "journalctl -u k3s-agent" in done.stdout
    # Named before the namespace or the labels are touched, and within its timeout.
    assert "Create the workload namespace" not in done.stdout
    assert time.monotonic() - started < 120


def test_a_server_that_should_not_run_work_is_tainted_through_the_api(configured_kube: RealKube) -> None:
    server = configured_kube.nodes[0]
    try:
        done = run_playbook("playbooks/cluster_config.yml", "-i", str(configured_kube.inventory),
                            extra_vars={"cluster_config_untaint_servers": False}, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:]
        taints = configured_kube.api(f"/api/v1/nodes/{server}")["spec"].get("taints") or []
        assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in [
            {k: t[k] for k in ("key", "effect")} for t in taints]
    finally:
        back = run_playbook("playbooks/cluster_config.yml", "-i", str(configured_kube.inventory),
                            extra_vars={"cluster_config_untaint_servers": True}, timeout=300)
    assert back.returncode == 0, back.stdout[-3000:]
    assert not configured_kube.api(f"/api/v1/nodes/{server}")["spec"].get("taints")


def reset_inventory(real: RealKube, tmp_path: Path) -> Path:
    """site.yml's groups (server, agent, k3s_cluster) over the local cluster's nodes; their
    K3s uninstall scripts do not exist, so reset.yml removes nothing from the hosts."""
    text = real.inventory.read_text()
    document = json.loads(text[text.index("{"):])
    local = document["all"]["children"]["kube_local"]["children"]
    server = {name: {**vars_, "k3s_node_name": name} for name, vars_ in local["kube_local_server"]["hosts"].items()}
    agent = {name: {**vars_, "k3s_node_name": name} for name, vars_ in (local["kube_local_agent"].get("hosts") or {}).items()}
    path = tmp_path / "reset.yml"
    path.write_text(json.dumps({"all": {"vars": {"lab_kubeconfig": str(real.kubeconfig), "cluster_name": "kube-local"},
                                        "children": {"controller": document["all"]["children"]["controller"],
                                                     "k3s_cluster": {"children": {"server": {"hosts": server},
                                                                                  "agent": {"hosts": agent}}}}}}))
    return path


def test_reset_refuses_a_server_whose_agents_stay(configured_kube: RealKube, tmp_path: Path) -> None:
    if len(configured_kube.nodes) < 2:
        pytest.skip("one node: no agent to keep (./lab kube up --nodes 2)")
    server, agent = configured_kube.nodes[0], configured_kube.nodes[1]
    done = run_playbook("reset.yml", "-i", str(reset_inventory(configured_kube, tmp_path)), "--limit", server,
                        timeout=300)
    assert done.returncode != 0
    assert f"This would remove K3s from {server} (the server) but keep {agent} joined to it" in done.stdout
    assert configured_kube.api(f"/api/v1/nodes/{server}")["metadata"]["name"] == server


def test_reset_of_an_agent_deletes_its_node_object_first(configured_kube: RealKube, tmp_path: Path) -> None:
    if len(configured_kube.nodes) < 2:
        pytest.skip("one node: no agent to reset (./lab kube up --nodes 2)")
    agent = configured_kube.nodes[1]
    try:
        done = run_playbook("reset.yml", "-i", str(reset_inventory(configured_kube, tmp_path)), "--limit", agent,
                            timeout=300)
        assert done.returncode == 0, done.stdout[-3000:]
        with pytest.raises(urllib.error.HTTPError) as gone:
            configured_kube.api(f"/api/v1/nodes/{agent}")
        assert gone.value.code == 404
    finally:
        configured_kube.kube.restart(f"kubelet-{agent}")
        wait_until(f"{agent} registered and Ready again", lambda: agent in configured_kube.kube.ready_nodes(), 120)
        assert run_playbook("playbooks/cluster_config.yml", "-i", str(configured_kube.inventory),
                            timeout=300).returncode == 0
