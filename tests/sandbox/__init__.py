"""Sandbox hosts for the provisioning tests: network namespaces with their own sshd.

Each host is a network namespace on a private /30 (10.213.S.4i+2, the test
machine at 10.213.S.4i+1 on the other end of a veth pair) running its own sshd
inside a private mount namespace, where:

- ``/boot`` is the host's own directory (so ``/boot/firmware/cmdline.txt`` or
  ``/boot/cmdline.txt`` are the host's alone);
- ``/etc`` is an overlay whose upper layer is the host's own (``/etc/fstab``,
  ``/etc/dphys-swapfile``: every write lands in the host's directory, never in
  the real ``/etc``);
- ``/run`` (and so ``/var/run``) is the host's own directory: systemctl there
  cannot reach the test machine's service manager.

The hosts share the test machine's kernel, processes and the rest of its root
file system: tests must keep reboots and service changes off (the provisioning
roles have variables for that). Nothing is created outside the sandbox's work
directory except the namespaces and veth pairs, which :meth:`Sandbox.close`
removes, and the kernel drops the mounts with the last process of each host.
"""
from __future__ import annotations

import ipaddress
import os
import random
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SSHD = "/usr/sbin/sshd"
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "ssh", "ssh-keygen")


class SandboxUnavailable(RuntimeError):
    """Raised when this machine cannot host sandboxes (the tests then skip)."""


def unavailable_reason() -> str | None:
    """Why sandboxes cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "sandbox hosts need root (network and mount namespaces)"
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        return f"sandbox hosts need {', '.join(missing)} (iproute2, util-linux, openssh-client)"
    if not os.access(SSHD, os.X_OK):
        return f"sandbox hosts need {SSHD} (openssh-server)"
    return None


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SandboxUnavailable(f"{shlex.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _probe(workdir: Path) -> None:
    """Check that network namespaces and the private mounts work here (raise SandboxUnavailable if not)."""
    probe = workdir / ".probe"
    for sub in ("upper", "work", "lower"):
        (probe / sub).mkdir(parents=True, exist_ok=True)
    q = shlex.quote
    proc = _run("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                f"mount --bind {q(str(probe / 'lower'))} {q(str(probe / 'work'))} && umount {q(str(probe / 'work'))}"
                f" && mount -t overlay lab-sandbox-probe -o "
                + q(f"lowerdir=/etc,upperdir={probe / 'upper'},workdir={probe / 'work'}") + f" {q(str(probe / 'lower'))}",
                check=False)
    if proc.returncode != 0:
        raise SandboxUnavailable(f"private bind/overlay mounts do not work under {workdir}: {proc.stderr.strip()}")
    name = f"lab-sbx-probe-{os.getpid()}"
    made = _run("ip", "netns", "add", name, check=False)
    _run("ip", "netns", "del", name, check=False)
    if made.returncode != 0:
        raise SandboxUnavailable(f"cannot create network namespaces: {made.stderr.strip()}")
    shutil.rmtree(probe, ignore_errors=True)


def _pick_subnet() -> int:
    """A third octet S such that 10.213.S.0/24 is not in use on this machine."""
    used = _run("ip", "-4", "-o", "addr", "show").stdout + _run("ip", "-4", "route", "show").stdout
    candidates = list(range(100, 250))
    random.shuffle(candidates)
    for s in candidates:
        if f"10.213.{s}." not in used:
            return s
    raise SandboxUnavailable("no free 10.213.S.0/24 subnet for sandbox hosts")


@dataclass
class SandboxHost:
    """One sandbox host: its names, address and directory on the real file system."""

    name: str
    netns: str
    veth: str
    address: str
    gateway: str
    root: Path
    hostvars: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    # Files the host sees, by their in-host path, prepared before start().
    def real_path(self, path: str) -> Path:
        """Where an in-host path under /boot, /etc (upper layer) or /run lives for setup."""
        for prefix, sub in (("/boot", "boot"), ("/etc", "etc_upper"), ("/var/run", "run"), ("/run", "run")):
            if path == prefix or path.startswith(prefix + "/"):
                return self.root / sub / path[len(prefix) + 1:]
        return self.root / "files" / path.lstrip("/")

    def put(self, path: str, content: str, mode: int = 0o644) -> Path:
        """Create an in-host file (under /boot, /etc, /run) or a host-private file elsewhere."""
        real = self.real_path(path)
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_text(content, encoding="utf-8")
        real.chmod(mode)
        return real

    def file(self, name: str, content: str) -> str:
        """A host-private file outside the mapped trees; returns its (real = in-host) path."""
        real = self.root / "files" / name
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_text(content, encoding="utf-8")
        return str(real)

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside the host's mount and network namespaces."""
        assert self.proc is not None, "host not started"
        return subprocess.run(
            ["nsenter", "-t", str(self.proc.pid), "-m", "-n", "--", *argv],
            capture_output=True, text=True, check=False,
        )

    def read(self, path: str) -> str | None:
        """The content of an in-host file as the host sees it, or None if it does not exist."""
        proc = self.exec("cat", "--", path)
        return proc.stdout if proc.returncode == 0 else None

    def exists(self, path: str) -> bool:
        return self.exec("test", "-e", path).returncode == 0


class Sandbox:
    """A set of sandbox hosts sharing one client key and one inventory."""

    def __init__(self, workdir: Path) -> None:
        reason = unavailable_reason()
        if reason:
            raise SandboxUnavailable(reason)
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        _probe(workdir)
        self.hosts: list[SandboxHost] = []
        self.subnet = _pick_subnet()
        self.tag = f"{os.getpid() % 100000}{random.randrange(100):02d}"[-6:]
        # Mount points the hosts' private mounts need on the real file system:
        # created when missing (a container may have no /boot), removed again by close().
        self.created_mountpoints: list[Path] = []
        for mountpoint in (Path("/boot"),):
            if not mountpoint.exists():
                mountpoint.mkdir()
                self.created_mountpoints.append(mountpoint)
        self.key = workdir / "id_ed25519"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-sandbox-client", "-f", str(self.key))
        (workdir / "cp").mkdir(exist_ok=True)

    # -- building ---------------------------------------------------------
    def add_host(self, name: str, groups: list[str] | None = None, **hostvars: Any) -> SandboxHost:
        """Declare a host; prepare its files with put() before start()."""
        i = len(self.hosts)
        if i >= 60:
            raise ValueError("a sandbox holds at most 60 hosts")
        net = ipaddress.ip_network(f"10.213.{self.subnet}.{4 * i}/30")
        gateway, address = (str(a) for a in list(net.hosts())[:2])
        root = self.workdir / name
        for sub in ("boot", "etc_upper", "etc_work", "run/sshd", "files", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "run" / "sshd").chmod(0o755)
        host = SandboxHost(
            name=name, netns=f"lab-sbx-{self.tag}-{i}", veth=f"lsb{self.tag}{i}",
            address=address, gateway=gateway, root=root,
            hostvars=dict(hostvars), groups=list(groups or []),
        )
        self.hosts.append(host)
        return host

    def start(self) -> None:
        """Create the namespaces and start every host's sshd; wait until each answers."""
        for host in self.hosts:
            if host.proc is None:
                self._start_host(host)
        for host in self.hosts:
            self._wait_ssh(host)

    def _start_host(self, host: SandboxHost) -> None:
        r = host.root
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(r / "ssh_host_ed25519_key"))
        shutil.copyfile(f"{self.key}.pub", r / "authorized_keys")
        (r / "sshd_config").write_text(
            "\n".join([
                f"ListenAddress {host.address}",
                "Port 22",
                f"HostKey {r / 'ssh_host_ed25519_key'}",
                f"AuthorizedKeysFile {r / 'authorized_keys'}",
                f"PidFile {r / 'sshd.pid'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "UseDNS no",
                "PrintMotd no",
                "MaxSessions 50",
                "MaxStartups 50",
                "Subsystem sftp internal-sftp",
                "LogLevel ERROR",
                "",
            ]),
            encoding="utf-8",
        )
        _run("ip", "netns", "add", host.netns)
        try:
            _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", f"{host.veth}p")
            _run("ip", "link", "set", f"{host.veth}p", "netns", host.netns)
            _run("ip", "addr", "add", f"{host.gateway}/30", "dev", host.veth)
            _run("ip", "link", "set", host.veth, "up")
            ns = ("ip", "netns", "exec", host.netns)
            _run(*ns, "ip", "link", "set", "lo", "up")
            _run(*ns, "ip", "link", "set", f"{host.veth}p", "name", "eth0")
            _run(*ns, "ip", "addr", "add", f"{host.address}/30", "dev", "eth0")
            _run(*ns, "ip", "link", "set", "eth0", "up")
            q = shlex.quote
            script = " && ".join([
                f"mount --bind {q(str(r / 'boot'))} /boot",
                "mount -t overlay lab-sandbox-etc -o "
                + q(f"lowerdir=/etc,upperdir={r / 'etc_upper'},workdir={r / 'etc_work'}") + " /etc",
                f"mount --bind {q(str(r / 'run'))} /run",
                f"exec {SSHD} -D -e -f {q(str(r / 'sshd_config'))}",
            ])
            log = open(r / "sshd.log", "wb")  # noqa: SIM115 - kept open for the daemon's life
            host.proc = subprocess.Popen(
                [*ns, "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        except BaseException:
            self._stop_host(host)
            raise

    def _wait_ssh(self, host: SandboxHost, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if host.proc is not None and host.proc.poll() is not None:
                break
            try:
                with socket.create_connection((host.address, 22), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        log = (host.root / "sshd.log").read_text(errors="replace")
        raise SandboxUnavailable(f"sshd of sandbox host {host.name} did not start: {log.strip()}")

    # -- using ------------------------------------------------------------
    def inventory(self, groups: dict[str, list[str]] | None = None,
                  children: dict[str, list[str]] | None = None,
                  allvars: dict[str, Any] | None = None, controller: bool = False) -> Path:
        """Write an Ansible inventory for the hosts and return its path.

        Group membership comes from each host's ``groups`` plus ``groups``;
        ``children`` declares parent groups (e.g. k3s_cluster: [server, agent]).
        ``controller`` adds this machine as ``localhost`` in group ``controller``
        (local connection), as the project's inventories have it.
        """
        members: dict[str, list[str]] = {}
        for host in self.hosts:
            for g in host.groups:
                members.setdefault(g, []).append(host.name)
        for g, names in (groups or {}).items():
            members.setdefault(g, []).extend(names)
        hosts = {}
        for h in self.hosts:
            hosts[h.name] = {
                "ansible_host": h.address,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                                           " -o LogLevel=ERROR",
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_remote_tmp": str(h.root / "tmp"),
                **h.hostvars,
            }
        inv: dict[str, Any] = {"all": {"hosts": hosts, "vars": dict(allvars or {}), "children": {}}}
        if controller:
            members.setdefault("controller", []).append("localhost")
            hosts["localhost"] = {"ansible_connection": "local",
                                  "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
        for g, names in members.items():
            inv["all"]["children"][g] = {"hosts": {n: {} for n in names}}
        for parent, kids in (children or {}).items():
            inv["all"]["children"].setdefault(parent, {})["children"] = {k: {} for k in kids}
        path = self.workdir / "inventory.yml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False), encoding="utf-8")
        return path

    def env_overrides(self) -> dict[str, str]:
        """Environment for ansible-playbook against the sandbox (own SSH control sockets)."""
        return {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.workdir / "cp")}

    # -- cleaning up ------------------------------------------------------
    def _stop_host(self, host: SandboxHost) -> None:
        pids: set[int] = set()
        listed = _run("ip", "netns", "pids", host.netns, check=False)
        pids.update(int(p) for p in listed.stdout.split() if p.isdigit())
        if host.proc is not None:
            pids.add(host.proc.pid)
        for sig in (15, 9):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and any(_alive(p) for p in pids):
                if host.proc is not None:
                    host.proc.poll()
                time.sleep(0.05)
        if host.proc is not None:
            try:
                host.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        _run("ip", "link", "del", host.veth, check=False)
        _run("ip", "netns", "del", host.netns, check=False)

    def close(self) -> None:
        """Stop every host and remove its namespace and veth pair (safe to call twice)."""
        for host in self.hosts:
            self._stop_host(host)
            host.proc = None
        for mountpoint in self.created_mountpoints:
            try:
                mountpoint.rmdir()  # only if still empty and unused
            except OSError:
                pass
        self.created_mountpoints = []

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False
