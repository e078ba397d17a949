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
def test_site_on_the_embedded_default_prepares_the_controller_twice() -> None:
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
    assert re.search(r"TASK \[k3s_server : Run the install script for the pinned K3s version\].*?\n"
                     r"skipping: \[pi-server\]", out, re.S)
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
        assert host.read("/var/run/pi-prerequisites-reboot-required") is None

