"""The run record (docs/ARCHITECTURE.md): one execution of one point, for every workload and backend.

Planning makes a `PlannedRun` per point; a backend executes its work items;
`run_record()` turns the backend's outcome into a `RunRecord`, the only shape
that metrics and the report read. Backends that know more (k3s: per-pod
phases, pods that queued) add it through the same builder.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping, Optional, Sequence

from .backends import Backend, BackendOutcome, WorkItem, lost_hosts_text
from .environment import OCCURRED_OFFSET, parse_throttled
from .text import plural


@dataclass
class PlannedRun:
    """One point of an experiment, before it runs (workload-independent)."""

    run_id: str
    workload: str
    mode: str                 # strong | weak | baseline | legacy
    workers: int              # N
    repetition: int           # 0 is the warm-up
    warmup: bool
    order: int                # position in the shuffled execution order
    work: Optional[float]     # total work: samples, or seconds of video (None: unknown, legacy logs)
    seed: int = 0
    oversubscribed: bool = False
    label: str = ""           # the progress line's prefix, e.g. "[3/13] strong N=2 rep 1/3"
    items: list[dict] = field(default_factory=list)   # the run's WorkItems (WorkItem.to_dict), for the backend

    def work_items(self) -> list[WorkItem]:
        return [WorkItem.from_dict(item) for item in self.items]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PlannedRun":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunRecord:
    """One executed run: what metrics.analyse and the report read."""

    run_id: str
    workload: str
    mode: str
    workers: int
    repetition: int
    warmup: bool
    order: int
    work: Optional[float]
    t_e2e_s: Optional[float]          # submit -> last result, controller monotonic clock
    results: list[dict] = field(default_factory=list)   # RESULT records, by index
    oversubscribed: bool = False
    throttled: bool = False           # a node throttled during the run (vcgencmd said so)
    valid: bool = True
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)   # backend-specific: queued_pods, resumed ...

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("extra"))
        if not data["problems"]:
            data.pop("problems")
        return data


def throttled_during(before: str | None, after: str | None) -> bool:
    """Did the node throttle between two `vcgencmd get_throttled` readings?

    Yes when a "now" bit (0–3) is set after the run, or a "has occurred" bit
    (16–19) is set after the run that was clear before it. No readings, no flag.
    """
    first, last = parse_throttled(before), parse_throttled(after)
    if last is None:
        return False
    new_occurred = (last["value"] >> OCCURRED_OFFSET) & ~((first or {"value": 0})["value"] >> OCCURRED_OFFSET)
    return bool(last["throttled_now"] or (first is not None and new_occurred & 0xF))


def check_results(run_id: str, expected: int, results: Sequence[Mapping[str, Any]]) -> tuple[list[dict], list[str]]:
    """This run's results by index, and what is wrong with them: other runs' records are
    dropped; one result per worker, each index once."""
    mine = sorted((dict(r) for r in results if r.get("run_id") == run_id), key=lambda r: r["index"])
    problems = []
    if len(mine) != expected:
        problems.append(f"{plural(len(mine), 'result')} for {plural(expected, 'worker')}")
    indices = [r["index"] for r in mine]
    if len(set(indices)) != len(indices):
        problems.append(f"duplicate worker indices {indices}")
    return mine, problems


def run_record(planned: PlannedRun, t_e2e_s: Optional[float], results: Sequence[Mapping[str, Any]],
               problems: Sequence[str] = (), *, expected: Optional[int] = None, throttled: bool = False,
               oversubscribed: Optional[bool] = None, **extra: Any) -> RunRecord:
    """The record of a planned run from what its backend returned.

    Valid when nothing went wrong and exactly one result per expected worker
    (default: N) came back, each tagged with this run's id."""
    mine, found = check_results(planned.run_id, planned.workers if expected is None else expected, results)
    problems = list(problems) + found
    return RunRecord(
        run_id=planned.run_id, workload=planned.workload, mode=planned.mode, workers=planned.workers,
        repetition=planned.repetition, warmup=planned.warmup, order=planned.order, work=planned.work,
        t_e2e_s=t_e2e_s, results=mine,
        oversubscribed=planned.oversubscribed if oversubscribed is None else oversubscribed,
        throttled=throttled, valid=not problems, problems=problems, extra=dict(extra),
    )


def from_backend(planned: PlannedRun, outcome: BackendOutcome, *, throttled: bool = False,
                 **extra: Any) -> RunRecord:
    """The record of a planned run whose items one backend ran. Each result says which host
    and slot ran it (a worker's own `node` may not tell hosts apart); lost hosts are named."""
    problems = [f"{item.name} {item.error}" for item in outcome.failed]
    results = [dict(item.result, host=item.host, slot=item.slot) for item in outcome.items
               if item.ok and item.result is not None]
    lost = lost_hosts_text(outcome)
    if lost:
        extra = dict(extra, hosts_lost=lost)
    return run_record(planned, outcome.t_e2e_s, results, problems, expected=len(outcome.items),
                      throttled=throttled, **extra)


def execute(backend: Backend, planned: PlannedRun, *, slots: Optional[int] = None,
            timeout_s: Optional[float] = None, retries: int = 0) -> RunRecord:
    """Run a planned run's items on a backend (all at once by default) and build its record,
    flagged when a node throttled meanwhile."""
    items = planned.work_items()
    if not items:
        raise ValueError(f"run {planned.run_id!r} has no work items to execute")
    before = backend.throttle_reading()
    outcome = backend.run(items, slots or len(items), retries=retries, timeout_s=timeout_s)
    return from_backend(planned, outcome, throttled=throttled_during(before, backend.throttle_reading()))
