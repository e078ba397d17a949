"""The k3s backend's pure part: Kubernetes Job and pod status in, run record out.

Everything here works on objects in the Kubernetes API's JSON shape (camelCase
keys, RFC 3339 timestamp strings), exactly what `kubectl get -o json` prints
and what the Python client's `ApiClient.sanitize_for_serialization` returns.
Nothing here talks to a cluster.

Per-pod phases (DESIGN §4) split one worker's share of the makespan:

    scheduling_s     PodScheduled − creationTimestamp      (control plane clock)
    start_s          container startedAt − PodScheduled    (node clock − control plane clock)
    runtime_start_s  t_start − container startedAt         (node clock, worker's wall clock)
    compute_s        the worker's own monotonic interval
    exit_s           container finishedAt − t_end          (node clock)

Kubernetes writes these timestamps with one-second resolution (RFC 3339
without a fraction, truncated), so every phase that uses one is only good to
about ±1 s and can come out slightly negative; the sub-second figures are the
workers' (t_start_ns, t_end_ns, compute_s). start_s also mixes the control
plane's clock with the node's: NTP skew between them shows up there.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .results import parse_result_lines
from .runs import PlannedRun, RunRecord, run_record

# Resolution of Kubernetes status timestamps (metav1.Time), in seconds.
TIMESTAMP_RESOLUTION_S = 1.0
PHASE_FIELDS = ("scheduling_s", "start_s", "runtime_start_s", "compute_s", "exit_s")
COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index"
TERMINAL_POD_PHASES = ("Succeeded", "Failed")


def parse_time(text: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp ("2026-11-25T03:15:07Z"); None when absent or unparsable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def job_finished(job_status: Mapping[str, Any] | None) -> str | None:
    """"Complete" or "Failed" once the Job has that condition with status "True", else None.

    Takes the Job's `status` (a whole Job object is accepted too). Only the
    terminal conditions count: since Kubernetes 1.31 `SuccessCriteriaMet` and
    `FailureTarget` come first, while pods may still be terminating.
    """
    if not isinstance(job_status, Mapping):
        return None
    if "conditions" not in job_status and isinstance(job_status.get("status"), Mapping):
        job_status = job_status["status"]
    for condition in job_status.get("conditions") or []:
        if not isinstance(condition, Mapping) or str(condition.get("status")) != "True":
            continue
        if condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return None


def pod_name(pod: Mapping[str, Any]) -> str:
    return str(_get(pod, "metadata", "name") or "")


def pod_index(pod: Mapping[str, Any]) -> int | None:
    """The pod's completion index (annotation, or the label Kubernetes ≥ 1.28 adds too)."""
    for where in ("annotations", "labels"):
        value = _get(pod, "metadata", where, COMPLETION_INDEX_KEY)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def container_status(pod: Mapping[str, Any], container: str | None = None) -> Mapping[str, Any] | None:
    """The status of the named container (the first one when no name is given or it is not found)."""
    statuses = [s for s in _get(pod, "status", "containerStatuses") or [] if isinstance(s, Mapping)]
    for status in statuses:
        if container is None or status.get("name") == container:
            return status
    return statuses[0] if statuses else None


def _container_times(pod: Mapping[str, Any], container: str | None) -> tuple[float | None, float | None]:
    status = container_status(pod, container)
    state = _get(status, "state") or {}
    terminated = _get(state, "terminated")
    if isinstance(terminated, Mapping):
        return parse_time(terminated.get("startedAt")), parse_time(terminated.get("finishedAt"))
    return parse_time(_get(state, "running", "startedAt")), None


def _condition_time(pod: Mapping[str, Any], kind: str) -> float | None:
    for condition in _get(pod, "status", "conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == kind and str(condition.get("status")) == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


def _diff(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else later - earlier


def pod_phases(pod: Mapping[str, Any], result: Mapping[str, Any] | None = None,
               container: str | None = None) -> dict[str, float | None]:
    """The five phases of one pod (module docstring); None for any phase whose timestamps are missing.

    `result` is the pod's parsed RESULT record (t_start_ns, t_end_ns, compute_s).
    Timestamps have one-second resolution: see TIMESTAMP_RESOLUTION_S.
    """
    created = parse_time(_get(pod, "metadata", "creationTimestamp"))
    scheduled = _condition_time(pod, "PodScheduled")
    started, finished = _container_times(pod, container)
    result = result or {}
    t_start = result.get("t_start_ns")
    t_end = result.get("t_end_ns")
    t_start_s = t_start / 1e9 if isinstance(t_start, int) and not isinstance(t_start, bool) else None
    t_end_s = t_end / 1e9 if isinstance(t_end, int) and not isinstance(t_end, bool) else None
    compute = result.get("compute_s")
    return {
        "scheduling_s": _diff(scheduled, created),
        "start_s": _diff(started, scheduled),
        "runtime_start_s": _diff(t_start_s, started),
        "compute_s": float(compute) if isinstance(compute, (int, float)) and not isinstance(compute, bool) else None,
        "exit_s": _diff(finished, t_end_s),
    }


def _pod_for(result: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    name = result.get("pod")
    if name:
        for pod in pods:
            if pod_name(pod) == name:
                return pod
    matches = [pod for pod in pods if pod_index(pod) == result.get("index")]
    return matches[0] if len(matches) == 1 else None


def merge_phases(results: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]],
                 container: str | None = None) -> list[dict[str, Any]]:
    """Each result with its pod's phase fields added (matched by pod name, else by completion index).

    compute_s stays the worker's own figure. A result with no matching pod
    keeps its fields and gets no phases.
    """
    merged = []
    for result in results:
        record = dict(result)
        pod = _pod_for(result, pods)
        if pod is not None:
            phases = pod_phases(pod, result, container)
            phases.pop("compute_s")
            record.update(phases)
            record.setdefault("pod", pod_name(pod))
        merged.append(record)
    return merged


def pods_that_waited(pods: Sequence[Mapping[str, Any]], container: str | None = None) -> list[str]:
    """Pods scheduled only after another pod of the same Job had finished: they waited for a free core.

    With one-second timestamps the comparison is strict (scheduled second >
    finished second), so a pod is named only when it certainly waited.
    """
    finished = {pod_name(p): _container_times(p, container)[1] for p in pods}
    waited = []
    for pod in pods:
        scheduled = _condition_time(pod, "PodScheduled")
        earlier = [t for name, t in finished.items() if name != pod_name(pod) and t is not None]
        if scheduled is not None and earlier and scheduled > min(earlier):
            waited.append(pod_name(pod))
    return sorted(waited)


# Container waiting reasons that do not go away by waiting (a bad image name, a missing
# ConfigMap key, a pull that already backs off): the run is given up at once.
HOPELESS_WAITING = frozenset({"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                              "CreateContainerConfigError", "CreateContainerError", "RunContainerError"})


def stuck_reason(pods: Sequence[Mapping[str, Any]], elapsed_s: float, start_timeout_s: float,
                 container: str | None = None) -> str | None:
    """Why a Job that has not finished will not finish by itself, or None while it may still.

    Stuck: a container waits for a hopeless reason (HOPELESS_WAITING), or no
    container has started start_timeout_s after submit (no pod created, none
    scheduled, images still pulling). Pods queued behind running ones (more
    workers than free cores) are not stuck: some container has started.
    """
    for pod in pods:
        waiting = _get(container_status(pod, container), "state", "waiting")
        if isinstance(waiting, Mapping) and waiting.get("reason") in HOPELESS_WAITING:
            return f"pod {pod_name(pod)} cannot start: {waiting.get('reason')}"
    started = any(_container_times(pod, container)[0] is not None
                  or _get(pod, "status", "phase") in TERMINAL_POD_PHASES for pod in pods)
    if not started and elapsed_s > start_timeout_s:
        what = "no pod was created" if not pods else "no worker container started"
        return f"{what} within {start_timeout_s:g} s of submitting the Job"
    return None


@dataclass
class LogResults:
    """What the pods' logs held for one run."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def results_from_logs(logs: Mapping[str, str], run_id: str | None = None) -> LogResults:
    """Every pod's RESULT record (labkit.results' parser), one expected per pod log.

    `logs` maps a pod name to its log text (`kubectl logs --prefix` lines are
    accepted). Records of another run_id are ignored; a record without `pod`
    gets the name of the pod whose log it came from. Problems name the pod.
    """
    outcome = LogResults()
    for name in sorted(logs):
        parsed = parse_result_lines(logs[name] or "")
        mine = [r for r in parsed.records if run_id is None or r.get("run_id") == run_id]
        for example in parsed.malformed_examples:
            outcome.problems.append(f"pod {name}: line {example['line_no']}: {example['reason']}")
        if parsed.malformed > len(parsed.malformed_examples):
            outcome.problems.append(f"pod {name}: {parsed.malformed - len(parsed.malformed_examples)} more malformed line(s)")
        if len(mine) != 1:
            outcome.problems.append(f"pod {name}: {len(mine)} RESULT lines for run {run_id}, expected 1")
        for record in mine:
            record = dict(record)
            record.setdefault("pod", name)
            outcome.records.append(record)
    return outcome


def pod_problem(pod: Mapping[str, Any], log_text: str | None = None, tail_lines: int = 10,
                container: str | None = None) -> str:
    """One line saying what became of a pod that did not succeed, with the tail of its log."""
    name = pod_name(pod) or "?"
    phase = _get(pod, "status", "phase") or "Unknown"
    parts = [f"pod {name} (index {pod_index(pod)}) {phase}"]
    state = _get(container_status(pod, container), "state") or {}
    terminated = _get(state, "terminated")
    waiting = _get(state, "waiting")
    if isinstance(terminated, Mapping):
        parts.append(f"exit code {terminated.get('exitCode')}, reason {terminated.get('reason')}"
                     + (f": {terminated['message']}" if terminated.get("message") else ""))
    elif isinstance(waiting, Mapping):
        parts.append(f"waiting: {waiting.get('reason')}" + (f": {waiting['message']}" if waiting.get("message") else ""))
    for condition in _get(pod, "status", "conditions") or []:
        if (isinstance(condition, Mapping) and condition.get("type") == "PodScheduled"
                and str(condition.get("status")) == "False"):
            parts.append(f"not scheduled: {condition.get('reason')}: {condition.get('message')}")
    if _get(pod, "status", "reason"):
        parts.append(f"reason {_get(pod, 'status', 'reason')}: {_get(pod, 'status', 'message')}")
    text = ", ".join(parts)
    lines = [line.strip() for line in (log_text or "").splitlines() if line.strip()]
    if lines:
        text += "; log tail: " + " | ".join(lines[-tail_lines:])
    return text


@dataclass
class JobCollection:
    """What one Job's pods and logs say, before it becomes a run record (`runs.run_record`)."""

    results: list[dict[str, Any]] = field(default_factory=list)   # RESULT records with their pod's phases
    problems: list[str] = field(default_factory=list)
    queued_pods: int = 0          # pods scheduled only after another pod had finished


def collect_job(run_id: str, job_state: str | None, pods: Sequence[Mapping[str, Any]], logs: Mapping[str, str],
                container: str | None = None, tail_lines: int = 10) -> JobCollection:
    """Every pod's result and what went wrong with the Job, its pods and their logs.

    job_state is job_finished()'s answer, or something else ("Timeout") when
    the Job never finished. Counting the results against the workers is the
    run record builder's part (`runs.check_results`).
    """
    problems: list[str] = []
    if job_state != "Complete":
        problems.append(f"Job {job_state or 'did not finish'}")
    for pod in sorted(pods, key=lambda p: (pod_index(p) is None, pod_index(p) or 0, pod_name(p))):
        if _get(pod, "status", "phase") != "Succeeded":
            problems.append(pod_problem(pod, logs.get(pod_name(pod)), tail_lines, container))
    if not pods:
        problems.append("no pods were created")
    found = results_from_logs(logs, run_id)
    # A failed pod's problems are already named above, with its log.
    failed_pods = {pod_name(p) for p in pods if _get(p, "status", "phase") != "Succeeded"}
    problems.extend(p for p in found.problems if not any(p.startswith(f"pod {name}:") for name in failed_pods))
    results = merge_phases(sorted(found.records, key=lambda r: r["index"]), pods, container)
    return JobCollection(results, problems, len(pods_that_waited(pods, container)))


def record_of_job(planned: PlannedRun, t_e2e_s: float | None, collected: JobCollection | None,
                  problems: Sequence[str] = ()) -> RunRecord:
    """The run record of one Job through the shared builder (`runs.run_record`).

    Valid when the Job completed, every pod succeeded and exactly one result
    per worker index came back. Pods that queued behind others mean more
    workers than free cores: the run is oversubscribed whatever the plan
    counted (DESIGN §4), and `queued_pods` says how many.
    """
    collected = collected or JobCollection()
    return run_record(planned, t_e2e_s, collected.results, [*collected.problems, *problems],
                      oversubscribed=planned.oversubscribed or collected.queued_pods > 0,
                      queued_pods=collected.queued_pods)
