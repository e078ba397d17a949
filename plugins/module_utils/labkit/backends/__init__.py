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
* does not retry a deterministic failure — an exit status the item lists in
  `final_exit_codes` (a damaged input, a setting the program refuses) or a
  `WorkFailed(..., final=True)` from `accept` — since every retry would fail
  the same way; the item's error names the cause,
* measures the makespan T_e2e on the controller's monotonic clock, from just
  before the first item starts to the moment the last item's output is read.

`local` (processes on the controller, `backends.local`), `ssh` (several hosts
over SSH, `backends.ssh`: a lost host's items are redone elsewhere, named in
`BackendOutcome.hosts_lost`) and `k3s` implement the same `Backend.run`.
docs/ARCHITECTURE.md describes the contract.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Protocol, Sequence

from ..results import parse_result_lines


class WorkFailed(Exception):
    """One attempt of one item failed; the message says why in words.

    `final`: the failure is deterministic (the same input gives the same
    failure), so the backend does not retry it."""

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


@dataclass(frozen=True)
class WorkItem:
    """One unit of work, the same for every backend."""

    name: str                                   # unique in its batch: "worker 0", "seg_0003.mp4"
    argv: tuple[str, ...]                       # the worker's command line; never through a shell
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment for the worker
    inputs: tuple[str, ...] = ()                # controller files the worker reads (remote backends ship them)
    outputs: tuple[str, ...] = ()               # files the worker writes (remote backends bring them back)
    index: int = 0                              # the worker's index among its run's items
    # Exit statuses that mean retrying cannot help, each with its cause in words
    # (e.g. {7: "the source is damaged around 6.40-7.90 s"}): such an attempt is not retried.
    final_exit_codes: Mapping[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {"name": self.name, "argv": list(self.argv), "env": dict(self.env), "inputs": list(self.inputs),
                "outputs": list(self.outputs), "index": self.index}
        if self.final_exit_codes:  # only when set: items without them serialise as before
            data["final_exit_codes"] = {str(code): cause for code, cause in self.final_exit_codes.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "WorkItem":
        return cls(name=str(data["name"]), argv=tuple(str(a) for a in data["argv"]),
                   env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
                   inputs=tuple(data.get("inputs") or ()), outputs=tuple(data.get("outputs") or ()),
                   index=int(data.get("index", 0)),
                   final_exit_codes={int(k): str(v) for k, v in (data.get("final_exit_codes") or {}).items()})


@dataclass
class Attempt:
    """One failed attempt of an item (kept, whether or not a retry then succeeded)."""

    item: str
    attempt: int
    slot: int
    host: str
    error: str
    # The attempt ended because its host was lost (unreachable, killed): it did not
    # count against the item's retries, and the item ran again on another host.
    host_lost: bool = False


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
    final: bool = False             # the failure was deterministic, so it was not retried
    # Hosts lost while they ran this item, in order: each time the item ran again elsewhere.
    lost_on: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class BackendOutcome:
    t_e2e_s: float
    items: list[ItemOutcome] = field(default_factory=list)   # in the order of the items given
    attempts: list[Attempt] = field(default_factory=list)    # every failed attempt
    # Multi-host backends: hosts that were lost (unreachable at the start, or during the run),
    # in the order it was noticed, why in words, and the items each was running then.
    hosts_lost: list[str] = field(default_factory=list)
    host_errors: dict[str, str] = field(default_factory=dict)
    redone: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> list[ItemOutcome]:
        return [item for item in self.items if not item.ok]

    @property
    def results(self) -> list[dict]:
        return [item.result for item in self.items if item.result is not None]


# Called with an item and its RESULT record; raises WorkFailed to reject the attempt
# (e.g. a segment with the wrong frame count), which then counts as failed and is
# retried, unless the WorkFailed is final.
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


def lost_hosts_text(outcome: BackendOutcome) -> list[str]:
    """One sentence per lost host: why, and what it was running (redone elsewhere, or not run at all)."""
    by_name = {item.name: item for item in outcome.items}
    lines = []
    for host in outcome.hosts_lost:
        names = outcome.redone.get(host, [])
        line = f"host {host} was lost ({outcome.host_errors.get(host, 'no reason given')})"
        if names:
            redone = [name for name in names if by_name.get(name) is not None and by_name[name].ok]
            line += f"; it was running {', '.join(names)}"
            line += ", redone on another host" if len(redone) == len(names) else \
                f"; redone on another host: {', '.join(redone) or 'none'}"
        lines.append(line)
    return lines


def mapped_path(path: str, paths: Mapping[str, str]) -> str:
    """Where a remote side (an SSH host, a pod) sees a controller path: `paths` maps controller
    folders to its folders, the longest matching folder wins; any other path is the same."""
    for local, remote in sorted(paths.items(), key=lambda pair: -len(pair[0].rstrip("/"))):
        local = local.rstrip("/") or "/"
        if path == local:
            return remote
        if path.startswith(local if local.endswith("/") else local + "/"):
            return remote.rstrip("/") + "/" + path[len(local):].lstrip("/")
    return path


def mapped_item(item: WorkItem, paths: Mapping[str, str]) -> WorkItem:
    """The item as a remote side runs it: argv, env values, inputs and outputs that are
    controller paths under a `paths` folder point into its folder. Only whole arguments are
    rewritten ("--output=/x" is not; pass "--output", "/x")."""
    if not paths:
        return item

    def there(value: str) -> str:
        return mapped_path(value, paths)

    return WorkItem(name=item.name, argv=tuple(there(a) for a in item.argv),
                    env={k: there(v) for k, v in item.env.items()},
                    inputs=tuple(there(p) for p in item.inputs), outputs=tuple(there(p) for p in item.outputs),
                    index=item.index, final_exit_codes=item.final_exit_codes)


def result_of(stdout: str) -> dict:
    """The one well-formed RESULT record of a worker's stdout; WorkFailed naming what is wrong otherwise."""
    parsed = parse_result_lines(stdout)
    if parsed.malformed:
        raise WorkFailed(f"malformed RESULT line: {parsed.malformed_examples[0]['reason']}")
    if len(parsed.records) != 1:
        raise WorkFailed(f"{len(parsed.records)} RESULT lines, expected exactly one")
    return parsed.records[0]


def exit_failure(item: WorkItem, returncode: int, output_tail: str) -> WorkFailed:
    """A worker's non-zero exit in words (every backend words it the same way).

    Final (not retried) when the item lists the status among its final_exit_codes;
    the message then starts with the cause the item gives for it."""
    cause = item.final_exit_codes.get(returncode)
    if cause is None:
        return WorkFailed(f"exited {returncode}: {output_tail}")
    return WorkFailed(f"{cause} (exited {returncode}, not retried): {output_tail}", final=True)


def tail(text: str, lines: int = 2, limit: int = 400) -> str:
    """The last non-empty lines of a program's output, joined by ' | '."""
    kept = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[-limit:]
