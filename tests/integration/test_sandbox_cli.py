"""./lab sandbox for real: up, Ansible over SSH, the caps, stop as a power failure, down (also after a crash).

Each test sandbox has its own work directory, inventory and id (so its namespaces,
veths and cgroups are its own): the user's inventory/sandbox.yml and work/sandbox are
never touched, and tests running side by side do not collide.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from labsandbox import cgroups, teardown, unavailable_reason
from labsandbox.limits import format_size, parse_cpus, parse_memory, parse_rate
from labtest import BIN, REPO, ansible_env

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

MEM = "256M"


def sandbox_env() -> dict[str, str]:
    env = ansible_env()
    env["PYTHONPATH"] = str(REPO / "tools")
    return env


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The sandbox CLI as ./lab runs it (python -m labsandbox), for real."""
    return subprocess.run([sys.executable, "-m", "labsandbox", *args], cwd=REPO, env=sandbox_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def new_id() -> str:
    return f"t{os.getpid() % 10000}{random.randrange(100)}"[:8]


@dataclass
class Box:
    """A sandbox started through the CLI: where it lives and what it is called."""

    workdir: Path
    inventory: Path
    sandbox_id: str
    up_output: str = ""

    def args(self) -> list[str]:
        return ["--workdir", str(self.workdir)]

    def state(self) -> dict:
        return json.loads((self.workdir / "state.json").read_text())

    def host(self, name: str) -> dict:
        return next(h for h in self.state()["hosts"] if h["name"] == name)

    def ssh(self, name: str, command: str) -> subprocess.CompletedProcess[str]:
        host = self.host(name)
        return subprocess.run(
            ["ssh", "-i", str(self.workdir / "id_ed25519"), "-o", f"UserKnownHostsFile={self.workdir / 'known_hosts'}",
             "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
             f"root@{host['address']}", command],
            capture_output=True, text=True, timeout=60, check=False)

    def start_sleeper(self, name: str) -> int:
        """A process started over SSH that outlives the session (as a worker would)."""
        done = self.ssh(name, "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!")
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip())


def leftovers(sandbox_id: str) -> dict[str, list[str]]:
    """Everything on this machine that carries the sandbox's name."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    layout = cgroups.detect_layout()
    return {
        "netns": [line.split()[0] for line in netns.splitlines() if line.startswith(f"lab-sbx-{sandbox_id}-")],
        "veths": [line.split(":")[1].strip() for line in links.splitlines()
                  if line.split(":")[1].strip().startswith(f"lsb{sandbox_id}-")],
        "cgroups": [str(p) for dirs in cgroups.leftovers(layout, f"lab-sbx-{sandbox_id}-").values() for p in dirs],
    }


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def answers(address: str) -> bool:
    """An SSH banner from address (a connection alone proves nothing: a proxy may accept any)."""
    try:
        with socket.create_connection((address, 22), timeout=2) as conn:
            conn.settimeout(2)
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def require_sandboxes() -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        cgroups.detect_layout()
    except cgroups.CgroupUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """Two hosts at half a CPU and 256M each, started by the CLI; removed afterwards whatever happened."""
    require_sandboxes()
    base = tmp_path_factory.mktemp("sandbox-cli")
    made = Box(base / "work", base / "inventory" / "sandbox.yml", new_id())
    try:
        up = cli("up", "2", "--cpus", "0.5", "--mem", MEM, "--id", made.sandbox_id, "--inventory",
                 str(made.inventory), *made.args())
        assert up.returncode == 0, up.stdout + up.stderr
        made.up_output = up.stdout
        yield made
    finally:
        teardown(made.workdir, made.sandbox_id)


def ansible(box: Box, module: str) -> subprocess.CompletedProcess[str]:
    env = ansible_env(ANSIBLE_SSH_CONTROL_PATH_DIR=str(box.workdir / "cp"), ANSIBLE_STDOUT_CALLBACK="json",
                      ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    return subprocess.run([str(BIN / "ansible"), "-i", str(box.inventory), "workers", "-m", module],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_up_writes_an_inventory_with_checked_host_keys(box: Box) -> None:
    inv = yaml.safe_load(box.inventory.read_text())
    assert inv["all"]["vars"] == {"cluster_backend": "ssh"}
    assert list(inv["all"]["children"]["workers"]["hosts"]) == ["sbx-1", "sbx-2"]
    known_hosts = (box.workdir / "known_hosts").read_text()
    for name in ("sbx-1", "sbx-2"):
        host = inv["all"]["hosts"][name]
        assert host["ansible_user"] == "root"
        assert host["ansible_python_interpreter"]
        key = Path(host["ansible_ssh_private_key_file"])
        assert key.stat().st_mode & 0o777 == 0o600
        assert f"UserKnownHostsFile={box.workdir / 'known_hosts'}" in host["ansible_ssh_common_args"]
        assert "StrictHostKeyChecking=yes" in host["ansible_ssh_common_args"]
        assert f"{host['ansible_host']} ssh-ed25519 " in known_hosts
    # It says how to use it, with this sandbox's paths.
    said = box.up_output
    assert "./lab play bench-pi.yml -i" in said and str(box.inventory.name) in said
    assert "ssh -i" in said and "stop sbx-2" in said and "down" in said


def test_ansible_reaches_every_worker(box: Box) -> None:
    done = ansible(box, "ansible.builtin.ping")
    assert done.returncode == 0, done.stdout + done.stderr
    hosts = json.loads(done.stdout)["stats"]
    assert set(hosts) == {"sbx-1", "sbx-2"}
    assert all(stats["failures"] == 0 and stats["unreachable"] == 0 for stats in hosts.values())


def test_what_ssh_starts_runs_in_the_hosts_cgroup(box: Box) -> None:
    pid = box.start_sleeper("sbx-1")
    host = box.host("sbx-1")
    layout = cgroups.detect_layout()
    assert pid in cgroups.pids(layout.dirs(host["netns"]))
    assert f"/{host['netns']}" in Path(f"/proc/{pid}/cgroup").read_text()
    # The caps are what was asked: half a CPU, 256M.
    cpu_dir = layout.dirs(host["netns"])[0]
    if layout.version == 1:
        assert (cpu_dir / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (layout.memory_root / host["netns"] / "memory.limit_in_bytes").read_text().strip() \
            == str(parse_memory(MEM))
    else:
        assert (cpu_dir / "cpu.max").read_text().split() == ["50000", "100000"]
        assert (cpu_dir / "memory.max").read_text().strip() == str(parse_memory(MEM))


def test_each_host_reports_its_cap_as_its_cores(box: Box) -> None:
    done = ansible(box, "lab_node_context")
    assert done.returncode == 0, done.stdout + done.stderr
    results = {name: task for play in json.loads(done.stdout)["plays"] for t in play["tasks"]
               for name, task in t["hosts"].items()}
    for name in ("sbx-1", "sbx-2"):
        node = results[name]["node"]
        assert node["cores"] == 1 and node["cpu_quota"] == 0.5, node
        assert node["memory_limit_bytes"] == parse_memory(MEM), node
        assert node["hostname"] == name  # its own UTS name: nodes are told apart in the report


def test_stop_cuts_one_host_off(box: Box) -> None:
    sleeper = box.start_sleeper("sbx-2")
    survivor = box.start_sleeper("sbx-1")
    host = box.host("sbx-2")
    assert alive(sleeper) and answers(host["address"])
    done = cli("stop", "sbx-2", *box.args())
    assert done.returncode == 0, done.stdout + done.stderr
    assert not alive(sleeper)
    assert not answers(host["address"])
    assert not cgroups.pids(cgroups.detect_layout().dirs(host["netns"]))
    assert host["netns"] not in leftovers(box.sandbox_id)["netns"]
    # The other host goes on.
    assert alive(survivor) and answers(box.host("sbx-1")["address"])
    status = cli("status", *box.args())
    assert status.returncode == 0, status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
    assert lines["sbx-2"].endswith("stopped") and "0.5 CPU" in lines["sbx-2"] and MEM in lines["sbx-2"]
    assert "answers on port 22" in lines["sbx-1"]
    unknown = cli("stop", "sbx-9", *box.args())
    assert unknown.returncode == 1 and "no sandbox host 'sbx-9' (hosts: sbx-1, sbx-2)" in unknown.stderr


def test_down_removes_everything(box: Box) -> None:
    survivor = box.start_sleeper("sbx-1")
    sshd = box.host("sbx-1")["pid"]
    done = cli("down", *box.args())
    assert done.returncode == 0, done.stdout + done.stderr
    assert leftovers(box.sandbox_id) == {"netns": [], "veths": [], "cgroups": []}
    assert not alive(survivor) and not alive(sshd)
    assert not box.workdir.exists() and not box.inventory.exists()
    again = cli("down", *box.args(), "--id", box.sandbox_id)
    assert again.returncode == 0 and "nothing was left" in again.stdout


def _up_in_background(workdir: Path, inventory: Path, sandbox_id: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labsandbox", "up", str(count), "--cpus", "0.5", "--mem", MEM, "--id", sandbox_id,
         "--inventory", str(inventory), "--workdir", str(workdir)],
        cwd=REPO, env=sandbox_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def test_down_after_the_cli_was_killed_mid_up(tmp_path: Path) -> None:
    require_sandboxes()
    workdir, inventory, sandbox_id = tmp_path / "work", tmp_path / "sandbox.yml", new_id()
    proc = _up_in_background(workdir, inventory, sandbox_id, 6)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not leftovers(sandbox_id)["netns"]:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # no chance to clean up
        proc.wait(timeout=10)
        made = leftovers(sandbox_id)
        assert made["netns"] and made["cgroups"], "the CLI was killed before it made anything"
        done = cli("down", "--workdir", str(workdir))
        assert done.returncode == 0, done.stdout + done.stderr
        assert leftovers(sandbox_id) == {"netns": [], "veths": [], "cgroups": []}
        assert not workdir.exists()
    finally:
        proc.kill()
        teardown(workdir, sandbox_id)


def test_down_without_the_state_file_sweeps_by_name(tmp_path: Path) -> None:
    require_sandboxes()
    workdir, inventory, sandbox_id = tmp_path / "work", tmp_path / "sandbox.yml", new_id()
    try:
        up = cli("up", "1", "--id", sandbox_id, "--inventory", str(inventory), "--workdir", str(workdir))
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((workdir / "state.json").read_text())
        sshd = state["hosts"][0]["pid"]
        (workdir / "state.json").unlink()  # as if a crash had lost it
        done = cli("down", "--workdir", str(workdir), "--id", sandbox_id)
        assert done.returncode == 0, done.stdout + done.stderr
        assert leftovers(sandbox_id) == {"netns": [], "veths": [], "cgroups": []}
        assert not alive(sshd)
    finally:
        teardown(workdir, sandbox_id)


def test_up_refuses_a_second_sandbox_in_the_same_workdir_and_a_foreign_directory(tmp_path: Path) -> None:
    require_sandboxes()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    done = cli("up", "1", "--workdir", str(foreign), "--inventory", str(tmp_path / "inv.yml"), "--id", new_id())
    assert done.returncode == 1 and "is not empty and not a sandbox's" in done.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_up_needs_root_and_says_so() -> None:
    if os.geteuid() == 0:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "labsandbox",
                "up", "2"]
    else:
        argv = [sys.executable, "-m", "labsandbox", "up", "2"]
    done = subprocess.run(argv, cwd="/", env=sandbox_env(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "up needs root (network namespaces, cgroups, sshd): sudo ./lab sandbox up" in done.stderr


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--cpus", "half", "--cpus 'half': not a number of CPUs"),
    ("--cpus", "0", "--cpus '0': must be between"),
    ("--mem", "lots", "--mem 'lots': not a size (e.g. 512M or 1G)"),
    ("--net", "100mbps", "--net '100mbps': not a rate in bits per second"),
])
def test_bad_values_are_named(option: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        {"--cpus": parse_cpus, "--mem": parse_memory, "--net": parse_rate}[option](value)


def test_sizes_and_rates_parse() -> None:
    assert parse_cpus("0.5") == 0.5
    assert parse_memory("512M") == 512 * 2**20 and parse_memory("1G") == 2**30 and parse_memory("1.5g") == 1536 * 2**20
    assert parse_memory("256MiB") == 256 * 2**20
    assert parse_rate("100Mbit") == "100mbit"
    assert format_size(256 * 2**20) == "256M"


def test_cgroup_layout_from_mountinfo() -> None:
    v1 = ("30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
          "31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
          "32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    layout = cgroups.detect_layout(v1)
    assert (layout.version, str(layout.cpu_root), str(layout.memory_root)) \
        == (1, "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory")
    assert [str(d) for d in layout.dirs("lab-sbx-a-0")] \
        == ["/sys/fs/cgroup/cpu,cpuacct/lab-sbx-a-0", "/sys/fs/cgroup/memory/lab-sbx-a-0"]
    with pytest.raises(cgroups.CgroupUnavailable, match="mounted here: cgroup2 at /sys/fs/cgroup/unified"):
        cgroups.detect_layout("32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
