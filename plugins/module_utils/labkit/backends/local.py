"""The local backend: work items as processes on the controller.

`slots` threads share one queue of items; each starts one item's process at a
time (in its own process group, tracked by `supervise.Children`, so a stopped
run leaves no worker behind). T_e2e runs from just before the first process
starts to the moment the last item's output has been read, on the monotonic
clock.
"""
from __future__ import annotations

import os
import platform
import queue
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

from ..supervise import Children
from . import (Accept, Attempt, BackendOutcome, ItemOutcome, Progress, WorkFailed, WorkItem, exit_failure,
               result_of, tail)


class LocalBackend:
    """Processes on the controller; one slot runs one item at a time."""

    name = "local"

    def __init__(self, children: Optional[Children] = None) -> None:
        self.children = children or Children()
        self.host = platform.node() or "localhost"

    def throttle_reading(self) -> Optional[str]:
        """`vcgencmd get_throttled` on a Raspberry Pi; None elsewhere (or when it fails)."""
        vcgencmd = shutil.which("vcgencmd")
        if vcgencmd is None:
            return None
        try:
            done = subprocess.run([vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=10,
                                  check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    def _attempt(self, item: WorkItem, slot: int, t0: float, timeout_s: Optional[float],
                 accept: Optional[Accept]) -> ItemOutcome:
        env = dict(os.environ, **item.env) if item.env else None
        started = time.monotonic() - t0
        proc = self.children.popen(item.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            timed_out = True
        finally:
            self.children.forget(proc)
        outcome = ItemOutcome(item.name, item.index, slot, self.host, 1, proc.returncode, stdout, stderr,
                              started, time.monotonic() - t0, timed_out)
        try:
            if timed_out:
                raise WorkFailed(f"timed out after {timeout_s:g} s")
            if proc.returncode != 0:
                raise exit_failure(item, proc.returncode, tail(stderr or stdout) or "no output")
            result = result_of(stdout)
            if accept is not None:
                accept(item, result)
            outcome.result = result
        except WorkFailed as err:
            outcome.error = str(err)
            outcome.final = err.final
        return outcome

    def run(self, items: Sequence[WorkItem], slots: int, *, retries: int = 0,
            timeout_s: Optional[float] = None, accept: Optional[Accept] = None,
            on_progress: Optional[Progress] = None) -> BackendOutcome:
        """Run every item, at most `slots` at a time, in the order given; retry failures."""
        if slots < 1:
            raise ValueError(f"slots={slots} must be at least 1")
        if retries < 0:
            raise ValueError(f"retries={retries} must be at least 0")
        free: "queue.Queue[int]" = queue.Queue()
        for slot in range(slots):
            free.put(slot)
        lock = threading.Lock()
        outcome = BackendOutcome(t_e2e_s=0.0)
        finals: dict[int, ItemOutcome] = {}
        t0 = time.monotonic()

        def work(position: int, item: WorkItem) -> None:
            for attempt in range(1, retries + 2):
                slot = free.get()
                try:
                    last = self._attempt(item, slot, t0, timeout_s, accept)
                finally:
                    free.put(slot)
                last.attempts = attempt
                if last.ok:
                    break
                with lock:
                    outcome.attempts.append(Attempt(item.name, attempt, slot, last.host, last.error or ""))
                if last.final:  # deterministic: another attempt would fail the same way
                    break
            with lock:
                finals[position] = last
                done = len(finals)
            if on_progress is not None:
                on_progress(done, len(items), last)

        with ThreadPoolExecutor(max_workers=max(1, min(slots, len(items)))) as pool:
            for future in [pool.submit(work, i, item) for i, item in enumerate(items)]:
                future.result()
        outcome.items = [finals[i] for i in range(len(items))]
        outcome.t_e2e_s = max((item.finished_s for item in outcome.items), default=0.0)
        return outcome
