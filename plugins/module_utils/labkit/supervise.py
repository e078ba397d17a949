"""Keep the run's child processes tied to the run.

Ansible runs each module in its own session (its worker process calls
setsid), so killing ansible-playbook -- even its whole process group -- does
not reach the module or the encoders it started. Without care they would go
on writing into the work folder while a rerun works there too. So:

* every child runs in its own process group and is tracked (``Children``),
* a watchdog thread polls the process that started the run (the
  ansible-playbook process, found by walking up /proc; else the parent); when
  it is gone, every child group is killed and the module exits,
* the work folder is locked (``flock``) for the length of a step, so two runs
  never work in the same folder at once.
"""
from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Sequence


def parent_of(pid: int, proc: str = "/proc") -> int | None:
    """Parent pid from /proc/<pid>/stat (the field after the parenthesised name)."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    try:
        return int(text.rsplit(")", 1)[1].split()[1])
    except (IndexError, ValueError):
        return None


def cmdline_of(pid: int, proc: str = "/proc") -> list[str]:
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def run_owner(pid: int | None = None, marker: str = "ansible-playbook", proc: str = "/proc") -> int:
    """The outermost ancestor whose command line names `marker`: the
    ansible-playbook process itself, not one of its forked workers (which
    carry the same command line). The parent when there is none."""
    me = pid or os.getpid()
    cur: int | None = parent_of(me, proc)
    first = cur
    found: int | None = None
    seen = 0
    while cur and cur > 1 and seen < 64:
        if any(marker in os.path.basename(arg) for arg in cmdline_of(cur, proc)[:2]):
            found = cur
        cur = parent_of(cur, proc)
        seen += 1
    return found or first or 1


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Children:
    """Child processes, each in its own process group, killable all at once."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.stopping = False
        self._at_stop: list[Callable[[], None]] = []

    def at_stop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when the run is stopped (kill_all), e.g. to delete a Job on the
        cluster that no process of ours runs; returns a function that cancels it."""
        with self._lock:
            self._at_stop.append(callback)

        def cancel() -> None:
            with self._lock:
                if callback in self._at_stop:
                    self._at_stop.remove(callback)
        return cancel

    def popen(self, cmd: Sequence[str], **kw: Any) -> subprocess.Popen:
        with self._lock:
            if self.stopping:
                raise RuntimeError("the run is stopping")
            p = subprocess.Popen(list(cmd), start_new_session=True, stdin=subprocess.DEVNULL, **kw)
            self._procs.add(p)
            return p

    def run(self, cmd: Sequence[str], timeout_s: float | None = None) -> subprocess.CompletedProcess[str]:
        """Like subprocess.run(capture_output=True, text=True), tracked. After timeout_s the
        process group is killed and the result has returncode 124 and says so on stderr."""
        p = self.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            try:
                out, err = p.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                out, err = p.communicate()
                return subprocess.CompletedProcess(list(cmd), 124, out, (err or "") + f"\ntimed out after {timeout_s:g} s")
        finally:
            with self._lock:
                self._procs.discard(p)
        return subprocess.CompletedProcess(list(cmd), p.returncode, out, err)

    def forget(self, p: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(p)

    def kill_all(self, sig: int = signal.SIGTERM, grace: float = 2.0) -> None:
        with self._lock:
            self.stopping = True
            procs = list(self._procs)
            callbacks, self._at_stop = list(self._at_stop), []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # stopping goes on: the processes below must die anyway
                pass
        for p in procs:
            try:
                os.killpg(p.pid, sig)
            except OSError:
                pass
        end = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass


def watch_owner(children: Children, owner: int, on_gone: Callable[[], None], every: float = 0.5) -> threading.Thread:
    """Start a daemon thread: when `owner` has gone, kill the children and call on_gone()."""

    def loop() -> None:
        while True:
            time.sleep(every)
            if not alive(owner) or parent_of(owner) is None:
                children.kill_all()
                on_gone()
                return

    t = threading.Thread(target=loop, daemon=True, name="owner-watchdog")
    t.start()
    return t


class WorkLock:
    """An exclusive, non-blocking lock on the work folder (released when the holder dies)."""

    def __init__(self, work: str) -> None:
        self.path = os.path.join(work, ".lock")
        self.fd: int | None = None

    def __enter__(self) -> "WorkLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise BlockingIOError(
                    f"work folder {os.path.dirname(self.path)!r} is in use by another run (pid {holder or '?'}); "
                    "wait for it to finish or stop it"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
