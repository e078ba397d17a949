"""Pure readers for a node's environment (the report's "environment per node").

Every reader takes `root` (default "/") so that tests can point it at a fake
tree; a missing or unreadable file gives None, never an exception. Nothing
here runs a command: `vcgencmd get_throttled` output is parsed from a string
(the module runs the command with an argument list and passes the text in).
"""
from __future__ import annotations

import math
import os
import platform
import re
import socket
from fractions import Fraction
from typing import Any

# vcgencmd get_throttled bits (Raspberry Pi firmware documentation).
THROTTLE_BITS = {
    0: "under_voltage",
    1: "frequency_capped",
    2: "throttled",
    3: "soft_temperature_limit",
}
OCCURRED_OFFSET = 16
THROTTLED_RE = re.compile(r"throttled\s*=\s*(0x[0-9a-fA-F]+|\d+)")


def _path(root: str, absolute: str) -> str:
    return os.path.join(root, absolute.lstrip("/"))


def read_text(root: str, absolute: str) -> str | None:
    """Contents of <root>/<absolute>, stripped of NULs and surrounding space; None when unreadable."""
    try:
        with open(_path(root, absolute), "rb") as handle:
            data = handle.read(1 << 20)
    except OSError:
        return None
    text = data.replace(b"\x00", b"").decode("utf-8", errors="replace").strip()
    return text or None


def parse_throttled(text: str | None) -> dict[str, Any] | None:
    """Decode `vcgencmd get_throttled` output ("throttled=0x50005"); None when it does not parse.

    Bits 0–3 are the state now (under-voltage, frequency capped, throttled,
    soft temperature limit), bits 16–19 the same conditions "has occurred since
    boot". throttled_now is any of bits 0–3; occurred_any any of bits 16–19.
    """
    if not text:
        return None
    match = THROTTLED_RE.search(text)
    if not match:
        return None
    raw = match.group(1)
    value = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
    result: dict[str, Any] = {"value": value, "hex": hex(value)}
    for bit, name in THROTTLE_BITS.items():
        result[name] = bool(value >> bit & 1)
        result[f"{name}_occurred"] = bool(value >> (bit + OCCURRED_OFFSET) & 1)
    result["throttled_now"] = bool(value & 0xF)
    result["occurred_any"] = bool(value & (0xF << OCCURRED_OFFSET))
    return result


def read_model(root: str = "/") -> str | None:
    """Board model (/proc/device-tree/model), else CPU "model name"/"Model" from /proc/cpuinfo."""
    model = read_text(root, "/proc/device-tree/model")
    if model:
        return model
    cpuinfo = read_text(root, "/proc/cpuinfo")
    if not cpuinfo:
        return None
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            found.setdefault(key.strip(), value.strip())
    # "Model" (capital M) is the Pi's board name; x86 has "model name" (and a numeric "model").
    return found.get("Model") or found.get("model name") or found.get("Hardware")


def read_cores(root: str = "/") -> int | None:
    """Logical CPUs: /sys/devices/system/cpu/online ("0-3"), else the processors in /proc/cpuinfo."""
    online = read_text(root, "/sys/devices/system/cpu/online")
    if online:
        count = 0
        try:
            for part in online.split(","):
                low, _, high = part.partition("-")
                count += (int(high) - int(low) + 1) if high else 1
            return count
        except ValueError:
            pass
    cpuinfo = read_text(root, "/proc/cpuinfo")
    if cpuinfo:
        count = sum(1 for line in cpuinfo.splitlines() if re.match(r"processor\s*:", line))
        if count:
            return count
    return None


# Where the cgroup file systems are mounted: v1 names the cpu hierarchy "cpu" (or
# "cpu,cpuacct" on some distributions), v2 is the unified tree at /sys/fs/cgroup
# (or /sys/fs/cgroup/unified on hybrid systems).
CGROUP_V1_CPU_MOUNTS = ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu")
CGROUP_V2_MOUNTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")


def parse_proc_cgroup(text: str | None) -> tuple[str | None, str | None]:
    """(v1 cpu cgroup path, v2 cgroup path) from /proc/<pid>/cgroup; None for a hierarchy not listed.

    v1 lines are "4:cpu,cpuacct:/lab-sbx-1" (the controllers comma-separated),
    the v2 line is "0::/system.slice/x.service"."""
    v1_cpu: str | None = None
    v2: str | None = None
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1_cpu = path
    return v1_cpu, v2


def parse_cfs_quota(quota_text: str | None, period_text: str | None) -> Fraction | None:
    """CPUs allowed by cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us; None for no limit (-1) or garbage."""
    try:
        quota, period = int(quota_text or ""), int(period_text or "")
    except ValueError:
        return None
    return Fraction(quota, period) if quota > 0 and period > 0 else None


def parse_cpu_max(text: str | None) -> Fraction | None:
    """CPUs allowed by cgroup v2 cpu.max ("50000 100000"); None for "max 100000" (no limit) or garbage."""
    words = (text or "").split()
    if not words or words[0] == "max":
        return None
    try:
        quota = int(words[0])
        period = int(words[1]) if len(words) > 1 else 100000
    except ValueError:
        return None
    return Fraction(quota, period) if quota > 0 and period > 0 else None


def _cgroup_chain(mount: str, path: str) -> list[str]:
    """The cgroup at `path` under `mount` and each ancestor up to the mount itself (a limit on any
    of them caps the process). A path the mount does not show (a container that sees only its own
    cgroup at the mount's root) leaves the mount's root."""
    parts = [p for p in path.split("/") if p and p != ".."]
    return [os.path.join(mount, *parts[:depth]) for depth in range(len(parts), -1, -1)]


def read_cpu_quota_fraction(root: str = "/") -> Fraction | None:
    """The tightest CPU quota on the reading process's cgroup and its ancestors, in CPUs; None when
    nothing limits it. Reads /proc/self/cgroup, then cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us or
    cgroup v2 cpu.max — what a container, a systemd slice with CPUQuota= or a sandbox host sets."""
    v1_path, v2_path = parse_proc_cgroup(read_text(root, "/proc/self/cgroup"))
    quotas: list[Fraction] = []
    if v1_path is not None:
        for mount in CGROUP_V1_CPU_MOUNTS:
            for directory in _cgroup_chain(mount, v1_path):
                quota = parse_cfs_quota(read_text(root, f"{directory}/cpu.cfs_quota_us"),
                                        read_text(root, f"{directory}/cpu.cfs_period_us"))
                if quota is not None:
                    quotas.append(quota)
    if v2_path is not None:
        for mount in CGROUP_V2_MOUNTS:
            for directory in _cgroup_chain(mount, v2_path):
                quota = parse_cpu_max(read_text(root, f"{directory}/cpu.max"))
                if quota is not None:
                    quotas.append(quota)
    return min(quotas) if quotas else None


CGROUP_V1_MEMORY_MOUNTS = ("/sys/fs/cgroup/memory",)
NO_MEMORY_LIMIT = 1 << 62  # cgroup v1 writes "no limit" as the largest page-aligned number


def parse_memory_limit(text: str | None) -> int | None:
    """Bytes in memory.max (v2) or memory.limit_in_bytes (v1); None for "max", v1's huge "no limit", garbage."""
    try:
        value = int(text or "")
    except ValueError:
        return None
    return value if 0 < value < NO_MEMORY_LIMIT else None


def read_memory_limit_bytes(root: str = "/") -> int | None:
    """The tightest cgroup memory limit on the reading process's cgroup and its ancestors (a container,
    a systemd MemoryMax=, a sandbox host's --mem); None when nothing limits it."""
    text = read_text(root, "/proc/self/cgroup") or ""
    v1_path = next((line.split(":", 2)[2] for line in text.splitlines()
                    if len(line.split(":", 2)) == 3 and "memory" in line.split(":", 2)[1].split(",")), None)
    _, v2_path = parse_proc_cgroup(text)
    limits: list[int] = []
    for mounts, path, name in ((CGROUP_V1_MEMORY_MOUNTS, v1_path, "memory.limit_in_bytes"),
                               (CGROUP_V2_MOUNTS, v2_path, "memory.max")):
        for mount in mounts if path is not None else ():
            for directory in _cgroup_chain(mount, path or ""):
                limit = parse_memory_limit(read_text(root, f"{directory}/{name}"))
                if limit is not None:
                    limits.append(limit)
    return min(limits) if limits else None


def read_cpu_quota(root: str = "/") -> float | None:
    """The CPU quota in CPUs (0.5 for half a CPU), rounded to 3 decimals; None when there is none."""
    quota = read_cpu_quota_fraction(root)
    return round(float(quota), 3) if quota is not None else None


def usable_cores(root: str = "/") -> int | None:
    """The CPUs this process can keep busy: the CPUs it may run on (its affinity, for the live root;
    the online CPUs of a fake tree), capped by the cgroup quota rounded up (0.5 CPU is 1 core, 1.5
    is 2), at least 1. The one count a node reports as its cores and plans its workers on."""
    cpus = len(os.sched_getaffinity(0)) if os.path.abspath(root) == "/" and hasattr(os, "sched_getaffinity") \
        else read_cores(root)
    quota = read_cpu_quota_fraction(root)
    if quota is None:
        return cpus
    capped = max(1, math.ceil(quota))
    return min(cpus, capped) if cpus else capped


def read_memory_bytes(root: str = "/") -> int | None:
    """MemTotal from /proc/meminfo, in bytes."""
    meminfo = read_text(root, "/proc/meminfo")
    if not meminfo:
        return None
    match = re.search(r"^MemTotal:\s*(\d+)\s*kB", meminfo, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def read_governor(root: str = "/") -> str | None:
    return read_text(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


def read_temperature_c(root: str = "/") -> float | None:
    """SoC temperature in °C from thermal_zone0 (the file holds milli-degrees)."""
    text = read_text(root, "/sys/class/thermal/thermal_zone0/temp")
    try:
        return round(int(text) / 1000.0, 1) if text is not None else None
    except ValueError:
        return None


def read_kernel(root: str = "/") -> str | None:
    """Kernel release from /proc/sys/kernel/osrelease (uname -r)."""
    return read_text(root, "/proc/sys/kernel/osrelease")


def read_os(root: str = "/") -> str | None:
    """PRETTY_NAME from /etc/os-release (or /usr/lib/os-release)."""
    for candidate in ("/etc/os-release", "/usr/lib/os-release"):
        text = read_text(root, candidate)
        if not text:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "PRETTY_NAME":
                return value.strip().strip('"').strip("'") or None
    return None


def read_hostname(root: str = "/") -> str | None:
    """/proc/sys/kernel/hostname, else /etc/hostname; the live socket name only for the real root."""
    name = read_text(root, "/proc/sys/kernel/hostname") or read_text(root, "/etc/hostname")
    if name:
        return name.splitlines()[0].strip()
    if os.path.abspath(root) == "/":
        return socket.gethostname() or None
    return None


_VERSION_WORD = re.compile(r"^v?\d+(\.\d+)*\S*$")


def version_from_line(line: str | None) -> str | None:
    """The version in a tool's first `--version` line, never the line or a path:
    "ffmpeg version 5.1.6-0+deb12u1 Copyright …" -> "5.1.6-0+deb12u1",
    "k3s version v1.31.4+k3s1 (abcdef)" -> "v1.31.4+k3s1", "Python 3.11.2" -> "3.11.2".
    None when the line names no version."""
    if not line:
        return None
    words = line.split()
    if "version" in words:  # "<tool> version <x>": the word after it
        after = words[words.index("version") + 1:]
        if after and "/" not in after[0]:
            return after[0]  # also a git build's "N-112345-gdeadbeef"
    return next((word for word in words if _VERSION_WORD.match(word) and "/" not in word), None)


def read_page_size(root: str = "/") -> int | None:
    """The kernel's memory page size in bytes (getconf PAGESIZE): 4096 on most kernels, 16384 on
    the Pi 5's own kernel, which changes how some programs perform. Only the live system can say."""
    if os.path.abspath(root) != "/":
        return None
    try:
        size = os.sysconf("SC_PAGESIZE")
    except (ValueError, OSError):
        return None
    return size if size > 0 else None


def node_context(root: str = "/") -> dict[str, Any]:
    """The environment of the node whose filesystem is at root (None for anything not found).

    `cores` is what the node can keep busy (usable_cores: affinity capped by the cgroup quota),
    `cpu_quota` the fractional quota behind it, `memory_limit_bytes` the cgroup's memory limit
    (both None without one; `memory_bytes` is the machine's)."""
    real = os.path.abspath(root) == "/"
    return {
        "hostname": read_hostname(root),
        "model": read_model(root),
        "cores": usable_cores(root),
        "cpu_quota": read_cpu_quota(root),
        "memory_bytes": read_memory_bytes(root),
        "memory_limit_bytes": read_memory_limit_bytes(root),
        "kernel": read_kernel(root),
        "os": read_os(root),
        "arch": platform.machine() or None if real else None,
        "page_size": read_page_size(root),
        "governor": read_governor(root),
        "temperature_c": read_temperature_c(root),
    }
