"""Node context readers against fake /proc, /sys and /etc trees."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labkit import environment as env

PI_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41

processor\t: 1
BogoMIPS\t: 108.00

processor\t: 2

processor\t: 3

Revision\t: d03115
Serial\t\t: 10000000abcdef01
Model\t\t: Raspberry Pi 4 Model B Rev 1.5
"""
X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz

processor\t: 1
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
"""


def write(root: Path, path: str, text: str | bytes) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)


@pytest.fixture()
def pi_root(tmp_path: Path) -> Path:
    write(tmp_path, "/proc/device-tree/model", b"Raspberry Pi 5 Model B Rev 1.0\x00")
    write(tmp_path, "/proc/cpuinfo", PI_CPUINFO)
    write(tmp_path, "/sys/devices/system/cpu/online", "0-3\n")
    write(tmp_path, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "ondemand\n")
    write(tmp_path, "/sys/class/thermal/thermal_zone0/temp", "51634\n")
    write(tmp_path, "/proc/meminfo", "MemTotal:        8052564 kB\nMemFree:         7000000 kB\n")
    write(tmp_path, "/proc/sys/kernel/osrelease", "6.6.51+rpt-rpi-2712\n")
    write(tmp_path, "/proc/sys/kernel/hostname", "pi-node-1\n")
    write(tmp_path, "/etc/os-release",
          'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n')
    return tmp_path


def test_node_context_from_a_pi_tree(pi_root: Path) -> None:
    context = env.node_context(str(pi_root))
    assert context == {
        "hostname": "pi-node-1",
        "model": "Raspberry Pi 5 Model B Rev 1.0",  # device tree wins, NUL stripped
        "cores": 4,
        "cpu_quota": None,  # no cgroup limit in this tree
        "memory_bytes": 8052564 * 1024,
        "memory_limit_bytes": None,
        "kernel": "6.6.51+rpt-rpi-2712",
        "os": "Debian GNU/Linux 12 (bookworm)",
        "arch": None,  # only known for the live root
        "page_size": None,  # likewise
        "governor": "ondemand",
        "temperature_c": 51.6,
    }


def test_empty_tree_gives_none_everywhere(tmp_path: Path) -> None:
    context = env.node_context(str(tmp_path))
    assert set(context.values()) == {None}


def test_model_falls_back_to_cpuinfo(tmp_path: Path) -> None:
    write(tmp_path, "/proc/cpuinfo", PI_CPUINFO)
    assert env.read_model(str(tmp_path)) == "Raspberry Pi 4 Model B Rev 1.5"
    assert env.read_cores(str(tmp_path)) == 4  # counted from the processor lines
    write(tmp_path, "/proc/cpuinfo", X86_CPUINFO)
    assert env.read_model(str(tmp_path)) == "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"  # not the numeric "model"
    assert env.read_cores(str(tmp_path)) == 2


@pytest.mark.parametrize(("online", "cores"), [("0", 1), ("0-3", 4), ("0-1,4-5", 4), ("0,2", 2), ("x-y", None)])
def test_cores_from_online_ranges(tmp_path: Path, online: str, cores: int | None) -> None:
    write(tmp_path, "/sys/devices/system/cpu/online", online)
    assert env.read_cores(str(tmp_path)) == cores


def test_garbage_files_give_none(tmp_path: Path) -> None:
    write(tmp_path, "/sys/class/thermal/thermal_zone0/temp", "hot\n")
    write(tmp_path, "/proc/meminfo", "nothing here\n")
    write(tmp_path, "/etc/os-release", "NAME=Foo\n")
    assert env.read_temperature_c(str(tmp_path)) is None
    assert env.read_memory_bytes(str(tmp_path)) is None
    assert env.read_os(str(tmp_path)) is None


def test_os_release_fallback_and_hostname_file(tmp_path: Path) -> None:
    write(tmp_path, "/usr/lib/os-release", "PRETTY_NAME='Raspbian GNU/Linux 11 (bullseye)'\n")
    write(tmp_path, "/etc/hostname", "pi-b\n")
    assert env.read_os(str(tmp_path)) == "Raspbian GNU/Linux 11 (bullseye)"
    assert env.read_hostname(str(tmp_path)) == "pi-b"


def test_a_directory_where_a_file_should_be_is_none(tmp_path: Path) -> None:
    (tmp_path / "proc" / "meminfo").mkdir(parents=True)
    assert env.read_memory_bytes(str(tmp_path)) is None


def test_parse_throttled_bits() -> None:
    flags = env.parse_throttled("throttled=0x50005\n")
    assert flags is not None
    assert flags["value"] == 0x50005 and flags["hex"] == "0x50005"
    assert flags["under_voltage"] and flags["throttled"]
    assert not flags["frequency_capped"] and not flags["soft_temperature_limit"]
    assert flags["under_voltage_occurred"] and flags["throttled_occurred"]
    assert not flags["frequency_capped_occurred"]
    assert flags["throttled_now"] and flags["occurred_any"]


@pytest.mark.parametrize(
    ("text", "now", "occurred"),
    [("throttled=0x0", False, False), ("throttled=0x80000", False, True), ("throttled=0x8", True, False),
     ("throttled=0x2", True, False), ("throttled=0xE0000", False, True)],
)
def test_throttled_now_is_bits_0_to_3_only(text: str, now: bool, occurred: bool) -> None:
    flags = env.parse_throttled(text)
    assert flags is not None
    assert flags["throttled_now"] is now and flags["occurred_any"] is occurred


@pytest.mark.parametrize("text", [None, "", "VCHI initialization failed", "throttled=zz"])
def test_parse_throttled_rejects_garbage(text: str | None) -> None:
    assert env.parse_throttled(text) is None


def test_live_root_does_not_raise() -> None:
    context = env.node_context()
    assert context["hostname"] and context["cores"] and context["cores"] >= 1
    # What getconf says, on the live system only (a file tree has no page size to read).
    getconf = subprocess.run(["getconf", "PAGESIZE"], capture_output=True, text=True, check=True).stdout
    assert context["page_size"] == int(getconf)
    assert env.node_context("/nonexistent-root")["page_size"] is None


@pytest.mark.parametrize("line,version", [
    ("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers", "5.1.6-0+deb12u1"),
    ("k3s version v1.31.4+k3s1 (abcdef12)", "v1.31.4+k3s1"),
    ("Python 3.11.2", "3.11.2"),
    # Never a path, never the banner line itself.
    ("/work/main/.venv/bin/python", None),
    ("ffmpeg version N-112345-gdeadbeef Copyright", "N-112345-gdeadbeef"),
    ("", None),
    (None, None),
])
def test_tool_versions_are_versions_not_paths_or_banners(line: str | None, version: str | None) -> None:
    assert env.version_from_line(line) == version


# -- the cgroup CPU quota: a node reports its cap as its cores ---------------------------------

V1_PROC_CGROUP = "9:name=systemd:/\n4:memory:/lab-sbx-a-0\n2:cpuacct:/\n1:cpu:/lab-sbx-a-0\n0::/\n"
V2_PROC_CGROUP = "0::/system.slice/lab.service\n"


def v1_tree(root: Path, quota: str, period: str = "100000", proc_cgroup: str = V1_PROC_CGROUP) -> Path:
    write(root, "/sys/devices/system/cpu/online", "0-3\n")
    write(root, "/proc/self/cgroup", proc_cgroup)
    write(root, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n")
    write(root, "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
    write(root, "/sys/fs/cgroup/cpu/lab-sbx-a-0/cpu.cfs_quota_us", quota + "\n")
    write(root, "/sys/fs/cgroup/cpu/lab-sbx-a-0/cpu.cfs_period_us", period + "\n")
    return root


@pytest.mark.parametrize(("quota", "period", "cpus", "cores"), [
    ("50000", "100000", 0.5, 1),      # half a CPU is one core to plan on, never 0
    ("150000", "100000", 1.5, 2),     # rounded up
    ("200000", "100000", 2.0, 2),
    ("1000000", "100000", 10.0, 4),   # a quota above the CPUs there are: the CPUs
    ("-1", "100000", None, 4),        # no limit
    ("25000", "50000", 0.5, 1),       # another period
])
def test_cgroup_v1_quota_caps_the_cores(tmp_path: Path, quota: str, period: str, cpus: float | None,
                                        cores: int) -> None:
    root = str(v1_tree(tmp_path, quota, period))
    assert env.read_cpu_quota(root) == cpus
    assert env.usable_cores(root) == cores
    context = env.node_context(root)
    assert context["cores"] == cores and context["cpu_quota"] == cpus


def test_cgroup_v1_controllers_named_together(tmp_path: Path) -> None:
    write(tmp_path, "/proc/self/cgroup", "3:cpu,cpuacct:/kubepods/pod1\n")
    write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us", "30000")
    write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us", "100000")
    assert env.read_cpu_quota(str(tmp_path)) == 0.3


def test_an_ancestors_quota_caps_too(tmp_path: Path) -> None:
    """systemd puts CPUQuota= on the slice; the process sits in a cgroup below it."""
    write(tmp_path, "/sys/devices/system/cpu/online", "0-7")
    write(tmp_path, "/proc/self/cgroup", "0::/lab.slice/run.service\n")
    write(tmp_path, "/sys/fs/cgroup/lab.slice/cpu.max", "300000 100000\n")
    write(tmp_path, "/sys/fs/cgroup/lab.slice/run.service/cpu.max", "max 100000\n")
    assert env.read_cpu_quota(str(tmp_path)) == 3.0
    assert env.usable_cores(str(tmp_path)) == 3


def test_the_tightest_limit_of_the_chain_wins(tmp_path: Path) -> None:
    write(tmp_path, "/proc/self/cgroup", V2_PROC_CGROUP)
    write(tmp_path, "/sys/fs/cgroup/system.slice/cpu.max", "50000 100000")
    write(tmp_path, "/sys/fs/cgroup/system.slice/lab.service/cpu.max", "200000 100000")
    assert env.read_cpu_quota(str(tmp_path)) == 0.5


def test_container_that_sees_only_its_own_cgroup(tmp_path: Path) -> None:
    """Docker without a cgroup namespace: /proc/self/cgroup names the host's path, the mount shows
    the container's cgroup at its root."""
    write(tmp_path, "/proc/self/cgroup", "5:cpu:/docker/0123abcd\n")
    write(tmp_path, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "100000")
    write(tmp_path, "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000")
    assert env.read_cpu_quota(str(tmp_path)) == 1.0


@pytest.mark.parametrize(("text", "cpus"), [
    ("max 100000", None), ("max", None), ("50000 100000", 0.5), ("12345", 0.123), ("", None),
    ("lots 100000", None), ("0 100000", None), ("50000 0", None),
])
def test_cpu_max_parsing(tmp_path: Path, text: str, cpus: float | None) -> None:
    write(tmp_path, "/proc/self/cgroup", "0::/\n")
    write(tmp_path, "/sys/fs/cgroup/cpu.max", text)
    assert env.read_cpu_quota(str(tmp_path)) == cpus


@pytest.mark.parametrize(("text", "v1", "v2"), [
    (V1_PROC_CGROUP, "/lab-sbx-a-0", "/"),
    (V2_PROC_CGROUP, None, "/system.slice/lab.service"),
    ("12:cpu,cpuacct:/a\n", "/a", None),
    ("3:cpuset:/x\n2:cpuacct:/y\n", None, None),  # cpuset and cpuacct are not cpu
    ("garbage\n\n", None, None),
    (None, None, None),
])
def test_proc_cgroup_parsing(text: str | None, v1: str | None, v2: str | None) -> None:
    assert env.parse_proc_cgroup(text) == (v1, v2)


@pytest.mark.parametrize(("quota", "period"), [("-1", "100000"), ("x", "100000"), ("50000", ""), ("0", "100000")])
def test_cfs_quota_without_a_limit_is_none(quota: str, period: str) -> None:
    assert env.parse_cfs_quota(quota, period) is None


def test_live_cores_are_at_most_the_affinity() -> None:
    import os

    cores = env.usable_cores()
    assert cores is not None and 1 <= cores <= len(os.sched_getaffinity(0))


def test_cgroup_memory_limit_v1_and_v2(tmp_path: Path) -> None:
    v1_tree(tmp_path, "50000")
    write(tmp_path, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712")  # v1's "no limit"
    write(tmp_path, "/sys/fs/cgroup/memory/lab-sbx-a-0/memory.limit_in_bytes", str(256 << 20))
    assert env.read_memory_limit_bytes(str(tmp_path)) == 256 << 20
    assert env.node_context(str(tmp_path))["memory_limit_bytes"] == 256 << 20
    v2 = tmp_path / "v2"
    write(v2, "/proc/self/cgroup", V2_PROC_CGROUP)
    write(v2, "/sys/fs/cgroup/system.slice/memory.max", "max\n")
    write(v2, "/sys/fs/cgroup/system.slice/lab.service/memory.max", "536870912\n")
    assert env.read_memory_limit_bytes(str(v2)) == 512 << 20
    write(v2, "/sys/fs/cgroup/system.slice/lab.service/memory.max", "max\n")
    assert env.read_memory_limit_bytes(str(v2)) is None
