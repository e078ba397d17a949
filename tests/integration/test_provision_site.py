"""site.yml for real: the embedded default twice, and a whole cluster in check mode against sandbox hosts."""
from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from labtest import ansible_env, run_playbook
from sandbox import Sandbox
from sandbox.fixtures import sandbox, sandbox_factory  # noqa: F401 - fixtures

from integration.test_provision import BOOKWORM_CMDLINE, add_pi, recap


@pytest.mark.integration
def test_site_on_the_embedded_default_prepares_the_controller_twice(ffmpeg_available: None) -> None:
    """With ffmpeg present (the fixture skips otherwise, so this test never apt-installs for real)."""
    first = run_playbook("site.yml")
    assert first.returncode == 0, first.stdout + first.stderr
    said = re.search(r"embedded default: no cluster to build; controller ready: (\d+) cores, "
                     r"ffmpeg (\S+), numpy (\d+\.\d+)", first.stdout)
    assert said, first.stdout
    import os
    assert int(said.group(1)) == os.cpu_count()
    assert said.group(2) != "missing"
    second = run_playbook("site.yml")
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap(second.stdout)["localhost"]["changed"] == 0, second.stdout
    dry = run_playbook("site.yml", "--check")
    assert dry.returncode == 0, dry.stdout + dry.stderr


@pytest.mark.integration
@pytest.mark.sandbox
def test_site_check_mode_on_a_sandbox_cluster(sandbox: Sandbox, tmp_path: Path) -> None:  # noqa: F811
    for name, group in (("pi-server", "server"), ("pi-agent1", "agent")):
        add_pi(sandbox, name, "/boot/firmware/cmdline.txt", BOOKWORM_CMDLINE)
        sandbox.hosts[-1].groups = [group]
    sandbox.start()
    inv = sandbox.inventory(children={"k3s_cluster": ["server", "agent"]}, controller=True,
                            allvars={"cluster_name": f"sandbox-{tmp_path.name}"})
    token_file = tmp_path / "artifacts" / "node-token"
    proc = run_playbook("site.yml", "-i", str(inv), "--check", "--diff",
                        extra_vars={"k3s_token_file": str(token_file)},
                        env=ansible_env(**sandbox.env_overrides()), timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    counts = recap(proc.stdout)
    assert all(counts[h.name]["failed"] == 0 and counts[h.name]["unreachable"] == 0 for h in sandbox.hosts)
    # The plays reached the K3s roles and would write their configuration.
    assert "TASK [k3s_server : Write the K3s server configuration]" in out
    assert "TASK [k3s_agent : Write the K3s agent configuration with the server URL and join token]" in out
    # Both install through the shared k3s_install role, which a dry run does not let download.
    installs = re.findall(r"TASK \[k3s_install : Run the install script for the pinned K3s version\].*?\n"
                          r"skipping: \[([\w-]+)\]", out)
    assert installs == ["pi-server", "pi-agent1"], out
    # The token was generated on the controller, kept 0600, and never shown.
    token = token_file.read_text().strip()
    assert len(token) == 64 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token not in out
    config_task = out.split("TASK [k3s_server : Write the K3s server configuration]", 1)[1].split("TASK [", 1)[0]
    assert "changed: [pi-server]" in config_task and "token" not in config_task
    # Check mode changed nothing on the hosts.
    for host in sandbox.hosts:
        assert host.read("/boot/firmware/cmdline.txt") == BOOKWORM_CMDLINE
        assert not host.exists("/etc/rancher/k3s/config.yaml")
        assert host.read("/var/run/rpi-prerequisites-reboot-required") is None



K3S_YAML = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: U0VDUkVULUtFWQ==
"""


@pytest.mark.integration
@pytest.mark.sandbox
def test_kubeconfig_is_fetched_renamed_and_merged(sandbox: Sandbox, tmp_path: Path) -> None:  # noqa: F811
    import yaml

    server = sandbox.add_host("pi-server", groups=["server"])
    server.put("/etc/rancher/k3s/k3s.yaml", K3S_YAML, mode=0o600)
    sandbox.start()
    inv = sandbox.inventory(children={"k3s_cluster": ["server"]}, controller=True,
                            allvars={"cluster_name": "sbx"})
    dest = tmp_path / "artifacts" / "sbx" / "kubeconfig.yaml"
    user_config = tmp_path / "home" / ".kube" / "config"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "mine",
        "clusters": [{"name": "mine", "cluster": {"server": "https://example.invalid:6443"}}],
        "users": [{"name": "mine", "user": {"token": "t"}}],
        "contexts": [{"name": "mine", "context": {"cluster": "mine", "user": "mine"}}]}))
    env = ansible_env(KUBECONFIG=str(user_config), **sandbox.env_overrides())
    extra = {"kubeconfig_dest": str(dest), "kubeconfig_merge": True}
    first = run_playbook("playbooks/kubeconfig.yml", "-i", str(inv), extra_vars=extra, env=env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "U0VDUkVULUtFWQ==" not in first.stdout + first.stderr
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    cfg = yaml.safe_load(dest.read_text())
    assert cfg["clusters"] == [{"name": "sbx", "cluster": {"certificate-authority-data": "Q0EtREFUQQ==",
                                                           "server": f"https://{server.address}:6443"}}]
    assert cfg["contexts"] == [{"name": "sbx", "context": {"cluster": "sbx", "user": "sbx"}}]
    assert cfg["current-context"] == "sbx"
    merged = yaml.safe_load(user_config.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["mine", "sbx"]
    assert merged["current-context"] == "mine"
    assert stat.S_IMODE(user_config.stat().st_mode) == 0o600
    assert list(user_config.parent.glob("config.*~")), "no backup of the user's kubeconfig"
    second = run_playbook("playbooks/kubeconfig.yml", "-i", str(inv), extra_vars=extra, env=env, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap(second.stdout)["pi-server"]["changed"] == 0, second.stdout


@pytest.mark.integration
def test_nodes_playbook_rejects_bad_requests_before_touching_anything() -> None:
    bad = run_playbook("nodes.yml", extra_vars={"node": "pi-node2", "node_action": "reboot"})
    assert bad.returncode != 0
    assert ("Usage: ansible-playbook nodes.yml -e node=<node name> -e node_action=<drain|cordon|uncordon|delete>"
            in bad.stdout)
    assert "Got node=pi-node2 and node_action=reboot" in bad.stdout
    # The older name still works, and the message names the variable the user typed.
    old = run_playbook("nodes.yml", extra_vars={"node": "pi-node2", "action": "reboot"})
    assert old.returncode != 0 and "Got node=pi-node2 and action=reboot" in old.stdout
    nocluster = run_playbook("nodes.yml", extra_vars={"node": "pi-node2", "node_action": "drain",
                                                      "cluster_name": "no-such-cluster"})
    assert nocluster.returncode != 0
    assert "node maintenance needs a K3s cluster built by site.yml" in nocluster.stdout


@pytest.mark.integration
@pytest.mark.sandbox
def test_k3s_configuration_is_written_for_real(sandbox: Sandbox, tmp_path: Path) -> None:  # noqa: F811
    """The server's and agents' config.yaml for real (the K3s install itself needs the network)."""
    import json

    import yaml

    server = sandbox.add_host("pi-server", groups=["server"], k3s_server_manage_service=False)
    agent = sandbox.add_host("pi-agent1", groups=["agent"], k3s_agent_manage_service=False,
                             k3s_node_labels={"disk": "ssd"})
    sandbox.start()
    inv = sandbox.inventory(children={"k3s_cluster": ["server", "agent"]})
    play = tmp_path / "config.yml"
    play.write_text(json.dumps([{
        "name": "Write the K3s configuration of every node",
        "hosts": "k3s_cluster",
        "gather_facts": True,
        "gather_subset": ["min"],
        "vars": {"lab_root": str(tmp_path)},
        "tasks": [{"name": "Run the configuration tasks of the node's role",
                   "ansible.builtin.include_role": {
                       "name": "{{ 'k3s_server' if 'server' in group_names else 'k3s_agent' }}",
                       "tasks_from": "config.yml"}}],
    }]))
    token_file = tmp_path / "token"
    env = ansible_env(**sandbox.env_overrides())
    extra = {"k3s_token_file": str(token_file)}
    first = run_playbook(str(play), "-i", str(inv), extra_vars=extra, env=env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    token = token_file.read_text().strip()
    assert token not in first.stdout + first.stderr
    server_cfg_text = server.read("/etc/rancher/k3s/config.yaml")
    agent_cfg_text = agent.read("/etc/rancher/k3s/config.yaml")
    assert server_cfg_text and agent_cfg_text
    for host in (server, agent):
        assert host.exec("stat", "-c", "%a %U", "/etc/rancher/k3s/config.yaml").stdout.strip() == "600 root"
    server_cfg = yaml.safe_load(server_cfg_text)
    agent_cfg = yaml.safe_load(agent_cfg_text)
    assert server_cfg["token"] == agent_cfg["token"] == token
    assert server.address in server_cfg["tls-san"]
    assert server_cfg["disable"] == ["traefik", "servicelb"]
    assert server_cfg["write-kubeconfig-mode"] == "0600"
    assert "node-taint" not in server_cfg  # schedulable by default
    assert agent_cfg["server"] == f"https://{server.address}:6443"
    second = run_playbook(str(play), "-i", str(inv), extra_vars=extra, env=env, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    counts = recap(second.stdout)
    assert counts["pi-server"]["changed"] == 0 and counts["pi-agent1"]["changed"] == 0, second.stdout
    # A server kept off work gets the CriticalAddonsOnly taint at registration.
    third = run_playbook(str(play), "-i", str(inv), "--limit", "server",
                         extra_vars={**extra, "k3s_server_schedulable": False}, env=env, timeout=300)
    assert third.returncode == 0, third.stdout + third.stderr
    assert yaml.safe_load(server.read("/etc/rancher/k3s/config.yaml") or "")["node-taint"] == [
        "CriticalAddonsOnly=true:NoExecute"]
    # k3s_version set in an inventory reaches both roles (it is a lab_common default, no
    # longer a play's vars_files, which outranked the inventory): a malformed one is named.
    pinned = sandbox.inventory(children={"k3s_cluster": ["server", "agent"]}, allvars={"k3s_version": "v1.32-latest"})
    fourth = run_playbook(str(play), "-i", str(pinned), extra_vars=extra, env=env, timeout=300)
    assert fourth.returncode != 0
    assert "k3s_version is 'v1.32-latest'" in fourth.stdout, fourth.stdout
    assert "a K3s release in k3s_version (got 'v1.32-latest'" in fourth.stdout, fourth.stdout
