"""The real local Kubernetes of `./lab kube` for the tests (the `real_kube` fixture, marker `kube`).

One cluster per test session: `python -m labkube up --nodes 2` in a temporary folder (binaries
and images come from the user's cache, built on the first run: about 5 minutes for
Kubernetes and 2 for the worker image on 2 cores), `down` at the end. As root only;
elsewhere the kube tests skip and say why. When up fails (the Go proxy, a build, a
component that does not start) the tests fail with the step's message: CI must not
pass by skipping this tier. LAB_KUBE_WORKDIR=work/kube runs the tests against a
cluster already started with ./lab kube up (and leaves it running).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from labkube.cluster import CGROUP_V1_ROOT, LocalKube
from labtest import REPO, run_playbook


@dataclass
class RealKube:
    """A running local cluster: its files, its inventory, and its processes (LocalKube)."""

    kube: LocalKube
    inventory: Path
    up_output: str = ""  # what ./lab kube up said ("" when the cluster was started outside the tests)
    leftovers: list[subprocess.Popen[bytes]] = field(default_factory=list)  # see plant_leftovers

    @property
    def kubeconfig(self) -> Path:
        return self.kube.admin_kubeconfig

    @property
    def images(self) -> dict[str, str]:
        return dict(self.kube.state["images"])

    @property
    def nodes(self) -> list[str]:
        return [node["name"] for node in self.kube.state["nodes"]]

    def api(self, path: str, **kwargs: Any) -> Any:
        return self.kube.api(path, **kwargs)


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "the local Kubernetes needs root (containerd, the kubelet's mounts and cgroups): sudo ./lab test"
    return None


def plant_leftovers() -> list[subprocess.Popen[bytes]]:
    """What a local cluster killed with its test session leaves (as one did before a CI run):
    a sandbox host's namespace with a process in it, a node cgroup with a process in it, a pod
    bridge. up must clear them, not fail on them. Returns the planted processes."""
    subprocess.run(["ip", "netns", "add", "lab-sbx-lkube-0"], capture_output=True)  # may be there already
    in_netns = subprocess.Popen(["ip", "netns", "exec", "lab-sbx-lkube-0", "sleep", "3600"], start_new_session=True)
    in_cgroup = subprocess.Popen(["sleep", "3600"], start_new_session=True)
    cgroup = CGROUP_V1_ROOT / "pids" / "lab-kube-lab-kube-2"
    cgroup.mkdir(exist_ok=True)
    (cgroup / "cgroup.procs").write_text(str(in_cgroup.pid))
    subprocess.run(["ip", "link", "add", "labkube2", "type", "bridge"], capture_output=True)
    return [in_netns, in_cgroup]


def _up(workdir: Path, inventory: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tools"), os.environ.get("PYTHONPATH", "")]))
    # Two nodes, the second in a sandbox host: scheduling across nodes, spreading and draining
    # are then real. LAB_KUBE_NODES=1 for a lighter run.
    nodes = os.environ.get("LAB_KUBE_NODES", "2")
    return subprocess.run([sys.executable, "-m", "labkube", "up", "--workdir", str(workdir), "--nodes", nodes,
                           "--inventory", str(inventory)], capture_output=True, text=True, env=env, timeout=3600)


@pytest.fixture(scope="session")
def real_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealKube]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    existing = os.environ.get("LAB_KUBE_WORKDIR")
    if existing:
        kube = LocalKube(Path(existing), Path("/nonexistent"), log=lambda _: None)
        if not kube.load():
            pytest.fail(f"LAB_KUBE_WORKDIR={existing} holds no running cluster (./lab kube up)")
        yield RealKube(kube, Path(kube.state["inventory"]))
        return
    workdir = tmp_path_factory.mktemp("kube")
    inventory = workdir.parent / "kube-local.yml"
    planted = plant_leftovers()
    done = _up(workdir, inventory)
    if done.returncode != 0:
        pytest.fail("./lab kube up failed; its output:\n" + done.stderr[-6000:] + done.stdout[-2000:], pytrace=False)
    kube = LocalKube(workdir, Path("/nonexistent"), log=lambda _: None)
    assert kube.load()
    try:
        yield RealKube(kube, inventory, up_output=done.stderr, leftovers=planted)
    finally:
        left = kube.down()
        assert not left, f"./lab kube down left: {left}"


@pytest.fixture(scope="session")
def configured_kube(real_kube: RealKube) -> RealKube:
    """The cluster as site.yml leaves a Pi cluster (cluster_config: the restricted `lab`
    namespace, labels, the images pre-pulled), plus the π worker's ConfigMap as bench-pi ships it."""
    done = run_playbook("site.yml", "-i", str(real_kube.inventory), timeout=900)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    worker = (REPO / "plugins" / "workers" / "pi_worker.py").read_text()
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pi-worker", "namespace": "lab"},
                 "data": {"pi_worker.py": worker}}
    try:
        real_kube.api("/api/v1/namespaces/lab/configmaps/pi-worker", method="PUT", body=configmap)
    except OSError:  # 404: not there yet
        real_kube.api("/api/v1/namespaces/lab/configmaps", method="POST", body=configmap)
    return real_kube


def wait_until(what: str, check: Any, timeout_s: float = 90.0) -> None:
    """Poll `check` every half second; fail naming `what` when it is still false after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} not true after {timeout_s:g} s")


def pods(real: RealKube, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    query = f"?labelSelector={selector}" if selector else ""
    return list(real.api(f"/api/v1/namespaces/{namespace}/pods{query}")["items"])


def dump(value: Any) -> str:
    return json.dumps(value, indent=1)[:4000]
