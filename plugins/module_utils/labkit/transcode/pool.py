"""The local backend's segment pool: N worker slots, longest segment first,
a bounded number of retries, failures reported by name."""
from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar("T")


class WorkFailed(Exception):
    """Raised by a run function when one attempt failed; the message says why."""


@dataclass
class Attempt:
    item: str
    attempt: int
    slot: int
    error: str


@dataclass
class PoolOutcome(Generic[T]):
    results: dict[str, dict] = field(default_factory=dict)   # item name -> result record
    failed: dict[str, str] = field(default_factory=dict)     # item name -> last error
    attempts: list[Attempt] = field(default_factory=list)     # every failed attempt

    @property
    def ok(self) -> bool:
        return not self.failed


def run_pool(
    items: Sequence[T],
    name: Callable[[T], str],
    run_one: Callable[[T, int], dict],
    workers: int,
    retries: int,
) -> PoolOutcome[T]:
    """Run run_one(item, slot) for every item on `workers` slots.

    Items are started in the order given (the caller sorts longest first);
    each slot takes the next item as soon as it is free. An item whose
    run_one raises WorkFailed is retried up to `retries` more times; if it
    still fails it is named in outcome.failed and the other items carry on.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    outcome: PoolOutcome[T] = PoolOutcome()
    lock = threading.Lock()
    slots: "queue.Queue[int]" = queue.Queue()
    for s in range(workers):
        slots.put(s)

    def task(item: T) -> None:
        slot = slots.get()
        try:
            last = ""
            for attempt in range(retries + 1):
                try:
                    result = run_one(item, slot)
                except WorkFailed as exc:
                    last = str(exc)
                    with lock:
                        outcome.attempts.append(Attempt(name(item), attempt + 1, slot, last))
                    continue
                with lock:
                    outcome.results[name(item)] = result
                return
            with lock:
                outcome.failed[name(item)] = last
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(max_workers=workers) as ex:
        futures = [ex.submit(task, item) for item in items]
        for fut in futures:
            fut.result()
    return outcome
