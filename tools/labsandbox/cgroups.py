"""One cgroup per sandbox host: its CPU and memory caps, and the list of what runs there.

A host's cgroup sits at the root of each hierarchy, named like its network
namespace (``lab-sbx-<id>-<n>``), so that ``down`` finds leftovers by name
alone. cgroup v2 (the unified tree, ``cpu.max`` and ``memory.max``) is used
where its cpu and memory controllers are available; otherwise cgroup v1 (the
``cpu`` and ``memory`` hierarchies, ``cpu.cfs_quota_us`` and
``memory.limit_in_bytes``).

Processes join a host's cgroup before they run anything (``join``, called in
the child between fork and exec), so every process sshd starts — a login, an
Ansible module, ffmpeg — inherits it.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CFS_PERIOD_US = 100_000
MOUNTINFO = "/proc/self/mountinfo"


class CgroupUnavailable(RuntimeError):
    """This machine has no usable cgroup cpu and memory controllers."""


@dataclass(frozen=True)
class CgroupLayout:
    """Where the controllers a host needs are mounted."""

    version: int        # 1 or 2
    cpu_root: Path      # v1: the cpu hierarchy; v2: the unified tree
    memory_root: Path   # v1: the memory hierarchy; v2: the unified tree

    def roots(self) -> list[Path]:
        return [self.cpu_root] if self.cpu_root == self.memory_root else [self.cpu_root, self.memory_root]

    def dirs(self, name: str) -> list[Path]:
        """A host's cgroup directories (one in v2, one per hierarchy in v1)."""
        return [root / name for root in self.roots()]

    def as_dict(self) -> dict[str, object]:
        return {"version": self.version, "cpu_root": str(self.cpu_root), "memory_root": str(self.memory_root)}


def _mounts(mountinfo: str) -> list[tuple[Path, str, set[str]]]:
    """(mount point, file system type, super options) of every mount in /proc/self/mountinfo text."""
    found = []
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        mountpoint = fields[4].replace("\\040", " ")
        found.append((Path(mountpoint), tail[0], set(tail[2].split(","))))
    return found


def _v2_controllers(root: Path) -> set[str]:
    try:
        return set((root / "cgroup.controllers").read_text(encoding="ascii").split())
    except OSError:
        return set()


def detect_layout(mountinfo: str | None = None) -> CgroupLayout:
    """The cgroup layout of this machine: v2 when its tree offers cpu and memory, else v1's
    cpu and memory hierarchies; CgroupUnavailable (naming what is missing) when neither."""
    if mountinfo is None:
        try:
            mountinfo = Path(MOUNTINFO).read_text(encoding="utf-8")
        except OSError as exc:
            raise CgroupUnavailable(f"cannot read {MOUNTINFO}: {exc}") from exc
    mounts = _mounts(mountinfo)
    for mountpoint, fstype, _ in mounts:
        if fstype == "cgroup2" and {"cpu", "memory"} <= _v2_controllers(mountpoint):
            return CgroupLayout(2, mountpoint, mountpoint)
    v1 = {controller: mountpoint for mountpoint, fstype, options in mounts if fstype == "cgroup"
          for controller in ("cpu", "memory") if controller in options}
    if "cpu" in v1 and "memory" in v1:
        return CgroupLayout(1, v1["cpu"], v1["memory"])
    have = ", ".join(f"{fstype} at {mp}" for mp, fstype, _ in mounts if fstype.startswith("cgroup")) or "none"
    raise CgroupUnavailable("sandbox hosts need the cgroup cpu and memory controllers (a cgroup2 tree offering"
                            f" both, or cgroup v1 cpu and memory hierarchies); mounted here: {have}")


def _write(path: Path, value: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def _enable_v2_controllers(root: Path) -> None:
    """Let the root's children use cpu and memory (no-op when already on)."""
    control = root / "cgroup.subtree_control"
    enabled = set(control.read_text(encoding="ascii").split())
    missing = [c for c in ("cpu", "memory") if c not in enabled]
    if missing:
        _write(control, " ".join(f"+{c}" for c in missing))


def create(layout: CgroupLayout, name: str, cpus: float, memory_bytes: int) -> list[Path]:
    """Make a host's cgroup with its caps; returns its directories. Raises CgroupUnavailable
    naming the file that refused the value."""
    quota_us = max(1000, round(cpus * CFS_PERIOD_US))  # the kernel's smallest quota is 1 ms
    dirs = layout.dirs(name)
    try:
        if layout.version == 2:
            _enable_v2_controllers(layout.cpu_root)
        for directory in dirs:
            directory.mkdir(exist_ok=True)
        if layout.version == 2:
            (cg,) = dirs
            _write(cg / "cpu.max", f"{quota_us} {CFS_PERIOD_US}")
            _write(cg / "memory.max", str(memory_bytes))
            _try_write(cg / "memory.swap.max", "0")  # the cap is memory, not memory plus swap
        else:
            cpu_dir, memory_dir = dirs
            _write(cpu_dir / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(cpu_dir / "cpu.cfs_quota_us", str(quota_us))
            _write(memory_dir / "memory.limit_in_bytes", str(memory_bytes))
            _try_write(memory_dir / "memory.memsw.limit_in_bytes", str(memory_bytes))
    except OSError as exc:
        raise CgroupUnavailable(f"cannot set up cgroup {name} ({getattr(exc, 'filename', None) or dirs[0]}):"
                                f" {exc.strerror or exc}") from exc
    return dirs


def _try_write(path: Path, value: str) -> None:
    """Write an optional control file (absent without swap accounting)."""
    try:
        _write(path, value)
    except OSError:
        pass


def join(dirs: list[Path]) -> None:
    """Move the calling process into the cgroup (each hierarchy's directory). Used between fork
    and exec, so that what it runs, and everything that starts, stays inside."""
    pid = str(os.getpid())
    for directory in dirs:
        _write(directory / "cgroup.procs", pid)


def pids(dirs: list[Path]) -> set[int]:
    """The processes in the cgroup now (a missing directory has none)."""
    found: set[int] = set()
    for directory in dirs:
        try:
            text = (directory / "cgroup.procs").read_text(encoding="ascii")
        except OSError:
            continue
        found.update(int(p) for p in text.split() if p.isdigit())
    return found


def kill_all(dirs: list[Path], timeout_s: float = 10.0) -> set[int]:
    """SIGKILL every process in the cgroup, again until none is left (a process may fork while
    we read the list); returns the ones killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = pids(dirs)
        if not alive:
            break
        for directory in dirs:
            _try_write(directory / "cgroup.kill", "1")  # v2 (Linux 5.14+): the kernel kills them all at once
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return killed


def remove(dirs: list[Path], timeout_s: float = 5.0) -> list[str]:
    """Remove the cgroup directories (a dying process keeps one busy for a moment); returns
    the problems left, in words (empty when all are gone)."""
    problems = []
    for directory in dirs:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                directory.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    problems.append(f"cgroup {directory} not removed: {exc.strerror}")
                    break
                time.sleep(0.05)
    return problems


def leftovers(layout: CgroupLayout, prefix: str) -> dict[str, list[Path]]:
    """The host cgroups whose names start with prefix (``lab-sbx-<id>-``), by name."""
    found: dict[str, list[Path]] = {}
    for root in layout.roots():
        try:
            entries = sorted(root.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and entry.name.startswith(prefix) and entry.name[len(prefix):].isdigit():
                found.setdefault(entry.name, []).append(entry)
    return found
