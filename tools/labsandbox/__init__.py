"""Sandbox hosts: a simulated cluster on one Linux machine (``./lab sandbox``, and the tests).

Each host is a network namespace on a private /30 (10.213.S.4i+2, this machine
at 10.213.S.4i+1 on the other end of a veth pair) running its own sshd inside
private mount and UTS namespaces (its host name is its name), where:

- ``/boot`` is the host's own directory (so ``/boot/firmware/cmdline.txt`` or
  ``/boot/cmdline.txt`` are the host's alone);
- ``/etc`` is an overlay whose upper layer is the host's own (``/etc/fstab``,
  ``/etc/dphys-swapfile``: every write lands in the host's directory, never in
  the real ``/etc``);
- ``/run`` (and so ``/var/run``) is the host's own directory: systemctl there
  cannot reach this machine's service manager;
- ``/var/tmp`` is the host's own directory, as a machine's disk is its own: the
  ssh backend's work folders (``lab_remote_dir``) of two hosts never meet;
- ``/root`` (the hosts' user's home) is the host's own, empty directory: a login
  there does not run this machine's shell start-up files (a pyenv in root's
  .bashrc made every SSH command of every host wait on one stale lock).

With limits (``HostLimits``) a host also has a cgroup (``labsandbox.cgroups``)
capping its CPUs and memory; sshd starts inside it, so everything SSH starts
there is capped too, and the host reads its cap as its cores. Its link can be
shaped to a rate (``tc ... tbf`` on both ends of the veth).

The hosts share this machine's kernel, processes and the rest of its root file
system (python3, ffmpeg and rsync are the machine's). Nothing is created
outside the sandbox's work directory except the namespaces, veth pairs and
cgroups, all named ``lab-sbx-<id>-<n>`` / ``lsb<id>-<n>``. ``state.json`` in
the work directory is written before each of them is made, so ``teardown()``
(``./lab sandbox down``) removes everything even after a crash, and sweeps
leftovers by their name prefix too.
"""
from __future__ import annotations

import ipaddress
import itertools
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labsandbox import cgroups
from labsandbox.limits import HostLimits, rate_bits_per_s

SSHD = "/usr/sbin/sshd"
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "ssh", "ssh-keygen")
NETNS_PREFIX = "lab-sbx-"
VETH_PREFIX = "lsb"
STATE_FILE = "state.json"
MARKER_FILE = ".lab-sandbox"
INVENTORY_MARKER = "# Written by ./lab sandbox (labsandbox); removed by ./lab sandbox down."
MAX_HOSTS = 60
_ID = re.compile(r"^[a-z0-9]{1,8}$")


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


def netns_prefix(sandbox_id: str) -> str:
    """The start of every network namespace and cgroup name of a sandbox."""
    return f"{NETNS_PREFIX}{sandbox_id}-"


def veth_prefix(sandbox_id: str) -> str:
    """The start of every veth name of a sandbox (interface names are at most 15 characters)."""
    return f"{VETH_PREFIX}{sandbox_id}-"


def check_id(sandbox_id: str) -> str:
    if not _ID.match(sandbox_id):
        raise ValueError(f"sandbox id {sandbox_id!r}: 1 to 8 lower-case letters or digits"
                         " (it names namespaces, veths and cgroups)")
    return sandbox_id


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
    proc = _run("unshare", "--mount", "--uts", "--propagation", "private", "--", "sh", "-c",
                f"mount --bind {q(str(probe / 'lower'))} {q(str(probe / 'work'))} && umount {q(str(probe / 'work'))}"
                f" && mount -t overlay lab-sandbox-probe -o "
                + q(f"lowerdir=/etc,upperdir={probe / 'upper'},workdir={probe / 'work'}") + f" {q(str(probe / 'lower'))}",
                check=False)
    if proc.returncode != 0:
        raise SandboxUnavailable(f"private bind/overlay mounts do not work under {workdir}: {proc.stderr.strip()}")
    name = f"{NETNS_PREFIX}probe-{os.getpid()}"
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


def _hostname(name: str) -> str:
    """A valid host name for the host's UTS namespace (its inventory name where it is one)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", name).strip("-")[:63] or "sandbox"


def _write_json(path: Path, data: Any) -> None:
    """Replace path atomically: a crash leaves the old state or the new, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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
    limits: HostLimits = field(default_factory=HostLimits)
    cgroup: list[Path] = field(default_factory=list)   # its cgroup's directories (none without limits)
    pid: int | None = None                              # the host's first process (sshd), also after attach()
    stopped: bool = False                               # cut off by stop_host(), as by a power failure

    @property
    def started(self) -> bool:
        return self.pid is not None and not self.stopped

    # Files the host sees, by their in-host path, prepared before start().
    def real_path(self, path: str) -> Path:
        """Where an in-host path under /boot, /etc (upper layer), /run or /var/tmp lives for setup."""
        for prefix, sub in (("/boot", "boot"), ("/etc", "etc_upper"), ("/var/run", "run"), ("/run", "run"),
                            ("/var/tmp", "var_tmp")):
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
        """Run a command inside the host: its mount, network and UTS namespaces and its cgroup."""
        assert self.pid is not None, "host not started"
        dirs = list(self.cgroup)
        return subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-n", "-u", "--", *argv],
            capture_output=True, text=True, check=False,
            preexec_fn=(lambda: cgroups.join(dirs)) if dirs else None,
        )

    def read(self, path: str) -> str | None:
        """The content of an in-host file as the host sees it, or None if it does not exist."""
        proc = self.exec("cat", "--", path)
        return proc.stdout if proc.returncode == 0 else None

    def exists(self, path: str) -> bool:
        return self.exec("test", "-e", path).returncode == 0

    def answers(self, timeout: float = 1.0) -> bool:
        """Whether its sshd answers on port 22 now: its banner, not just a connection (a proxy on
        the default route may accept connections to any address, a gone host's too)."""
        try:
            with socket.create_connection((self.address, 22), timeout=timeout) as conn:
                conn.settimeout(timeout)
                return conn.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def to_state(self) -> dict[str, Any]:
        return {
            "name": self.name, "netns": self.netns, "veth": self.veth, "address": self.address,
            "gateway": self.gateway, "root": str(self.root), "groups": self.groups,
            "limits": self.limits.as_dict(), "cgroup": [str(p) for p in self.cgroup],
            "pid": self.proc.pid if self.proc is not None else self.pid, "stopped": self.stopped,
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> SandboxHost:
        limits = data.get("limits") or {}
        return cls(
            name=data["name"], netns=data["netns"], veth=data["veth"], address=data["address"],
            gateway=data["gateway"], root=Path(data["root"]), groups=list(data.get("groups") or []),
            limits=HostLimits(limits.get("cpus"), limits.get("memory_bytes"), limits.get("rate")),
            cgroup=[Path(p) for p in data.get("cgroup") or []], pid=data.get("pid"),
            stopped=bool(data.get("stopped")),
        )


class Sandbox:
    """A set of sandbox hosts sharing one client key, one known_hosts file and one inventory.

    ``sandbox_id`` (1–8 lower-case letters or digits) names its namespaces, veths and cgroups
    (``lab-sbx-<id>-<n>``, ``lsb<id>-<n>``): give each sandbox that may run at the same time its
    own. ``limits`` are every host's caps unless add_host() gives others.
    """

    def __init__(self, workdir: Path, *, sandbox_id: str | None = None, limits: HostLimits | None = None) -> None:
        reason = unavailable_reason()
        if reason:
            raise SandboxUnavailable(reason)
        self.workdir = Path(workdir).absolute()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / MARKER_FILE).write_text("a lab sandbox's work directory\n", encoding="utf-8")
        self.tag = check_id(sandbox_id) if sandbox_id else _free_tag()
        self.limits = limits or HostLimits()
        self.hosts: list[SandboxHost] = []
        self.inventory_paths: list[Path] = []
        self.created_mountpoints: list[Path] = []
        self.cgroup_layout: cgroups.CgroupLayout | None = None
        self.key = self.workdir / "id_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self.subnet = 0
        self._save_state()  # the id first: a crash from here on is cleaned up by teardown()
        _probe(self.workdir)
        if self.limits.capped:
            self._layout()
        self.subnet = _pick_subnet()
        # Mount points the hosts' private mounts need on the real file system:
        # created when missing (a container may have no /boot), removed again by close().
        for mountpoint in (Path("/boot"),):
            if not mountpoint.exists():
                self.created_mountpoints.append(mountpoint)
                self._save_state()
                mountpoint.mkdir()
        if not self.key.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-sandbox-client", "-f", str(self.key))
        self.key.chmod(0o600)
        (self.workdir / "cp").mkdir(exist_ok=True)
        self._save_state()

    @classmethod
    def attach(cls, workdir: Path) -> Sandbox:
        """The sandbox whose state is in workdir (started by another process, e.g. ./lab sandbox up)."""
        workdir = Path(workdir).absolute()
        try:
            data = json.loads((workdir / STATE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no sandbox in {workdir} (no {STATE_FILE}): start one with ./lab sandbox up N") \
                from None
        box = cls.__new__(cls)
        box.workdir = workdir
        box.tag = data["id"]
        limits = data.get("limits") or {}
        box.limits = HostLimits(limits.get("cpus"), limits.get("memory_bytes"), limits.get("rate"))
        box.hosts = [SandboxHost.from_state(h) for h in data.get("hosts") or []]
        box.inventory_paths = [Path(p) for p in data.get("inventories") or []]
        box.created_mountpoints = [Path(p) for p in data.get("created_mountpoints") or []]
        layout = data.get("cgroup_layout")
        box.cgroup_layout = (cgroups.CgroupLayout(layout["version"], Path(layout["cpu_root"]),
                                                  Path(layout["memory_root"])) if layout else None)
        box.key = Path(data.get("key") or workdir / "id_ed25519")
        box.known_hosts = Path(data.get("known_hosts") or workdir / "known_hosts")
        box.subnet = int(data.get("subnet") or 0)
        return box

    def _layout(self) -> cgroups.CgroupLayout:
        if self.cgroup_layout is None:
            try:
                self.cgroup_layout = cgroups.detect_layout()
            except cgroups.CgroupUnavailable as exc:
                raise SandboxUnavailable(str(exc)) from exc
        return self.cgroup_layout

    # -- state --------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.workdir / STATE_FILE

    def _save_state(self) -> None:
        _write_json(self.state_path, {
            "version": 1, "id": self.tag, "workdir": str(self.workdir), "subnet": self.subnet,
            "limits": self.limits.as_dict(), "key": str(self.key), "known_hosts": str(self.known_hosts),
            "inventories": [str(p) for p in self.inventory_paths],
            "created_mountpoints": [str(p) for p in self.created_mountpoints],
            "cgroup_layout": self.cgroup_layout.as_dict() if self.cgroup_layout else None,
            "hosts": [h.to_state() for h in self.hosts],
        })

    # -- building ---------------------------------------------------------
    def add_host(self, name: str, groups: list[str] | None = None, *, limits: HostLimits | None = None,
                 **hostvars: Any) -> SandboxHost:
        """Declare a host; prepare its files with put() before start()."""
        i = len(self.hosts)
        if i >= MAX_HOSTS:
            raise ValueError(f"a sandbox holds at most {MAX_HOSTS} hosts")
        if any(h.name == name for h in self.hosts):
            raise ValueError(f"host {name!r} is already in the sandbox")
        net = ipaddress.ip_network(f"10.213.{self.subnet}.{4 * i}/30")
        gateway, address = (str(a) for a in list(net.hosts())[:2])
        root = self.workdir / name
        for sub in ("boot", "etc_upper", "etc_work", "run/sshd", "files", "tmp", "var_tmp", "home"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "run" / "sshd").chmod(0o755)
        (root / "var_tmp").chmod(0o1777)  # as /var/tmp is
        (root / "home").chmod(0o700)  # as /root is
        host = SandboxHost(
            name=name, netns=f"{netns_prefix(self.tag)}{i}", veth=f"{veth_prefix(self.tag)}{i}",
            address=address, gateway=gateway, root=root,
            hostvars=dict(hostvars), groups=list(groups or []), limits=limits or self.limits,
        )
        if host.limits.capped:
            self._layout()
        self.hosts.append(host)
        self._save_state()
        return host

    def start(self) -> None:
        """Create the namespaces and start every host's sshd; wait until each answers."""
        for host in self.hosts:
            if host.proc is None and host.pid is None:
                self._start_host(host)
        for host in self.hosts:
            if not host.stopped:
                self._wait_ssh(host)
        self._write_known_hosts()

    def _write_sshd_config(self, host: SandboxHost) -> None:
        r = host.root
        if not (r / "ssh_host_ed25519_key").exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{host.name}-host-key",
                 "-f", str(r / "ssh_host_ed25519_key"))
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

    def _start_host(self, host: SandboxHost) -> None:
        r = host.root
        self._write_sshd_config(host)
        try:
            if host.limits.capped:
                layout = self._layout()
                host.cgroup = layout.dirs(host.netns)
                self._save_state()
                try:
                    cgroups.create(layout, host.netns, host.limits.cpus or float(os.cpu_count() or 1),
                                   host.limits.memory_bytes or _machine_memory())
                except cgroups.CgroupUnavailable as exc:
                    raise SandboxUnavailable(str(exc)) from exc
            self._save_state()
            _run("ip", "netns", "add", host.netns)
            _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", f"{host.veth}p")
            _run("ip", "link", "set", f"{host.veth}p", "netns", host.netns)
            _run("ip", "addr", "add", f"{host.gateway}/30", "dev", host.veth)
            _run("ip", "link", "set", host.veth, "up")
            # nsenter, not `ip netns exec`: that one remounts /sys, which hides /sys/fs/cgroup
            # (the host could not read its own CPU quota).
            ns = ("nsenter", f"--net=/run/netns/{host.netns}", "--")
            _run(*ns, "ip", "link", "set", "lo", "up")
            _run(*ns, "ip", "link", "set", f"{host.veth}p", "name", "eth0")
            _run(*ns, "ip", "addr", "add", f"{host.address}/30", "dev", "eth0")
            _run(*ns, "ip", "link", "set", "eth0", "up")
            if host.limits.rate:
                self._shape(host, ns)
            q = shlex.quote
            script = " && ".join([
                f"hostname {q(_hostname(host.name))}",
                f"mount --bind {q(str(r / 'boot'))} /boot",
                "mount -t overlay lab-sandbox-etc -o "
                + q(f"lowerdir=/etc,upperdir={r / 'etc_upper'},workdir={r / 'etc_work'}") + " /etc",
                f"mount --bind {q(str(r / 'run'))} /run",
                f"mount --bind {q(str(r / 'var_tmp'))} /var/tmp",
                f"mount --bind {q(str(r / 'home'))} /root",
                f"exec {SSHD} -D -e -f {q(str(r / 'sshd_config'))}",
            ])
            dirs = list(host.cgroup)
            with open(r / "sshd.log", "wb") as log:
                host.proc = subprocess.Popen(
                    [*ns, "unshare", "--mount", "--uts", "--propagation", "private", "--", "sh", "-c", script],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                    # Into the cgroup before anything runs: sshd and all it starts inherit it.
                    preexec_fn=(lambda: cgroups.join(dirs)) if dirs else None,
                )
            host.pid = host.proc.pid
            self._save_state()
        except BaseException:
            self._stop_host(host)
            raise

    @staticmethod
    def _shape(host: SandboxHost, ns: tuple[str, ...]) -> None:
        """A token bucket on both ends of the veth: the rate each way, as a real link has."""
        rate = host.limits.rate or ""
        # The bucket must hold at least one timer tick of traffic; 10 ms of it, at least 3 full frames.
        burst = str(max(4500, int(rate_bits_per_s(rate) / 8 / 100)))
        tbf = ("qdisc", "add", "dev")
        _run("tc", *tbf, host.veth, "root", "tbf", "rate", rate, "burst", burst, "latency", "50ms")
        _run(*ns, "tc", *tbf, "eth0", "root", "tbf", "rate", rate, "burst", burst, "latency", "50ms")

    def _wait_ssh(self, host: SandboxHost, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if host.proc is not None and host.proc.poll() is not None:
                break
            if host.answers(timeout=1):
                return
            time.sleep(0.1)
        log = (host.root / "sshd.log").read_text(errors="replace")
        raise SandboxUnavailable(f"sshd of sandbox host {host.name} did not start: {log.strip()}")

    def _write_known_hosts(self) -> None:
        """Each host's address with its host key: SSH checks it strictly, nothing is trusted blindly."""
        lines = []
        for host in self.hosts:
            pub = (host.root / "ssh_host_ed25519_key.pub").read_text(encoding="ascii").split()
            lines.append(f"{host.address} {pub[0]} {pub[1]}\n")
        self.known_hosts.write_text("".join(lines), encoding="ascii")

    # -- using ------------------------------------------------------------
    def ssh_common_args(self) -> str:
        """SSH options for the hosts: their recorded keys, checked strictly."""
        return (f"-o UserKnownHostsFile={shlex.quote(str(self.known_hosts))} -o StrictHostKeyChecking=yes"
                " -o LogLevel=ERROR")

    def ssh_command(self, host: SandboxHost) -> list[str]:
        """How to log in to a host by hand (an argument list)."""
        return ["ssh", "-i", str(self.key), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", f"root@{host.address}"]

    def inventory(self, groups: dict[str, list[str]] | None = None,
                  children: dict[str, list[str]] | None = None,
                  allvars: dict[str, Any] | None = None, controller: bool = False,
                  path: Path | None = None) -> Path:
        """Write an Ansible inventory for the hosts and return its path (default: the work
        directory's inventory.yml).

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
                "ansible_ssh_common_args": self.ssh_common_args(),
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
        target = Path(path).absolute() if path is not None else self.workdir / "inventory.yml"
        if target not in self.inventory_paths:
            self.inventory_paths.append(target)
            self._save_state()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"---\n{INVENTORY_MARKER}\n" + yaml.safe_dump(inv, sort_keys=False), encoding="utf-8")
        return target

    def env_overrides(self) -> dict[str, str]:
        """Environment for ansible-playbook against the sandbox (own SSH control sockets)."""
        return {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.workdir / "cp")}

    def host(self, name: str) -> SandboxHost:
        """The host called name (KeyError naming the hosts there are)."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no sandbox host {name!r} (hosts: {', '.join(h.name for h in self.hosts) or 'none'})")

    def status(self) -> list[dict[str, Any]]:
        """Each host: name, address, caps, whether it is up (not stopped) and answers on port 22."""
        return [{"name": h.name, "address": h.address, "limits": h.limits, "stopped": h.stopped,
                 "answers": (not h.stopped) and h.answers(timeout=1)} for h in self.hosts]

    # -- failing and cleaning up -----------------------------------------
    def stop_host(self, name: str) -> SandboxHost:
        """Cut a host off as a power failure would: every process in it SIGKILLed at once, its
        link and namespace gone (its address stops answering). The host stays in the inventory."""
        host = self.host(name)
        self._stop_host(host, graceful=False)
        host.stopped = True
        self._save_state()
        return host

    def _host_pids(self, host: SandboxHost) -> set[int]:
        pids: set[int] = set(cgroups.pids(host.cgroup))
        listed = _run("ip", "netns", "pids", host.netns, check=False)
        pids.update(int(p) for p in listed.stdout.split() if p.isdigit())
        if host.proc is not None:
            pids.add(host.proc.pid)
        elif host.pid is not None and _is_host_process(host.pid, host.root):
            pids.add(host.pid)
        return pids

    def _stop_host(self, host: SandboxHost, graceful: bool = True) -> list[str]:
        """Stop a host's processes and remove its veth, namespace and cgroup; the problems left."""
        if not graceful:
            cgroups.kill_all(host.cgroup)  # all at once, before any of them can notice
        pids = self._host_pids(host)
        for sig in (signal.SIGTERM, signal.SIGKILL) if graceful else (signal.SIGKILL,):
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
        cgroups.kill_all(host.cgroup)
        if host.proc is not None:
            try:
                host.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        _run("ip", "link", "del", host.veth, check=False)
        _run("ip", "netns", "del", host.netns, check=False)
        return cgroups.remove(host.cgroup)

    def close(self) -> None:
        """Stop every host and remove its namespace, veth pair and cgroup (safe to call twice)."""
        for host in self.hosts:
            self._stop_host(host)
            host.proc = None
            host.stopped = True
        for mountpoint in self.created_mountpoints:
            try:
                mountpoint.rmdir()  # only if still empty and unused
            except OSError:
                pass
        self.created_mountpoints = []
        self._save_state()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _machine_memory() -> int:
    """The memory a host may use without --mem: the machine's (a cgroup needs a value in v1)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


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


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def _is_host_process(pid: int, root: Path) -> bool:
    """Whether pid is still a sandbox host's first process (sshd with the host's config), not a
    process that got the recorded number later."""
    return f"{root}/sshd_config" in _cmdline(pid)


def _sshd_pids_under(workdir: Path) -> set[int]:
    """sshd processes started with a configuration from workdir (leftovers a lost state forgot)."""
    found = set()
    prefix = f"{workdir}/"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = _cmdline(int(entry))
            if argv and argv[0].endswith("sshd") and any(a.startswith(prefix) and a.endswith("/sshd_config")
                                                         for a in argv):
                found.add(int(entry))
    return found


# Sandboxes of one process (a test session holds several at once) get different tags by counting,
# not by chance: two random digits collided once in a hundred pairs.
_TAG_COUNTER = itertools.count(random.randrange(100))


def _free_tag() -> str:
    """A tag of this process's id and a counter that no namespace or veth on this machine carries."""
    for _ in range(100):
        tag = f"{os.getpid() % 10000}{next(_TAG_COUNTER) % 100:02d}"
        if not _netns_leftovers(tag) and not _veth_leftovers(tag):
            return tag
    raise SandboxUnavailable("no free sandbox id: remove the leftovers `./lab sandbox down` names")


def _netns_leftovers(sandbox_id: str) -> list[str]:
    prefix = netns_prefix(sandbox_id)
    names = [line.split()[0] for line in _run("ip", "netns", "list", check=False).stdout.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix) and n[len(prefix):].isdigit()]


def _veth_leftovers(sandbox_id: str) -> list[str]:
    prefix = veth_prefix(sandbox_id)
    found = []
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@", 1)[0]
        rest = name[len(prefix):].removesuffix("p")
        if name.startswith(prefix) and rest.isdigit():
            found.append(name)
    return found


def teardown(workdir: Path, sandbox_id: str | None = None) -> tuple[list[str], list[str]]:
    """Remove a sandbox completely, whatever state it is in: the hosts its state file names, then
    whatever still carries its name prefix (namespaces, veths, cgroups, sshd processes with a
    configuration in workdir), the mount points it created, the inventories it wrote and workdir.
    Returns (what was done, what could not be), in words."""
    workdir = Path(workdir).absolute()
    done: list[str] = []
    problems: list[str] = []
    box: Sandbox | None = None
    if (workdir / STATE_FILE).exists():
        try:
            box = Sandbox.attach(workdir)
        except (ValueError, KeyError, OSError) as exc:
            problems.append(f"{workdir / STATE_FILE} unreadable ({exc}); removing by name prefix only")
    sandbox_id = sandbox_id or (box.tag if box else None)
    if box is not None:
        for host in box.hosts:
            problems += box._stop_host(host, graceful=False)
            if not host.stopped:
                done.append(f"stopped {host.name}")
    if sandbox_id:
        check_id(sandbox_id)
        for pid in _sshd_pids_under(workdir):
            _kill(pid)
            done.append(f"killed leftover sshd {pid}")
        try:
            layout = box.cgroup_layout if box and box.cgroup_layout else cgroups.detect_layout()
        except cgroups.CgroupUnavailable:
            layout = None
        for name in _netns_leftovers(sandbox_id):
            listed = _run("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in (int(p) for p in listed if p.isdigit()):
                _kill(pid)
            _run("ip", "netns", "del", name, check=False)
            done.append(f"removed network namespace {name}")
        for name in _veth_leftovers(sandbox_id):
            if _run("ip", "link", "del", name, check=False).returncode == 0:
                done.append(f"removed veth {name}")
        if layout is not None:
            for name, dirs in cgroups.leftovers(layout, netns_prefix(sandbox_id)).items():
                cgroups.kill_all(dirs)
                problems += cgroups.remove(dirs)
                done.append(f"removed cgroup {name}")
    if box is not None:
        for mountpoint in box.created_mountpoints:
            try:
                mountpoint.rmdir()
                done.append(f"removed mount point {mountpoint}")
            except OSError:
                pass
        for inventory in box.inventory_paths:
            if _written_by_sandbox(inventory):
                inventory.unlink()
                done.append(f"removed {inventory}")
    if (workdir / MARKER_FILE).exists():
        shutil.rmtree(workdir, ignore_errors=True)
        done.append(f"removed {workdir}")
    return done, problems


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _written_by_sandbox(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return INVENTORY_MARKER in fh.read(4096)
    except OSError:
        return False


__all__ = [
    "HostLimits", "Sandbox", "SandboxHost", "SandboxUnavailable", "teardown", "unavailable_reason",
]
