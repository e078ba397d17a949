"""Node context readers against fake /proc, /sys and /etc trees."""
from __future__ import annotations

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
        "memory_bytes": 8052564 * 1024,
        "kernel": "6.6.51+rpt-rpi-2712",
        "os": "Debian GNU/Linux 12 (bookworm)",
        "arch": None,  # only known for the live root
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
