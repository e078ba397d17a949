"""The provisioning roles run for real against sandbox hosts (network + mount namespaces with sshd)."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from labtest import ansible_env, run_playbook
from sandbox import Sandbox
from sandbox.fixtures import sandbox, sandbox_factory  # noqa: F401 - fixtures

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

BOOKWORM_CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes "
    "cgroup_disable=memory rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n"
)
BULLSEYE_CMDLINE = "console=tty1 root=PARTUUID=738a4d67-02 rootfstype=ext4 elevator=deadline rootwait\n"
DPHYS = "# /etc/dphys-swapfile - user settings for dphys-swapfile package\nCONF_SWAPSIZE=100\n#CONF_MAXSWAP=2048\n"
FSTAB = (
    "proc            /proc           proc    defaults          0       0\n"
    "PARTUUID=4e639091-01  /boot/firmware  vfat    defaults          0       2\n"
    "/var/swap       none            swap    sw                0       0\n"
)
FLAGS = ("cgroup_memory=1", "cgroup_enable=memory", "cgroup_enable=cpuset")
MARKER = "/var/run/rpi-prerequisites-reboot-required"


def prereq_vars(host_root: str, controllers: str) -> dict[str, Any]:
    """Host variables that keep the role off the test machine's kernel, services and packages."""
    return {
        "rpi_prerequisites_reboot": False,
        "rpi_prerequisites_manage_services": False,
        "rpi_prerequisites_check_clock": False,
        "rpi_prerequisites_min_free_mb": 1,
        "rpi_prerequisites_proc_swaps": f"{host_root}/files/proc_swaps",
        "rpi_prerequisites_cgroup_controllers_path": controllers,
        # Installed on every machine that can run these tests: nothing to install.
        "rpi_prerequisites_packages": ["openssh-server", "iproute2"],
        "rpi_prerequisites_tool_packages": [],
    }


def add_pi(box: Sandbox, name: str, cmdline_path: str, cmdline: str,
           controllers: str = "cpuset cpu io memory hugetlb pids rdma misc\n", **extra: Any):
    host = box.add_host(name, groups=["k3s_cluster"])
    host.put(cmdline_path, cmdline)
    host.put("/etc/dphys-swapfile", DPHYS)
    host.put("/etc/fstab", FSTAB)
    host.file("proc_swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
    ctl = host.file("cgroup.controllers", controllers)
    host.hostvars.update(prereq_vars(str(host.root), ctl), **extra)
    return host


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host."""
    out: dict[str, dict[str, int]] = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", stdout, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory):
    """Three Pis (two bookworm, one bullseye) provisioned twice; yields (sandbox, first, second)."""
    from sandbox import SandboxUnavailable, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        box = Sandbox(tmp_path_factory.mktemp("prereq"))
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    try:
        add_pi(box, "pi-bookworm", "/boot/firmware/cmdline.txt", BOOKWORM_CMDLINE)
        # Already half done, flags duplicated and spread over two lines.
        add_pi(box, "pi-partial", "/boot/firmware/cmdline.txt",
               "root=/dev/mmcblk0p2 cgroup_memory=1 rootwait cgroup_memory=1\ncgroup_enable=memory\n")
        add_pi(box, "pi-bullseye", "/boot/cmdline.txt", BULLSEYE_CMDLINE)
        box.start()
        inv = box.inventory()
        env = ansible_env(**box.env_overrides())
        first = run_playbook("playbooks/prerequisites.yml", "-i", str(inv), env=env, timeout=300)
        second = run_playbook("playbooks/prerequisites.yml", "-i", str(inv), env=env, timeout=300)
        yield box, first, second
    finally:
        box.close()


def _host(box: Sandbox, name: str):
    return next(h for h in box.hosts if h.name == name)


def test_first_run_succeeds_and_changes_every_host(provisioned) -> None:
    box, first, _ = provisioned
    assert first.returncode == 0, first.stdout + first.stderr
    counts = recap(first.stdout)
    for host in box.hosts:
        assert counts[host.name]["failed"] == 0
        assert counts[host.name]["changed"] > 0, host.name
    # Every required package is already there: apt is never called.
    install = first.stdout.split("TASK [rpi_prerequisites : Install the missing packages]", 1)[1].split("TASK [", 1)[0]
    assert "changed:" not in install and "ok:" not in install and "skipping: [pi-bookworm]" in install


def test_cmdline_is_one_line_with_each_flag_once(provisioned) -> None:
    box, first, _ = provisioned
    assert first.returncode == 0, first.stdout + first.stderr
    text = _host(box, "pi-bookworm").read("/boot/firmware/cmdline.txt")
    assert text is not None and text.endswith("\n") and text.count("\n") == 1
    tokens = text.split()
    for flag in FLAGS:
        assert tokens.count(flag) == 1, flag
    assert "cgroup_disable=memory" not in tokens
    kept = [t for t in BOOKWORM_CMDLINE.split() if t != "cgroup_disable=memory"]
    assert tokens[: len(kept)] == kept  # every other token preserved, in order

    # A FAT-safe backup (no colons) of the original beside it.
    backups = list((_host(box, "pi-bookworm").root / "boot" / "firmware").glob("cmdline.txt.*.bak"))
    assert len(backups) == 1 and ":" not in backups[0].name
    assert backups[0].read_text() == BOOKWORM_CMDLINE

    partial = _host(box, "pi-partial").read("/boot/firmware/cmdline.txt")
    assert partial == "root=/dev/mmcblk0p2 cgroup_memory=1 rootwait cgroup_enable=memory cgroup_enable=cpuset\n"


def test_pre_bookworm_host_gets_boot_cmdline(provisioned) -> None:
    box, first, _ = provisioned
    assert first.returncode == 0, first.stdout + first.stderr
    host = _host(box, "pi-bullseye")
    assert host.read("/boot/cmdline.txt") == BULLSEYE_CMDLINE.rstrip("\n") + " " + " ".join(FLAGS) + "\n"
    assert not host.exists("/boot/firmware/cmdline.txt")


def test_swap_is_configured_off(provisioned) -> None:
    box, first, _ = provisioned
    assert first.returncode == 0, first.stdout + first.stderr
    for host in box.hosts:
        dphys = host.read("/etc/dphys-swapfile")
        assert dphys is not None
        assert re.findall(r"^CONF_SWAPSIZE=.*$", dphys, re.M) == ["CONF_SWAPSIZE=0"]
        assert "#CONF_MAXSWAP=2048" in dphys
        fstab = host.read("/etc/fstab")
        assert fstab is not None
        assert "# /var/swap       none            swap    sw" in fstab
        assert "\nproc            /proc" not in fstab or fstab.startswith("proc")
        assert fstab.startswith("proc            /proc")
    # The real /etc is untouched (the overlay took the writes).
    import os
    assert not os.path.exists("/etc/dphys-swapfile") or "CONF_SWAPSIZE=0" not in open("/etc/dphys-swapfile").read()


def test_reboot_is_recorded_as_pending(provisioned) -> None:
    box, first, _ = provisioned
    assert first.returncode == 0, first.stdout + first.stderr
    assert "REBOOT PENDING on pi-bookworm" in first.stdout
    for host in box.hosts:
        marker = host.read(MARKER)
        assert marker is not None and "Reboot this host" in marker, host.name
        # It lives in the host's own /run, not the test machine's.
        assert (host.root / "run" / "rpi-prerequisites-reboot-required").exists()


def test_second_run_changes_nothing(provisioned) -> None:
    box, _, second = provisioned
    assert second.returncode == 0, second.stdout + second.stderr
    counts = recap(second.stdout)
    for host in box.hosts:
        assert counts[host.name]["changed"] == 0, (host.name, second.stdout)
        assert counts[host.name]["failed"] == 0


def test_preflight_failures_name_the_problem(sandbox: Sandbox) -> None:  # noqa: F811
    done = BOOKWORM_CMDLINE.replace("cgroup_disable=memory ", "").rstrip("\n") + " " + " ".join(FLAGS) + "\n"
    add_pi(sandbox, "pi-nomemory", "/boot/firmware/cmdline.txt", done, controllers="cpuset cpu io pids\n")
    add_pi(sandbox, "pi-arch", "/boot/firmware/cmdline.txt", done,
           rpi_prerequisites_supported_architectures=["aarch64", "armv7l"])
    add_pi(sandbox, "pi-disk", "/boot/firmware/cmdline.txt", done, rpi_prerequisites_min_free_mb=10**9)
    add_pi(sandbox, "pi-nocmdline", "/boot/unrelated.txt", "x\n")
    # timedatectl cannot reach a time service from inside a sandbox (own /run): not synchronised.
    add_pi(sandbox, "pi-clock", "/boot/firmware/cmdline.txt", done, rpi_prerequisites_check_clock=True)
    sandbox.start()
    inv = sandbox.inventory()
    result = run_playbook("playbooks/prerequisites.yml", "-i", str(inv),
                          env=ansible_env(**sandbox.env_overrides()), timeout=300)
    out = result.stdout
    assert result.returncode != 0
    counts = recap(out)
    assert all(counts[h.name]["failed"] == 1 for h in sandbox.hosts), out
    assert re.search(r"The cgroup controller\(s\) memory\s+missing from \S+cgroup.controllers on pi-nomemory", out), out
    assert "pi-arch has architecture" in out and "expected one of aarch64, armv7l" in out
    assert re.search(r"pi-disk has \d+ MiB free on /var/lib, less than rpi_prerequisites_min_free_mb", out)
    assert "None of /boot/firmware/cmdline.txt, /boot/cmdline.txt exists on pi-nocmdline" in out
    assert "The clock of pi-clock is not synchronised" in out
    # Failing preflight changed nothing.
    assert sandbox.hosts[1].read("/boot/firmware/cmdline.txt") == done
    assert sandbox.hosts[2].read(MARKER) is None


def test_sandbox_hosts_are_isolated_and_cleaned_up(sandbox: Sandbox) -> None:  # noqa: F811
    import subprocess

    host = sandbox.add_host("pi-iso")
    host.put("/boot/firmware/cmdline.txt", "root=/dev/x\n")
    host.put("/etc/dphys-swapfile", "CONF_SWAPSIZE=7\n")
    sandbox.start()
    assert host.read("/boot/firmware/cmdline.txt") == "root=/dev/x\n"
    assert host.exec("sh", "-c", "echo changed > /etc/lab-sandbox-probe").returncode == 0
    assert host.read("/etc/lab-sandbox-probe") == "changed\n"
    import os
    assert not os.path.exists("/etc/lab-sandbox-probe")  # the write went to the host's overlay
    assert (host.root / "etc_upper" / "lab-sandbox-probe").exists()
    assert not host.exists("/run/netns")  # its own /run
    # Its own network: only its /30 and loopback.
    addrs = host.exec("ip", "-4", "-o", "addr", "show").stdout
    assert host.address in addrs and host.gateway not in addrs
    netns = host.netns
    assert netns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    pid = host.proc.pid if host.proc else -1
    sandbox.close()
    assert netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert subprocess.run(["ip", "link", "show", host.veth], capture_output=True).returncode != 0
    assert not os.path.exists(f"/proc/{pid}")
