"""The local backend: work items as processes on the controller.

A pool of `slots` threads each starts one item's process at a time, so at most
`slots` items run at once (one item per worker slot, DESIGN §2). The makespan
T_e2e runs from just before the first process starts to the moment the last
process's output has been read, on the monotonic clock.
"""
from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass
class ItemOutcome:
    index: int
    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    finished_s: float  # seconds after submit, monotonic
    timed_out: bool = False


@dataclass
class PoolOutcome:
    t_e2e_s: float
    items: list[ItemOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[ItemOutcome]:
        return [item for item in self.items if item.returncode != 0]


def run_pool(commands: list[list[str]], slots: int, timeout_s: float | None = None,
             env: dict[str, str] | None = None) -> PoolOutcome:
    """Run every argument list (never through a shell), at most `slots` at a time."""
    if slots < 1:
        raise ValueError(f"slots={slots} must be at least 1")
    lock = threading.Lock()
    outcomes: list[ItemOutcome] = []
    t0 = time.monotonic()

    def run_one(index: int, argv: list[str]) -> None:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            timed_out = True
        outcome = ItemOutcome(index, argv, proc.returncode, stdout, stderr, time.monotonic() - t0, timed_out)
        with lock:
            outcomes.append(outcome)

    with ThreadPoolExecutor(max_workers=min(slots, max(1, len(commands)))) as pool:
        futures = [pool.submit(run_one, i, argv) for i, argv in enumerate(commands)]
        for future in futures:
            future.result()
    outcomes.sort(key=lambda item: item.index)
    t_e2e = max((item.finished_s for item in outcomes), default=0.0)
    return PoolOutcome(t_e2e_s=t_e2e, items=outcomes)


def describe_failure(item: ItemOutcome, limit: int = 400) -> str:
    """One line naming the failed item and the tail of what it said."""
    why = "timed out" if item.timed_out else f"exited {item.returncode}"
    tail = (item.stderr.strip() or item.stdout.strip())[-limit:]
    return f"worker {item.index} {why}: {tail or 'no output'}"
