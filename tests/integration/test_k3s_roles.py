"""The K3s roles for real against sandbox hosts, with K3s itself played by stand-ins.

No K3s binary can be downloaded here, and the sandbox hosts share the test machine's
service manager (which they cannot reach: their /run is their own). So, inside each
host's own mount namespace only, /usr/local/bin and /var/lib get an overlay (as the
sandbox gives /etc one) holding:

- ``/usr/local/bin/k3s``: prints ``k3s version <release> (...)`` as the real one does;
- ``/usr/local/bin/systemctl`` and ``journalctl`` (found before /usr/bin's): units are
  files under the host's own /run/fake-systemd; every call is logged there, a started
  unit becomes ``active`` (or stays ``activating``, as a K3s agent that cannot join does);
- ``/var/lib/rancher/k3s/server/token`` and ``node-token`` where a host plays a server
  that has already started.

The real /usr/local/bin and /var/lib are never written. Agents reach their server over
host routes through this machine (it forwards IPv4 already; the tests that need it skip
otherwise), and a listener in the server's network namespace plays its API port.

What this cannot show: K3s itself starting, joining, refusing a token, or upgrading.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from integration.test_provision import recap
from labtest import ansible_env, run_playbook
from sandbox import Sandbox, SandboxHost
from sandbox.fixtures import sandbox, sandbox_factory  # noqa: F401 - fixtures

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

PINNED = "v1.33.5+k3s1"
CA_HASH = "5c6f3cf3b3a1d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d"
PASSWORD = "clusterPassw0rdFromTheFirstStart"
SECURE = f"K10{CA_HASH}::server:{PASSWORD}"
SERVER_PLAY = "playbooks/k3s_server.yml"
AGENT_PLAY = "playbooks/k3s_agent.yml"

FAKE_K3S = """#!/bin/sh
# Stand-in for the K3s binary (tests/integration/test_k3s_roles.py): its version only.
echo "k3s version {version} (f8ea5c8b)"
echo "go version go1.24.6"
"""

FAKE_SYSTEMCTL = r"""#!/bin/sh
# Stand-in for systemctl in a sandbox host (tests/integration/test_k3s_roles.py).
d=/run/fake-systemd
mkdir -p "$d"
echo "$*" >> "$d/calls"
while [ "${1#--}" != "$1" ]; do shift; done
cmd=$1
unit=${2%.service}
state=$(cat "$d/$unit.state" 2>/dev/null || echo inactive)
case $cmd in
  show)
    case $state in active) sub=running ;; activating) sub=start ;; *) sub=dead ;; esac
    enabled=disabled; [ -f "$d/$unit.enabled" ] && enabled=enabled
    printf 'Id=%s.service\nLoadState=loaded\nActiveState=%s\nSubState=%s\nUnitFileState=%s\n' \
      "$unit" "$state" "$sub" "$enabled" ;;
  is-enabled)
    if [ -f "$d/$unit.enabled" ]; then echo enabled; else echo disabled; exit 1; fi ;;
  is-active)
    echo "$state"; [ "$state" = active ] ;;
  enable) touch "$d/$unit.enabled" ;;
  disable) rm -f "$d/$unit.enabled" ;;
  start|restart) cat "$d/start-becomes" 2>/dev/null > "$d/$unit.state" || echo active > "$d/$unit.state"
    [ -s "$d/$unit.state" ] || echo active > "$d/$unit.state" ;;
  stop) echo inactive > "$d/$unit.state" ;;
  daemon-reload) ;;
  *) echo "fake systemctl: $cmd not supported" >&2; exit 1 ;;
esac
"""

FAKE_JOURNALCTL = """#!/bin/sh
# Stand-in for journalctl in a sandbox host: what the test put in /run/fake-systemd/journal.
echo "$*" >> /run/fake-systemd/journalctl-calls
cat /run/fake-systemd/journal 2>/dev/null
"""

FAKE_INSTALL_SH = """#!/bin/sh
# Stand-in for K3s's install.sh (air-gap: the binary is already in place): records how it was run.
env | grep '^INSTALL_K3S_' | sort > /run/fake-k3s-install.env
"""


def flat(text: str) -> str:
    """Output with every run of white space as one space (YAML output folds long messages)."""
    return " ".join(text.split())


def overlay(host: SandboxHost, path: str, files: dict[str, tuple[str, int]]) -> None:
    """Put an overlay over ``path`` in the host's mount namespace, holding ``files`` (relative to path)."""
    name = path.strip("/").replace("/", "_")
    upper, work = host.root / f"{name}_upper", host.root / f"{name}_work"
    for rel, (content, mode) in files.items():
        real = upper / rel
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_text(content, encoding="utf-8")
        real.chmod(mode)
    upper.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    done = host.exec("mount", "-t", "overlay", f"lab-k3s-{name}", "-o",
                     f"lowerdir={path},upperdir={upper},workdir={work}", path)
    assert done.returncode == 0, done.stderr


def equip(host: SandboxHost, version: str | None = PINNED, token: str | None = None, running: str = "",
          start_becomes: str = "active", journal: str = "") -> None:
    """Give a started sandbox host the stand-ins: a K3s binary of ``version`` (None: no K3s),
    systemctl and journalctl; with ``token``, the state of a server that has started; with
    ``running``, that unit enabled and active."""
    bins = {"systemctl": (FAKE_SYSTEMCTL, 0o755), "journalctl": (FAKE_JOURNALCTL, 0o755)}
    if version:
        bins["k3s"] = (FAKE_K3S.format(version=version), 0o755)
    overlay(host, "/usr/local/bin", bins)
    state = {}
    if token:
        state["rancher/k3s/server/token"] = (token + "\n", 0o600)
        state["rancher/k3s/server/node-token"] = (token + "\n", 0o600)
    overlay(host, "/var/lib", state)
    host.put("/run/fake-systemd/start-becomes", start_becomes + "\n")
    if running:
        host.put(f"/run/fake-systemd/{running}.state", "active\n")
        host.put(f"/run/fake-systemd/{running}.enabled", "")
    host.put("/run/fake-systemd/journal", journal)


def systemctl_calls(host: SandboxHost) -> list[str]:
    return (host.read("/run/fake-systemd/calls") or "").splitlines()


def route(a: SandboxHost, b: SandboxHost) -> None:
    """Let two sandbox hosts reach each other through this machine (host routes in their own namespaces)."""
    if Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() != "1":
        pytest.skip("this machine does not forward IPv4 between the sandbox hosts (net.ipv4.ip_forward=0)")
    for x, y in ((a, b), (b, a)):
        done = x.exec("ip", "route", "add", f"{y.address}/32", "via", x.gateway)
        assert done.returncode == 0, done.stderr


class ApiPort:
    """A TCP listener on port 6443 inside a host's network namespace, for its API port."""

    def __init__(self, host: SandboxHost) -> None:
        code = ("import socket\n"
                "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                f"s.bind(({host.address!r}, 6443)); s.listen(16); print('ready', flush=True)\n"
                "while True:\n    c, _ = s.accept(); c.close()\n")
        assert host.pid is not None
        self.proc = subprocess.Popen(["nsenter", "-t", str(host.pid), "-n", sys.executable, "-c", code],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def cluster(box: Sandbox, servers: int = 1, agents: int = 1, **allvars: object) -> Path:
    """Hosts pi-server[N] and pi-agentN (started), and their inventory."""
    for i in range(servers):
        box.add_host("pi-server" + (str(i + 1) if servers > 1 else ""), groups=["server"])
    for i in range(agents):
        box.add_host(f"pi-agent{i + 1}", groups=["agent"])
    box.start()
    return box.inventory(children={"k3s_cluster": ["server", "agent"]}, allvars=dict(allvars))


def config_of(host: SandboxHost) -> dict:
    text = host.read("/etc/rancher/k3s/config.yaml")
    return yaml.safe_load(text) if text else {}


def test_the_running_clusters_token_is_used_and_a_rerun_changes_nothing(sandbox: Sandbox,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    """A fresh clone (no token on the controller) converging a cluster that already runs: the
    server keeps its token, the agent gets its secure form, nothing is generated, no restart."""
    inv = cluster(sandbox)
    server, agent = sandbox.host("pi-server"), sandbox.host("pi-agent1")
    equip(server, token=SECURE, running="k3s")
    equip(agent)  # a new agent (K3s at the pin, not started)
    route(server, agent)
    port = ApiPort(server)
    token_file = tmp_path / "artifacts" / "node-token"
    env = ansible_env(**sandbox.env_overrides())
    extra = {"k3s_token_file": str(token_file)}
    try:
        first = run_playbook(SERVER_PLAY, AGENT_PLAY, "-i", str(inv), extra_vars=extra, env=env, timeout=300)
        out = first.stdout + first.stderr
        assert first.returncode == 0, out
        assert config_of(server)["token"] == PASSWORD  # the cluster's own (its password part)
        agent_cfg = config_of(agent)
        assert agent_cfg["token"] == SECURE  # the secure form: the agent checks the server's CA
        assert agent_cfg["server"] == f"https://{server.address}:6443"
        assert agent_cfg["node-ip"] == agent.address and config_of(server)["node-ip"] == server.address
        assert not token_file.exists() and not token_file.parent.exists()
        assert PASSWORD not in out and "A new K3s join token" not in out
        # K3s was already at the pin: no install; started without blocking.
        assert not server.exists("/usr/local/bin/k3s-install.sh")
        # The new config.yaml (node-ip is new) restarted the running server and started the new
        # agent, each without blocking.
        assert "--no-block restart k3s" in systemctl_calls(server), systemctl_calls(server)
        assert "--no-block start k3s-agent" in systemctl_calls(agent), systemctl_calls(agent)
        calls_before = {h.name: systemctl_calls(h) for h in (server, agent)}

        second = run_playbook(SERVER_PLAY, AGENT_PLAY, "-i", str(inv), extra_vars=extra, env=env, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        counts = recap(second.stdout)
        assert counts["pi-server"]["changed"] == 0 and counts["pi-agent1"]["changed"] == 0, second.stdout
        for host in (server, agent):
            again = systemctl_calls(host)[len(calls_before[host.name]):]
            assert not [c for c in again if {"start", "restart"} & set(c.split())], again
        assert not token_file.exists()
    finally:
        port.close()


def test_a_k3s_token_that_is_not_the_clusters_is_refused_before_anything_changes(sandbox: Sandbox,  # noqa: F811
                                                                                 tmp_path: Path) -> None:
    inv = cluster(sandbox, agents=0)
    server = sandbox.host("pi-server")
    equip(server, token=SECURE)
    env = ansible_env(**sandbox.env_overrides())
    token_file = tmp_path / "node-token"
    wrong = "aTokenFromAnotherLaptop"
    refused = run_playbook(SERVER_PLAY, "-i", str(inv), env=env, timeout=300,
                           extra_vars={"k3s_token": wrong, "k3s_token_file": str(token_file)})
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert ("k3s_token (or k3s_server_token) is not the join token of the K3s cluster already running on "
            "pi-server (/var/lib/rancher/k3s/server/token there)") in flat(out), out
    assert "k3s token rotate" in out and "The K3s configuration was not changed." in flat(out)
    assert wrong not in out and PASSWORD not in out
    assert not server.exists("/etc/rancher/k3s/config.yaml")
    assert systemctl_calls(server) == [] and not token_file.exists()

    # The cluster's token, bare or in its secure form, is accepted.
    for given in (PASSWORD, SECURE):
        accepted = run_playbook(SERVER_PLAY, "-i", str(inv), env=env, timeout=300,
                                extra_vars={"k3s_token": given, "k3s_token_file": str(token_file)})
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert config_of(server)["token"] == given
        assert PASSWORD not in accepted.stdout + accepted.stderr
    assert not token_file.exists()

    # Without k3s_token, a controller file from another cluster is not used, and the run says so.
    token_file.write_text("aTokenFromAnotherLaptop\n")
    stale = run_playbook(SERVER_PLAY, "-i", str(inv), env=env, timeout=300,
                         extra_vars={"k3s_token_file": str(token_file)})
    assert stale.returncode == 0, stale.stdout + stale.stderr
    assert config_of(server)["token"] == PASSWORD
    assert (f"WARNING: {token_file} holds another token than the K3s cluster running on pi-server; the cluster's "
            "token is used.") in flat(stale.stdout), stale.stdout
    assert token_file.read_text() == "aTokenFromAnotherLaptop\n" and wrong not in stale.stdout


def test_a_token_is_generated_on_the_controller_only_when_none_is_given(sandbox: Sandbox,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    """A new cluster: with k3s_token set no file appears on the controller (the lookup no longer
    runs inside default()); without it one is generated once, and the run says to back it up."""
    inv = cluster(sandbox, agents=0)
    server = sandbox.host("pi-server")
    equip(server)  # K3s at the pin, not started yet: no token on the server
    env = ansible_env(**sandbox.env_overrides())
    token_file = tmp_path / "artifacts" / "node-token"
    extra = {"k3s_token_file": str(token_file), "k3s_server_manage_service": False}
    given = run_playbook(SERVER_PLAY, "-i", str(inv), env=env, timeout=300,
                         extra_vars={**extra, "k3s_token": "myVaultedToken"})
    assert given.returncode == 0, given.stdout + given.stderr
    assert config_of(server)["token"] == "myVaultedToken"
    assert not token_file.exists() and not token_file.parent.exists()

    generated = run_playbook(SERVER_PLAY, "-i", str(inv), env=env, timeout=300, extra_vars=extra)
    out = generated.stdout + generated.stderr
    assert generated.returncode == 0, out
    token = token_file.read_text().strip()
    assert len(token) == 64 and config_of(server)["token"] == token and token not in out
    assert f"A new K3s join token was generated in {token_file} (mode 0600). Back it up" in flat(out)
    again = run_playbook(SERVER_PLAY, "-i", str(inv), env=env, timeout=300, extra_vars=extra)
    assert again.returncode == 0 and recap(again.stdout)["pi-server"]["changed"] == 0, again.stdout
    assert "A new K3s join token" not in again.stdout


def test_several_servers_need_the_opt_in_and_an_odd_count(sandbox: Sandbox, tmp_path: Path) -> None:  # noqa: F811
    for name in ("pi-s1", "pi-s2", "pi-s3"):
        sandbox.add_host(name)
    sandbox.start()
    env = ansible_env(**sandbox.env_overrides())
    extra = {"k3s_token_file": str(tmp_path / "node-token")}
    three = sandbox.inventory(groups={"server": ["pi-s1", "pi-s2", "pi-s3"]}, path=tmp_path / "three.yml")
    refused = run_playbook(SERVER_PLAY, "-i", str(three), env=env, timeout=300, extra_vars=extra)
    assert refused.returncode != 0
    assert ("The inventory group server has 3 hosts (pi-s1, pi-s2, pi-s3). Several K3s servers keep the "
            "cluster's state in embedded etcd, which K3s's maintainers advise against on SD cards") in flat(
                refused.stdout), refused.stdout
    assert "set k3s_server_allow_multiple: true" in flat(refused.stdout)

    two = sandbox.inventory(groups={"server": ["pi-s1", "pi-s2"]}, path=tmp_path / "two.yml")
    even = run_playbook(SERVER_PLAY, "-i", str(two), env=env, timeout=300,
                        extra_vars={**extra, "k3s_server_allow_multiple": True})
    assert even.returncode != 0
    assert ("The inventory group server has 2 hosts (pi-s1, pi-s2): embedded etcd needs an odd number of "
            "servers (1, 3, 5).") in flat(even.stdout), even.stdout
    # Refused at the first server, before anything: the play (serial 1) never reached the second.
    assert "pi-s2" not in recap(even.stdout) and "pi-s2" not in recap(refused.stdout)
    for host in sandbox.hosts:
        assert not host.exists("/etc/rancher/k3s/config.yaml")
    assert not (tmp_path / "node-token").exists()


def test_a_downgrade_is_refused_before_anything_changes(sandbox: Sandbox, tmp_path: Path) -> None:  # noqa: F811
    inv = cluster(sandbox, agents=0)
    server = sandbox.host("pi-server")
    equip(server, version="v1.33.5+k3s10", token=SECURE)  # +k3s10 is not "+k3s1 installed"
    result = run_playbook(SERVER_PLAY, "-i", str(inv), env=ansible_env(**sandbox.env_overrides()), timeout=300,
                          extra_vars={"k3s_token_file": str(tmp_path / "node-token")})
    assert result.returncode != 0
    assert ("K3s on pi-server is v1.33.5+k3s10, newer than k3s_version v1.33.5+k3s1: K3s does not support "
            "downgrades.") in flat(result.stdout), result.stdout
    assert not server.exists("/etc/rancher/k3s/config.yaml") and systemctl_calls(server) == []


def test_an_agent_names_an_unreachable_server_within_its_timeout(sandbox: Sandbox,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    inv = cluster(sandbox)
    server, agent = sandbox.host("pi-server"), sandbox.host("pi-agent1")
    equip(server, token=SECURE)
    equip(agent, version=None)  # a new agent
    route(server, agent)  # reachable, but nothing listens on 6443: K3s is down there
    started = time.monotonic()
    result = run_playbook(AGENT_PLAY, "-i", str(inv), env=ansible_env(**sandbox.env_overrides()), timeout=120,
                          extra_vars={"k3s_token_file": str(tmp_path / "node-token"), "k3s_agent_server_timeout": 5})
    elapsed = time.monotonic() - started
    out = flat(result.stdout)
    assert result.returncode != 0
    assert (f"The agent pi-agent1 cannot reach the K3s server pi-server: nothing answered at {server.address}:6443 "
            f"within 5 s (https://{server.address}:6443).") in out, result.stdout
    assert "Nothing was changed on pi-agent1." in out
    assert elapsed < 60, elapsed
    assert not agent.exists("/etc/rancher/k3s/config.yaml") and systemctl_calls(agent) == []
    assert PASSWORD not in result.stdout + result.stderr


def test_an_agent_that_does_not_come_up_fails_with_its_journal(sandbox: Sandbox,  # noqa: F811
                                                                tmp_path: Path) -> None:
    """An upgrade (air-gapped, from stand-in files) of an agent whose unit never gets ready:
    the install does not start it, the role restarts it without blocking and gives up after
    k3s_agent_start_timeout with the unit's journal instead of waiting for ever."""
    inv = cluster(sandbox)
    server, agent = sandbox.host("pi-server"), sandbox.host("pi-agent1")
    equip(server, token=SECURE)
    journal = ('Oct 01 12:00:01 pi-agent1 k3s[812]: level=error msg="failed to get CA certs: '
               'the server refused the token"\n')
    equip(agent, version="v1.33.4+k3s1", running="k3s-agent", start_becomes="activating", journal=journal)
    route(server, agent)
    port = ApiPort(server)
    airgap = tmp_path / "k3s-files"
    airgap.mkdir()
    (airgap / "k3s").write_text(FAKE_K3S.format(version=PINNED))
    (airgap / "install.sh").write_text(FAKE_INSTALL_SH)
    try:
        started = time.monotonic()
        result = run_playbook(AGENT_PLAY, "-i", str(inv), env=ansible_env(**sandbox.env_overrides()), timeout=200,
                              extra_vars={"k3s_token_file": str(tmp_path / "node-token"), "k3s_agent_start_timeout": 6,
                                          "k3s_install_method": "airgap", "k3s_install_airgap_dir": str(airgap)})
        elapsed = time.monotonic() - started
    finally:
        port.close()
    out = flat(result.stdout)
    assert result.returncode != 0
    assert "k3s-agent on pi-agent1 did not become active within 6 s (it is activating/start)." in out, result.stdout
    assert "it waits for ever for a server it cannot reach or that refuses its join token" in out
    assert "Last journal lines (journalctl -u k3s-agent -n 30 --no-pager):" in out
    assert "failed to get CA certs: the server refused the token" in out
    assert elapsed < 60, elapsed
    assert agent.read("/run/fake-systemd/journalctl-calls") == "-u k3s-agent -n 30 --no-pager\n"
    # The install ran (an upgrade from v1.33.4+k3s1) without starting the unit ...
    installed = agent.read("/run/fake-k3s-install.env") or ""
    assert "INSTALL_K3S_SKIP_START=true" in installed.splitlines(), installed
    assert "INSTALL_K3S_EXEC=agent" in installed.splitlines() and f"INSTALL_K3S_VERSION={PINNED}" in installed
    assert PINNED in (agent.exec("/usr/local/bin/k3s", "--version").stdout)
    # ... and the role restarted it on the new release without blocking, never a blocking (re)start.
    calls = systemctl_calls(agent)
    assert "--no-block restart k3s-agent" in calls, calls
    assert not [c for c in calls if c.split()[:1] in (["start"], ["restart"])], calls
    assert config_of(agent)["token"] == SECURE
    assert PASSWORD not in result.stdout + result.stderr


def test_three_servers_go_one_at_a_time_and_join_the_first(sandbox: Sandbox, tmp_path: Path) -> None:  # noqa: F811
    """A three-server cluster (opted in) converged: the first server (cluster-init) is done and
    ready before the second starts, each joining server first checks the first one's API port."""
    inv = cluster(sandbox, servers=3, agents=0, k3s_server_allow_multiple=True)
    servers = [sandbox.host(f"pi-server{i}") for i in (1, 2, 3)]
    for host in servers:
        equip(host, token=SECURE, running="k3s")
    for host in servers[1:]:
        route(servers[0], host)
    port = ApiPort(servers[0])
    try:
        result = run_playbook(SERVER_PLAY, "-i", str(inv), env=ansible_env(**sandbox.env_overrides()), timeout=300,
                              extra_vars={"k3s_token_file": str(tmp_path / "node-token")})
    finally:
        port.close()
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    first = config_of(servers[0])
    assert first["cluster-init"] is True and "server" not in first
    for host in servers[1:]:
        cfg = config_of(host)
        assert cfg["server"] == f"https://{servers[0].address}:6443" and "cluster-init" not in cfg
        assert cfg["token"] == first["token"] == PASSWORD

    def at(task: str, host: str) -> int:
        """Where the output shows ``host``'s result of ``task``."""
        block = out.index(f"TASK [{task}]")
        while f"[{host}]" not in out[block:out.index("\n\n", block)]:
            block = out.index(f"TASK [{task}]", block + 1)
        return block

    ready = "k3s_install : Wait for the K3s unit to report itself ready"
    begin = "k3s_server : Name the first server, which starts the cluster"
    assert at(ready, "pi-server1") < at(begin, "pi-server2") < at(ready, "pi-server2") < at(begin, "pi-server3")
    joined = "k3s_server : Wait for the first server's API port"
    assert at(begin, "pi-server2") < at(joined, "pi-server2") < at(ready, "pi-server2")
    assert "skipping: [pi-server1]" in out[out.index(f"TASK [{joined}]"):]
