"""A real, upstream Kubernetes on this machine: `./lab kube up | status | down`.

Not K3s: the same API server, scheduler, Job controller and kubelet K3s embeds, built
from source (labkube.build) at the Kubernetes version of the kit's K3s pin, with
Debian's etcd, containerd, runc and CNI plugins. One node runs on this machine; a
second node can run inside a sandbox host (labsandbox) with its own containerd and
kubelet, so that scheduling across nodes, spreading and draining are real.

Everything it makes lives under its work folder (certificates, etcd's data,
containerd's root and state, the kubelets' folders, logs) except what the kernel
keeps elsewhere: the processes (their ids and start times are in state.json, written
before each starts), one cgroup tree per node (`lab-kube-<node>`), the pods' bridge
(`labkube<n>`), and what a kubelet, containerd's shims and the CNI plugins write in
/var/log/containers, /run/containerd and /var/lib/cni. `down` stops the
processes by id, unmounts what they mounted, and removes all of it.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from shutil import which
from typing import Any, Callable, Mapping

from labkube import build, configs, images, pki
from labkube.versions import KUBERNETES_VERSION
from labsandbox import cgroups

STATE_FILE = "state.json"
MARKER_FILE = ".lab-kube"
CLUSTER_NAME = "kube-local"
API_PORT = 6443
ETCD_CLIENT_PORT = 2479   # not etcd's default 2379: a machine may run its own etcd
ETCD_PEER_PORT = 2480
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
CNI_BIN_DIR = Path("/usr/lib/cni")
# The Debian packages this needs, with the program each provides.
PROGRAMS = {"etcd": "etcd-server", "containerd": "containerd", "runc": "runc", "ctr": "containerd",
            "openssl": "openssl", "debootstrap": "debootstrap", "gcc": "gcc", "ip": "iproute2"}
CGROUP_V1_ROOT = Path("/sys/fs/cgroup")
# The sandbox (labsandbox) that holds nodes 2..N: its namespaces are lab-sbx-lkube-<n>.
SANDBOX_ID = "lkube"
# Where a kubelet, containerd's shims and the CNI plugins write outside the work folder.
OUTSIDE_FOLDERS = ("/var/log/containers", "/var/lib/cni", "/var/lib/cni/results", "/run/containerd",
                   "/run/containerd/s")


class KubeError(Exception):
    """Something the local cluster cannot do; the message says which step and what to do."""


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether `pid` runs and is the process we started (same start time), not a reused id."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return False
    return started is None or fields[19] == started


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def node_address() -> str:
    """This machine's address on its default route: what the kubelet registers and the API
    server advertises (the Endpoints API refuses loopback addresses)."""
    route = subprocess.run(["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True, text=True)
    words = route.stdout.split()
    if route.returncode == 0 and "src" in words:
        return words[words.index("src") + 1]
    addrs = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    for line in addrs.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            return parts[parts.index("inet") + 1].split("/")[0]
    raise KubeError("this machine has no IPv4 address other than loopback: the API server needs one to advertise")


@dataclass
class Node:
    """One kubelet and its containerd."""

    name: str
    index: int                 # 1, 2, ...: its pod subnet 10.244.<index>.0/24 and bridge labkube<index>
    address: str
    server: bool
    netns_pid: int | None = None   # run inside this process's namespaces (a sandbox host), else here
    api_address: str = "127.0.0.1"  # where its kubelet reaches the API server
    connection: dict[str, Any] = field(default_factory=dict)  # Ansible's variables for reaching its host

    @property
    def cgroup_root(self) -> str:
        return f"/lab-kube-{self.name}"

    @property
    def bridge(self) -> str:
        return f"labkube{self.index}"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"


class LocalKube:
    """The local cluster in `workdir`; binaries and images cached in `cache`."""

    def __init__(self, workdir: Path, cache: Path, log: Callable[[str], None] = print) -> None:
        self.workdir = workdir.absolute()
        self.cache = cache.absolute()
        self.log = log
        self.state: dict[str, Any] = {"processes": [], "nodes": [], "cgroups": [], "bridges": [], "created": []}

    # ---- paths -------------------------------------------------------------------------
    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    def node_dir(self, node: Node) -> Path:
        return self.workdir / "nodes" / node.name

    def containerd_socket(self, node: Node) -> Path:
        return self.node_dir(node) / "containerd.sock"

    @property
    def node_storage(self) -> Path:
        """The path every node's folder for the workload pods has (the inventory's lab_node_storage).

        Node 1 (this machine) has it for real; each sandbox node has a folder of its own in its
        node directory, bind-mounted at this path in the namespaces that node's SSH sessions
        and its containerd and kubelet see: a pod reads and writes the folder of its own node,
        as on Pis, so a file fetched from the wrong node is missing here too."""
        return self.workdir / "storage"

    def own_storage(self, name: str) -> Path:
        """A sandbox node's own storage folder (see node_storage)."""
        return self.workdir / "nodes" / name / "storage"

    # ---- state ---------------------------------------------------------------------------
    def _save(self) -> None:
        path = self.workdir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(path)

    def load(self) -> bool:
        path = self.workdir / STATE_FILE
        if not path.exists():
            return False
        self.state = json.loads(path.read_text())
        return True

    # ---- checks --------------------------------------------------------------------------
    @staticmethod
    def missing_programs() -> list[str]:
        """Debian packages whose programs are missing (install them with apt-get)."""
        return sorted({package for program, package in PROGRAMS.items() if which(program) is None})

    def preflight(self) -> None:
        if os.geteuid() != 0:
            raise KubeError("a local Kubernetes needs root (containerd, the kubelet's mounts and cgroups): sudo ./lab kube up")
        missing = self.missing_programs()
        if missing:
            raise KubeError(f"missing Debian packages: {' '.join(missing)} (./lab kube up installs them; "
                            "or apt-get install them)")
        if not CGROUP_V1_ROOT.joinpath("cpu").is_dir() and not CGROUP_V1_ROOT.joinpath("cgroup.controllers").exists():
            raise KubeError("no cgroup file system at /sys/fs/cgroup: the kubelet cannot run here")
        if not str(self.workdir).isascii():
            raise KubeError(f"the kubelet takes only ASCII paths for its pod logs, and {self.workdir} is not: "
                            "choose another --workdir")
        if (self.workdir / STATE_FILE).exists():
            raise KubeError(f"a local Kubernetes is already in {self.workdir}: ./lab kube status, or ./lab kube down first")
        if self.workdir.exists() and any(self.workdir.iterdir()) and not (self.workdir / MARKER_FILE).exists():
            raise KubeError(f"{self.workdir} is not empty and not a local Kubernetes' folder: down would delete it; "
                            "choose another --workdir")
        busy = [port for port in (API_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, 10250, 10257, 10259) if _port_in_use(port)]
        if busy:
            raise KubeError(f"ports {', '.join(map(str, busy))} are in use on this machine: {_who_runs()}")

    # ---- processes ------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], node: Node | None = None, env: Mapping[str, str] | None = None,
               *, join_mounts_of: int | None = None) -> int:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        if node is not None and node.netns_pid:
            # Its network and host name, not the sandbox host's mounts: its private /root, /run
            # and /var/tmp would hide the binaries' cache and a work folder there. Instead the
            # node's containerd gets a mount namespace of its own (a copy of this machine's,
            # receiving its later mounts) where the node's storage folder sits at the shared
            # path, and its kubelet joins it: the volumes the kubelet mounts must be the ones
            # runc sees.
            if join_mounts_of is not None:
                argv = ["nsenter", "-t", str(join_mounts_of), "--net", "--uts", "--mount", "--", *argv]
            else:
                argv = ["nsenter", "-t", str(node.netns_pid), "--net", "--uts", "--",
                        "unshare", "--mount", "--propagation", "slave", "--",
                        "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"', "labkube-node",
                        str(self.own_storage(node.name)), str(self.node_storage), *argv]
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=dict(os.environ, **(env or {})))
        self.state["processes"].append({"name": name, "pid": proc.pid, "started": _start_time(proc.pid),
                                        "log": str(log_path), "argv": argv})
        self._save()
        return proc.pid

    def _wait(self, what: str, ready: Callable[[], bool], processes: str | list[str],
              timeout_s: float) -> None:
        """Poll `ready` until it holds; fail early when one of `processes` died, with its log's tail."""
        names = [processes] if isinstance(processes, str) else list(processes)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            for name in names:
                entry = self._process(name)
                if entry is not None and not _alive(entry["pid"], entry["started"]):
                    raise KubeError(f"{name} exited while starting {what}; its log ({entry['log']}) ends:\n"
                                    + _tail(Path(entry["log"])))
            time.sleep(0.5)
        tails = "".join(f"\n--- {name} ({entry['log']}):\n{_tail(Path(entry['log']))}"
                        for name in names if (entry := self._process(name)) is not None)
        raise KubeError(f"{what} not ready after {timeout_s:.0f} s{tails}")

    def restart(self, name: str) -> int:
        """Stop one of the cluster's processes and start it again with the same command line
        (a kubelet re-registers its deleted Node only when it starts)."""
        entry = self._process(name)
        if entry is None:
            raise KubeError(f"no process {name} in this cluster")
        _stop(entry)
        self.state["processes"].remove(entry)
        logs = Path(entry["log"])
        with open(logs, "ab") as out:
            proc = subprocess.Popen(entry["argv"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.state["processes"].append(dict(entry, pid=proc.pid, started=_start_time(proc.pid)))
        self._save()
        return proc.pid

    def pid_of(self, name: str) -> int:
        entry = self._process(name)
        if entry is None or not _alive(entry["pid"], entry["started"]):
            raise KubeError(f"{name} is not running")
        return int(entry["pid"])

    def _process(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.state["processes"] if p["name"] == name), None)

    # ---- API ------------------------------------------------------------------------------
    def api(self, path: str, *, method: str = "GET", body: Any = None, timeout: float = 5.0) -> Any:
        """One request to the API server as the admin user; JSON in and out."""
        context = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        context.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
        data = json.dumps(body).encode() if body is not None else None
        # PATCH bodies are JSON merge patches (RFC 7386): a field set to null is removed.
        content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
        request = urllib.request.Request(f"https://127.0.0.1:{API_PORT}{path}", data=data, method=method,
                                         headers={"Content-Type": content_type, "Accept": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            text = response.read().decode()
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def _api_ok(self, path: str) -> bool:
        try:
            return self.api(path) == "ok"
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    def ready_nodes(self) -> list[str]:
        try:
            items = self.api("/api/v1/nodes")["items"]
        except (OSError, urllib.error.URLError, ssl.SSLError, KeyError):
            return []
        return [n["metadata"]["name"] for n in items
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]

    # ---- up -------------------------------------------------------------------------------
    def up(self, *, nodes: int = 1, inventory: Path | None = None, timeout_s: float = 180.0) -> None:
        self.preflight()
        for line in self.clear_leftovers():
            self.log(line)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / MARKER_FILE).write_text("made by ./lab kube up; ./lab kube down removes this folder\n")
        self._save()
        started = time.monotonic()
        bin_dir = build.ensure_binaries(self.cache, self.log)
        image_cache = self.cache / "images"
        pause = images.pause_image(image_cache, self.log)
        worker = images.worker_image(image_cache, self.log)
        address = node_address()
        members = [Node(name="lab-kube-1", index=1, address=address, server=True,
                        connection={"ansible_connection": "local",
                                    "ansible_python_interpreter": "{{ ansible_playbook_python }}"})]
        members += self._sandbox_nodes(nodes - 1)
        self.state["nodes"] = [vars(n) for n in members]
        self.state["address"] = address
        self.state["version"] = KUBERNETES_VERSION
        self.state["images"] = {"pause": pause.name, "worker": worker.name}
        self._remember_outside()
        self._save()
        self._certificates(members, address)
        self._start_etcd()
        self._start_control_plane(bin_dir, address)
        for node in members:
            self._start_node(node, bin_dir, address, [pause, worker])
        self.log(f"waiting for {len(members)} node(s) to be Ready")
        names = [n.name for n in members]
        self._wait(f"nodes {', '.join(names)}", lambda: set(names) <= set(self.ready_nodes()),
                   [f"{kind}-{name}" for name in names for kind in ("containerd", "kubelet")], timeout_s)
        if inventory is not None:
            self.write_inventory(inventory)
        self.log(f"Kubernetes {KUBERNETES_VERSION} is up in {time.monotonic() - started:.0f} s: "
                 f"{len(members)} node(s) Ready; kubeconfig {self.admin_kubeconfig}")

    def clear_leftovers(self) -> list[str]:
        """Remove what a local cluster that was killed rather than stopped left on this machine:
        its sandbox hosts' namespaces (``lab-sbx-lkube-<n>``, a fixed name: the next up cannot
        make them again), its node cgroups and what runs in them (pods whose shims outlived
        containerd), its pod bridges and its mounts. Only when no cluster is running: the API
        server's and etcd's ports are free (preflight refuses otherwise), so nothing with these
        names belongs to a live one. Returns what was removed, in words."""
        busy = [port for port in (API_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT) if _port_in_use(port)]
        if busy:
            raise KubeError(f"ports {', '.join(map(str, busy))} are in use: {_who_runs()}; "
                            "what it made is not a leftover")
        from labsandbox import teardown
        done, problems = teardown(self.workdir / "sandbox", SANDBOX_ID)
        removed = [what for what in done if not what.startswith(f"removed {self.workdir}")]
        names = sorted({top.name for hierarchy in CGROUP_V1_ROOT.iterdir() if not hierarchy.is_symlink()
                        for top in hierarchy.glob("lab-kube-*") if top.is_dir()})
        for name in names:
            dirs = _cgroup_tree(name)
            killed = cgroups.kill_all(dirs)
            problems += cgroups.remove(dirs)
            removed.append(f"removed cgroup {name}" + (f" and the {len(killed)} process(es) in it" if killed else ""))
        links = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
        for line in links.splitlines():
            name = line.split(":", 2)[1].strip().split("@", 1)[0] if line.count(":") >= 2 else ""
            if name.startswith("labkube") and name[len("labkube"):].isdigit():
                subprocess.run(["ip", "link", "del", name], capture_output=True)
                removed.append(f"removed bridge {name}")
        for old in _old_workdirs(self.workdir):
            _kill_shims(old)
            problems += _unmount_under(old)
            removed.append(f"unmounted what the kubelet and containerd had mounted under {old}")
        if problems:
            raise KubeError("a local Kubernetes that was not stopped left what cannot be removed: "
                            + "; ".join(problems))
        if removed:
            removed.insert(0, "a local Kubernetes that was not stopped left things behind; removing them")
        return removed

    def _sandbox_nodes(self, count: int) -> list[Node]:
        """Nodes 2..N, each in a sandbox host (labsandbox: its own network, mount and UTS
        namespaces and sshd), reached by Ansible over SSH like a Pi."""
        if count <= 0:
            return []
        from labsandbox import Sandbox  # the sandbox needs sshd: only imported when used
        self.log(f"starting {count} sandbox host(s) for the other node(s)")
        box_dir = self.workdir / "sandbox"
        self.state["sandbox"] = str(box_dir)
        self._save()
        box = Sandbox(box_dir, sandbox_id=SANDBOX_ID)
        hosts = [box.add_host(f"lab-kube-{i}") for i in range(2, count + 2)]
        box.start()
        self.node_storage.mkdir(exist_ok=True)
        for host in hosts:  # what Ansible over SSH sees there: the node's own storage folder
            own = self.own_storage(host.name)
            own.mkdir(parents=True, exist_ok=True)
            done = host.exec("mount", "--bind", str(own), str(self.node_storage))
            if done.returncode != 0:
                raise KubeError(f"cannot give {host.name} its storage folder: {done.stderr.strip()}")
        inventory = sandbox_hostvars(box)
        return [Node(name=h.name, index=i, address=h.address, server=False, netns_pid=h.pid,
                     api_address=h.gateway, connection=inventory[h.name])
                for i, h in enumerate(hosts, start=2)]

    def _remember_outside(self) -> None:
        """What a kubelet, containerd and CNI write outside the work folder, as it was before:
        down removes the folders that did not exist and, in the others, only what this
        cluster added (a machine may run its own containerd or K3s beside it)."""
        self.state["outside_before"] = {}
        for path in OUTSIDE_FOLDERS:
            if Path(path).exists():
                self.state["outside_before"][path] = sorted(os.listdir(path))
            else:
                self.state["created"].append(path)

    def _remove_outside(self) -> None:
        for path in self.state.get("created", []):
            subprocess.run(["rm", "-rf", "--one-file-system", path], capture_output=True)
        before = self.state.get("outside_before", {})
        for path in ("/var/log/containers",):
            if path in before and Path(path).is_dir():
                for link in Path(path).iterdir():
                    if link.is_symlink() and not link.exists():  # its pod's logs are gone
                        link.unlink()
        for path in ("/var/lib/cni/results", "/run/containerd/s"):
            kept = set(before.get(path, []))
            if path in before and Path(path).is_dir():
                for entry in Path(path).iterdir():
                    if entry.name not in kept and (path != "/var/lib/cni/results" or entry.name.startswith("lab-kube-")):
                        subprocess.run(["rm", "-rf", "--one-file-system", str(entry)], capture_output=True)

    def _certificates(self, nodes: list[Node], address: str) -> None:
        self.log("making certificates (openssl)")
        d = self.pki_dir
        pki.ensure_ca(d)
        pki.ensure_service_account_keys(d)
        pki.ensure_cert(d, pki.Identity("apiserver", "kube-apiserver"),
                        dns_names=["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                   "kubernetes.default.svc.cluster.local", "localhost"],
                        addresses=sorted({"127.0.0.1", address, SERVICE_IP, *(n.api_address for n in nodes)}))
        pki.ensure_cert(d, pki.Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)))
        pki.ensure_cert(d, pki.Identity("admin", "lab-admin", ("system:masters",)))
        pki.ensure_cert(d, pki.Identity("controller-manager", "system:kube-controller-manager"))
        pki.ensure_cert(d, pki.Identity("scheduler", "system:kube-scheduler"))
        server = f"https://127.0.0.1:{API_PORT}"
        ca = d / "ca.crt"
        for stem, user in (("admin", "lab-admin"), ("controller-manager", "system:kube-controller-manager"),
                           ("scheduler", "system:kube-scheduler")):
            self._write_private(self.workdir / f"{stem}.kubeconfig", configs.kubeconfig(
                cluster=CLUSTER_NAME, server=server, ca=ca, cert=d / f"{stem}.crt", key=d / f"{stem}.key", user=user))
        for node in nodes:
            user = f"system:node:{node.name}"
            crt, key = pki.ensure_cert(d, pki.Identity(f"kubelet-{node.name}", user, ("system:nodes",)),
                                       dns_names=[node.name], addresses=[node.address])
            # A node in a sandbox host reaches the API server at this machine's end of its link.
            node_server = f"https://{node.api_address}:{API_PORT}"
            self._write_private(self.node_dir(node) / "kubelet.kubeconfig", configs.kubeconfig(
                cluster=CLUSTER_NAME, server=node_server, ca=ca, cert=crt, key=key, user=user))

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(path, 0o600)

    def _start_etcd(self) -> None:
        self.log("starting etcd")
        data = self.workdir / "etcd"
        client = f"http://127.0.0.1:{ETCD_CLIENT_PORT}"
        peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
        self._spawn("etcd", ["etcd", "--name", "lab-kube", "--data-dir", str(data),
                             "--listen-client-urls", client, "--advertise-client-urls", client,
                             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                             "--initial-cluster", f"lab-kube={peer}", "--initial-cluster-state", "new",
                             "--quota-backend-bytes", str(2 * 1024**3)])

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=2) as response:
                    return json.loads(response.read()).get("health") == "true"
            except (OSError, ValueError):
                return False
        self._wait("etcd", healthy, "etcd", 60)

    def _start_control_plane(self, bin_dir: Path, address: str) -> None:
        d = self.pki_dir
        self.log("starting kube-apiserver")
        self._spawn("kube-apiserver", [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
            "--bind-address=0.0.0.0", f"--secure-port={API_PORT}", f"--advertise-address={address}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--client-ca-file={d / 'ca.crt'}",
            f"--tls-cert-file={d / 'apiserver.crt'}", f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--kubelet-client-certificate={d / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={d / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={d / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC",
            # PodSecurity is on by default; NodeRestriction is what K3s enables too.
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--profiling=false",
        ])
        self._wait("the API server", lambda: self._api_ok("/readyz"), "kube-apiserver", 120)
        self.log("starting kube-controller-manager and kube-scheduler")
        self._spawn("kube-controller-manager", [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1", "--leader-elect=false",
            f"--service-account-private-key-file={d / 'sa.key'}", f"--root-ca-file={d / 'ca.crt'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Pods of a node that stops answering are evicted after this long (the default is 5 min).
            "--node-monitor-grace-period=20s",
        ])
        self._spawn("kube-scheduler", [
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={self.workdir / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={self.workdir / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={self.workdir / 'scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1", "--leader-elect=false",
        ])

    def _make_cgroup(self, node: Node) -> None:
        """The node's cgroup root in every v1 hierarchy (the kubelet needs it to exist)."""
        for hierarchy in sorted(CGROUP_V1_ROOT.iterdir()):
            if hierarchy.is_dir() and not hierarchy.is_symlink() and (hierarchy / "cgroup.procs").exists():
                (hierarchy / node.cgroup_root.lstrip("/")).mkdir(exist_ok=True)
        self.state["cgroups"].append(node.cgroup_root)
        self._save()

    def _start_node(self, node: Node, bin_dir: Path, api_address: str, local_images: list[images.LocalImage]) -> None:
        here = self.node_dir(node)
        for sub in ("containerd/root", "containerd/state", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "storage"):
            (here / sub).mkdir(parents=True, exist_ok=True)
        self.node_storage.mkdir(exist_ok=True)
        self._make_cgroup(node)
        self.state["bridges"].append({"name": node.bridge, "netns_pid": node.netns_pid})
        self._save()
        runtime_socket = self.containerd_socket(node)
        (here / "containerd.toml").write_text(configs.containerd_config(
            root=here / "containerd/root", state=here / "containerd/state", socket=runtime_socket,
            cni_conf_dir=here / "cni/net.d", cni_bin_dir=CNI_BIN_DIR, sandbox_image=local_images[0].name))
        (here / "cni/net.d/10-lab-kube.conflist").write_text(configs.cni_config(
            bridge=node.bridge, subnet=node.pod_cidr, ipam_dir=here / "cni/ipam"))
        self.log(f"starting containerd and the kubelet of {node.name}")
        containerd = self._spawn(f"containerd-{node.name}", ["containerd", "--config", str(here / "containerd.toml")], node)
        self._wait(f"containerd of {node.name}", lambda: runtime_socket.exists(), f"containerd-{node.name}", 60)
        for image in local_images:
            images.import_image(image, str(runtime_socket))
        crt, key = self.pki_dir / f"kubelet-{node.name}.crt", self.pki_dir / f"kubelet-{node.name}.key"
        (here / "kubelet.yaml").write_text(configs.kubelet_config(
            ca=self.pki_dir / "ca.crt", serving_cert=crt, serving_key=key, runtime_socket=runtime_socket,
            cgroup_root=node.cgroup_root, address=node.address, pod_cidr=node.pod_cidr, pod_logs=here / "pod-logs"))
        self._spawn(f"kubelet-{node.name}", [
            str(bin_dir / "kubelet"), f"--config={here / 'kubelet.yaml'}",
            f"--kubeconfig={here / 'kubelet.kubeconfig'}", f"--root-dir={here / 'kubelet'}",
            f"--hostname-override={node.name}", f"--node-ip={node.address}",
            f"--node-labels=lab.pi-cluster/local-node={node.index}", "--v=1",
        ], node, join_mounts_of=containerd if node.netns_pid else None)

    # ---- inventory ---------------------------------------------------------------------------
    def write_inventory(self, path: Path) -> None:
        text = configs.inventory(kubeconfig_path=self.admin_kubeconfig, nodes=self.state["nodes"],
                                 images=self.state["images"], cluster_name=CLUSTER_NAME,
                                 node_storage=self.node_storage)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.state["inventory"] = str(path)
        self._save()

    # ---- status ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What runs: each process alive or not, each node's readiness (when the API answers)."""
        processes = [{"name": p["name"], "pid": p["pid"], "alive": _alive(p["pid"], p["started"])}
                     for p in self.state["processes"]]
        return {"workdir": str(self.workdir), "version": self.state.get("version"), "processes": processes,
                "nodes": [n["name"] for n in self.state["nodes"]], "ready": self.ready_nodes(),
                "kubeconfig": str(self.admin_kubeconfig), "inventory": self.state.get("inventory")}

    # ---- down -----------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop everything this cluster started and remove what it made; return what went wrong
        (empty when all is gone)."""
        problems: list[str] = []
        kubelets = [p for p in self.state["processes"] if p["name"].startswith("kubelet-")]
        for entry in kubelets:
            _stop(entry)
        for root in self.state["cgroups"]:
            cgroups.kill_all(_cgroup_tree(root))  # the pods' containers and their pause
        for entry in reversed(self.state["processes"]):
            _stop(entry)
        _kill_shims(self.workdir)
        if self.state.get("sandbox"):
            from labsandbox import teardown
            problems += teardown(Path(self.state["sandbox"]), SANDBOX_ID)[1]
        problems += _unmount_under(self.workdir)
        for root in self.state["cgroups"]:
            problems += cgroups.remove(_cgroup_tree(root))
        for bridge in self.state["bridges"]:
            if not bridge.get("netns_pid"):  # a sandbox host's went with its namespace
                subprocess.run(["ip", "link", "del", bridge["name"]], capture_output=True)
        self._remove_outside()
        inventory = self.state.get("inventory")
        if inventory and Path(inventory).exists() and configs.INVENTORY_HEADER in Path(inventory).read_text()[:400]:
            Path(inventory).unlink()
        leftover = [p["name"] for p in self.state["processes"] if _alive(p["pid"], p["started"])]
        if leftover:
            problems.append(f"still running: {', '.join(leftover)}")
        if not problems:
            subprocess.run(["rm", "-rf", "--one-file-system", str(self.workdir)], capture_output=True)
        return problems


def sandbox_hostvars(box: Any) -> dict[str, dict[str, Any]]:
    """Each sandbox host's Ansible variables (address, key, known hosts), as labsandbox writes
    them into an inventory."""
    path = box.inventory(path=box.workdir / "hosts.yml")
    import yaml
    return dict(yaml.safe_load(path.read_text())["all"]["hosts"])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(entry: Mapping[str, Any], grace_s: float = 10.0) -> None:
    pid, started = entry["pid"], entry["started"]
    if not _alive(pid, started):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid, started):
        time.sleep(0.1)
    if _alive(pid, started):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        time.sleep(0.2)


def _cgroup_tree(root: str) -> list[Path]:
    """Every directory of the node's cgroup tree in every v1 hierarchy, deepest first (the
    kubelet nests kubepods/<qos>/<pod>/<container> under it)."""
    found: list[Path] = []
    for hierarchy in sorted(CGROUP_V1_ROOT.iterdir()):
        top = hierarchy / root.lstrip("/")
        if top.is_dir() and not hierarchy.is_symlink():
            found += [top, *(p for p in top.rglob("*") if p.is_dir())]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _kill_shims(workdir: Path) -> None:
    """containerd's shims outlive containerd by design: stop those of this cluster's sockets."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and any(str(workdir).encode() in a for a in argv):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                pass


def _who_runs() -> str:
    """Which local cluster holds the ports, as a sentence saying how to stop it: the work folder
    of a running etcd or kube-apiserver started by up (its arguments name files in it)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            argv = [a.decode(errors="replace") for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if not argv or Path(argv[0]).name not in ("etcd", "kube-apiserver"):
            continue
        for arg in argv[1:]:
            path = Path(arg.partition("=")[2] or arg)
            if path.is_absolute():
                folder = next((d for d in path.parents if (d / MARKER_FILE).exists()), None)
                if folder is not None:
                    found.add(folder)
    if not found:
        return "is another Kubernetes or etcd running? (./lab kube status)"
    return "; ".join(f"a local Kubernetes runs from {d} (./lab kube down --workdir {d})" for d in sorted(found))


def _old_workdirs(current: Path) -> list[Path]:
    """The work folders of other local clusters that still have mounts (their nodes' kubelet
    and containerd folders), found by the marker file up writes."""
    found = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        head, sep, _ = point.partition("/nodes/lab-kube-")
        if sep and Path(head, MARKER_FILE).exists() and Path(head) != current:
            found.add(Path(head))
    return sorted(found)


def _unmount_under(workdir: Path) -> list[str]:
    """Unmount (lazily) every mount below the work folder, deepest first."""
    problems = []
    prefix = str(workdir) + "/"
    for _ in range(3):
        points = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
        if not points:
            return []
        for point in sorted(set(points), key=len, reverse=True):
            done = subprocess.run(["umount", "-l", point], capture_output=True, text=True)
            if done.returncode != 0 and "not mounted" not in done.stderr:
                problems.append(f"umount {point}: {done.stderr.strip()}")
    return problems
