"""The backend layer: planned work items and N slots in, outcomes with timings out.

Every workload plans `WorkItem`s (what to run, with which files) and hands them
to a backend; everything before (planning) and after (run records, metrics,
report) is shared. A backend:

* runs at most `slots` items at once, handing out items in the order given
  (callers sort them: the transcode puts the longest segment first),
* starts a free slot on the next item as soon as one finishes (one queue),
* reads only the worker's ``RESULT <json>`` line (`labkit.results`),
* retries an item that failed up to `retries` more times — on any slot, so a
  lost host or node costs time, not results — and names it when it still fails,
* measures the makespan T_e2e on the controller's monotonic clock, from just
  before the first item starts to the moment the last item's output is read.

`local` (processes on the controller, `backends.local`) implements it today;
`ssh` and `k3s` implement the same `Backend.run`. docs/ARCHITECTURE.md describes
the contract.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Protocol, Sequence

from ..results import parse_result_lines


class WorkFailed(Exception):
    """One attempt of one item failed; the message says why in words."""


@dataclass(frozen=True)
class WorkItem:
    """One unit of work, the same for every backend."""

    name: str                                   # unique in its batch: "worker 0", "seg_0003.mp4"
    argv: tuple[str, ...]                       # the worker's command line; never through a shell
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment for the worker
    inputs: tuple[str, ...] = ()                # controller files the worker reads (remote backends ship them)
    outputs: tuple[str, ...] = ()               # files the worker writes (remote backends bring them back)
    index: int = 0                              # the worker's index among its run's items

    def to_dict(self) -> dict:
        return {"name": self.name, "argv": list(self.argv), "env": dict(self.env), "inputs": list(self.inputs),
                "outputs": list(self.outputs), "index": self.index}

    @classmethod
    def from_dict(cls, data: Mapping) -> "WorkItem":
        return cls(name=str(data["name"]), argv=tuple(str(a) for a in data["argv"]),
                   env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
                   inputs=tuple(data.get("inputs") or ()), outputs=tuple(data.get("outputs") or ()),
                   index=int(data.get("index", 0)))


@dataclass
class Attempt:
    """One failed attempt of an item (kept, whether or not a retry then succeeded)."""

    item: str
    attempt: int
    slot: int
    host: str
    error: str


@dataclass
class ItemOutcome:
    """The last attempt of one item."""

    name: str
    index: int
    slot: int
    host: str
    attempts: int
    returncode: Optional[int]
    stdout: str
    stderr: str
    started_s: float          # seconds after submit, controller monotonic clock
    finished_s: float
    timed_out: bool = False
    result: Optional[dict] = None   # the worker's RESULT record, when it was accepted
    error: Optional[str] = None     # why the item failed in the end; None when it succeeded

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class BackendOutcome:
    t_e2e_s: float
    items: list[ItemOutcome] = field(default_factory=list)   # in the order of the items given
    attempts: list[Attempt] = field(default_factory=list)    # every failed attempt

    @property
    def failed(self) -> list[ItemOutcome]:
        return [item for item in self.items if not item.ok]

    @property
    def results(self) -> list[dict]:
        return [item.result for item in self.items if item.result is not None]


# Called with an item and its RESULT record; raises WorkFailed to reject the attempt
# (e.g. a segment with the wrong frame count), which then counts as failed and is retried.
Accept = Callable[[WorkItem, dict], None]
# Called after each item finishes (done, total, that item's outcome): progress lines.
Progress = Callable[[int, int, ItemOutcome], None]


class Backend(Protocol):
    """Where work items run. `name` is what the report calls it (local, ssh, k3s)."""

    name: str

    def run(self, items: Sequence[WorkItem], slots: int, *, retries: int = 0,
            timeout_s: Optional[float] = None, accept: Optional[Accept] = None,
            on_progress: Optional[Progress] = None) -> BackendOutcome:
        ...

    def throttle_reading(self) -> Optional[str]:
        """The `vcgencmd get_throttled` text where the backend's nodes have one (None otherwise)."""
        ...


def result_of(stdout: str) -> dict:
    """The one well-formed RESULT record of a worker's stdout; WorkFailed naming what is wrong otherwise."""
    parsed = parse_result_lines(stdout)
    if parsed.malformed:
        raise WorkFailed(f"malformed RESULT line: {parsed.malformed_examples[0]['reason']}")
    if len(parsed.records) != 1:
        raise WorkFailed(f"{len(parsed.records)} RESULT lines, expected exactly one")
    return parsed.records[0]


def tail(text: str, lines: int = 2, limit: int = 400) -> str:
    """The last non-empty lines of a program's output, joined by ' | '."""
    kept = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[-limit:]
