"""The k3s backend: one planned run as one Kubernetes Indexed Job.

    run_indexed_job(api_client, manifest, planned, namespace=..., ...) -> (RunRecord, job_info)

creates the Job, times it from submit to the moment the last pod is seen
finished (controller monotonic clock, to the poll interval), polls until the
Job is Complete or Failed, stuck or out of time, reads every pod's log, and
builds the run record through `runs.run_record` (`k8s_jobs.record_of_job`);
the Job is deleted afterwards unless kept. Everything that reads Kubernetes
objects is the pure `labkit.k8s_jobs`; this file adds the calls to the API
(`JobRunner`) and the polling loop (`wait`). Plain Python: `lab_k8s_job_run`
builds the API client (kubernetes.core's connection options) and calls
`run_indexed_job`; nothing here imports Ansible.

How this maps onto the `Backend` interface (`labkit.backends`): a run's
WorkItems are the Job's completion indices (item i is pod i, its
JOB_COMPLETION_INDEX), `slots` is the Job's `parallelism` (every item at once
today: parallelism = completions = N), a retry would be a per-index backoff
(`backoffLimitPerIndex`), and T_e2e is measured the same way. `K3sBackend.run`
is not implemented yet: the pod template (image, the ConfigMap that ships the
worker, security context, resources, spreading) is rendered by the role from
the PlannedRun (roles/pi/templates/pi-job.yaml.j2), not from WorkItem.argv,
and a workload with `inputs`/`outputs` (the transcode) needs files shipped to
and from the pods. That is the transcode-on-the-cluster issue; it will reuse
`JobRunner`, `wait` and `k8s_jobs` as they are.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from ..k8s_jobs import TERMINAL_POD_PHASES, JobCollection, collect_job, job_finished, record_of_job, stuck_reason
from ..runs import PlannedRun, RunRecord
from ..text import plural

try:  # optional: the pure parts (and their tests) work without the client
    from kubernetes import client as k8s_client
    from kubernetes.client.exceptions import ApiException
except ImportError:  # pragma: no cover - the module reports the missing library first
    k8s_client = None

    class ApiException(Exception):  # type: ignore[no-redef]
        status = None

# Seconds to keep polling for the Job's terminal condition once every pod has finished.
SETTLE_S = 30.0


class JobNotCreated(Exception):
    """The Job could not be submitted; the message says why (nothing ran, nothing to clean up)."""


def api_error(err: Exception) -> str:
    """An API error in one line: status, reason and the server's message."""
    reason = getattr(err, "reason", None) or type(err).__name__
    body = getattr(err, "body", None)
    return f"{getattr(err, 'status', '')} {reason}: {body}".strip() if body else str(err)


def check_job_manifest(manifest: Mapping[str, Any], planned: PlannedRun, namespace: str) -> tuple[str, int]:
    """The Job's name and completions; ValueError unless it is a named batch/v1 Job in `namespace`
    with one completion per planned worker."""
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name")
    completions = (manifest.get("spec") or {}).get("completions")
    if manifest.get("apiVersion") != "batch/v1" or manifest.get("kind") != "Job" or not name:
        raise ValueError(f"manifest must be a named batch/v1 Job, got apiVersion={manifest.get('apiVersion')!r} "
                         f"kind={manifest.get('kind')!r} name={name!r}")
    if metadata.get("namespace") not in (None, namespace):
        raise ValueError(f"manifest namespace {metadata['namespace']!r} differs from namespace={namespace!r}")
    if completions != planned.workers:
        raise ValueError(f"Job {name} has completions={completions!r} but run {planned.run_id!r} "
                         f"plans {plural(planned.workers, 'worker') if isinstance(planned.workers, int) else repr(planned.workers)}")
    return str(name), int(completions)


class JobRunner:
    """The cluster side of one Job: create, poll, read logs, delete. Every call is bounded by
    `request_timeout` seconds: a frozen API server must not hang the playbook."""

    def __init__(self, api_client: Any, namespace: str, name: str, container: str, request_timeout: float) -> None:
        if k8s_client is None:
            raise RuntimeError("the kubernetes Python client is not installed")
        self.api = api_client
        self.timeout = request_timeout
        self.batch = k8s_client.BatchV1Api(api_client)
        self.core = k8s_client.CoreV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.container = container
        self.uid = None

    def json(self, obj: Any) -> Any:
        return self.api.sanitize_for_serialization(obj)

    def create(self, manifest: Mapping[str, Any]) -> None:
        created = self.batch.create_namespaced_job(self.namespace, manifest, _request_timeout=self.timeout)
        self.uid = created.metadata.uid

    def job_status(self) -> dict:
        job = self.batch.read_namespaced_job_status(self.name, self.namespace, _request_timeout=self.timeout)
        return self.json(job.status) or {}

    def pods(self) -> list[dict]:
        listed = self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={self.name}",
                                               _request_timeout=self.timeout)
        pods = [self.json(p) for p in listed.items]
        # Keep only this Job's pods (a leftover Job of the same name would share the label).
        return [p for p in pods
                if any(o.get("uid") == self.uid for o in (p.get("metadata", {}).get("ownerReferences") or []))]

    def log(self, pod_name: str) -> str:
        # Unparsed bytes: the client would otherwise try to decode a log that looks like JSON.
        response = self.core.read_namespaced_pod_log(pod_name, self.namespace, container=self.container,
                                                     _preload_content=False, _request_timeout=self.timeout)
        return response.data.decode("utf-8", errors="replace")

    def warning_events(self, limit: int = 5) -> list[str]:
        # By uid too: events outlive their Job (an hour by default), and a rerun within it
        # reuses the name; the old Job's warnings are not this one's.
        selector = f"involvedObject.kind=Job,involvedObject.name={self.name}"
        if self.uid:
            selector += f",involvedObject.uid={self.uid}"
        events = self.core.list_namespaced_event(self.namespace, field_selector=selector,
                                                 _request_timeout=self.timeout)
        return [f"{e.reason}: {e.message}" for e in events.items if e.type == "Warning"][-limit:]

    def delete(self) -> None:
        self.batch.delete_namespaced_job(self.name, self.namespace, propagation_policy="Background",
                                         _request_timeout=self.timeout)


def wait(runner: JobRunner, completions: int, t0: float, timeout: float, start_timeout: float,
         interval: float) -> tuple[str, Optional[float]]:
    """Poll until the Job is Complete or Failed, or stuck, or out of time.

    Returns the state ("Complete", "Failed", "Timeout" or "Stuck: <why>") and
    the time the last pod was first seen finished (seconds after submit).
    """
    finished_at: dict[str, float] = {}
    all_done_at = None
    while True:
        now = time.monotonic() - t0
        pods = runner.pods()
        for pod in pods:
            name = pod.get("metadata", {}).get("name")
            if pod.get("status", {}).get("phase") in TERMINAL_POD_PHASES and name not in finished_at:
                finished_at[name] = now
        if all_done_at is None and len(finished_at) >= completions:
            all_done_at = max(finished_at.values())
        state = job_finished(runner.job_status())
        if state is not None:
            return state, all_done_at if all_done_at is not None else time.monotonic() - t0
        stuck = stuck_reason(pods, now, start_timeout, runner.container)
        if stuck:
            return f"Stuck: {stuck}", None
        if now > timeout or (all_done_at is not None and now - all_done_at > SETTLE_S):
            return "Timeout", all_done_at
        time.sleep(interval)


def run_indexed_job(api_client: Any, manifest: Mapping[str, Any], planned: PlannedRun, *, namespace: str,
                    timeout_s: float = 3600.0, start_timeout_s: float = 300.0, poll_interval_s: float = 0.5,
                    request_timeout_s: float = 30.0, keep: bool = False, container: str = "worker",
                    log_tail_lines: int = 10) -> tuple[RunRecord, dict[str, Any]]:
    """Run one planned run as the Indexed Job `manifest` and return its record and the Job's fate.

    job_info = {"name", "namespace", "state" (Complete, Failed, Timeout, "Stuck: <why>"),
    "deleted"}. The record is invalid, its `problems` naming what went wrong (failed or stuck
    pods with their log tails, the Job's warning events, a lost connection, a Job that could
    not be deleted), whenever anything did. Raises ValueError for a manifest that does not fit
    the run and JobNotCreated when the Job could not be submitted.
    """
    name, completions = check_job_manifest(manifest, planned, namespace)
    if min(poll_interval_s, timeout_s, start_timeout_s, request_timeout_s) <= 0:
        raise ValueError(f"poll_interval={poll_interval_s}, timeout={timeout_s}, start_timeout={start_timeout_s} "
                         f"and request_timeout={request_timeout_s} must be positive")
    job_info: dict[str, Any] = {"name": name, "namespace": namespace, "state": None, "deleted": False}
    runner = JobRunner(api_client, namespace, name, container, request_timeout_s)
    body = dict(manifest, metadata=dict(manifest.get("metadata") or {}, namespace=namespace))
    t0 = time.monotonic()
    try:
        runner.create(body)
    except ApiException as err:
        hint = (f"; a Job {name} is already there: delete it (kubectl -n {namespace} delete job {name})"
                if err.status == 409 else "")
        raise JobNotCreated(f"cannot create Job {name} in namespace {namespace}: {api_error(err)}{hint}") from err
    except Exception as err:  # connection refused, TLS, DNS: name the server problem, not a traceback
        raise JobNotCreated(f"cannot reach the cluster to create Job {name}: {err}") from err

    problems: list[str] = []
    collected: Optional[JobCollection] = None
    t_e2e: Optional[float] = None
    try:
        state, t_e2e = wait(runner, completions, t0, timeout_s, start_timeout_s, poll_interval_s)
        job_info["state"] = state
        pods = runner.pods()
        logs = {}
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            try:
                logs[pod_name] = runner.log(pod_name)
            except ApiException as err:
                problems.append(f"cannot read the log of pod {pod_name}: {api_error(err)}")
        collected = collect_job(planned.run_id, state, pods, logs, container, log_tail_lines)
        if collected.problems or problems:
            try:
                problems += [f"event {e}" for e in runner.warning_events()]
            except ApiException:
                pass
    except ApiException as err:
        problems.append(f"lost track of Job {name}: {api_error(err)}")
    except Exception as err:  # connection lost mid-run (urllib3, TLS): say so instead of a traceback
        problems.append(f"lost contact with the cluster while Job {name} ran: {err}")
    finally:
        if not keep:
            try:
                runner.delete()
                job_info["deleted"] = True
            except ApiException as err:
                if err.status != 404:
                    problems.append(f"cannot delete Job {name}: {api_error(err)}")
            except Exception as err:  # the cluster went away: the Job's TTL removes it later
                problems.append(f"cannot delete Job {name} (ttlSecondsAfterFinished removes it later): {err}")
    if collected is None:
        t_e2e = None
    return record_of_job(planned, t_e2e, collected, problems), job_info


def progress_line(record: RunRecord, label: str) -> str:
    """One line for the playbook's output: how many results, in what time, on which nodes."""
    t_text = f"{record.t_e2e_s:.3f} s" if isinstance(record.t_e2e_s, float) else "no time"
    nodes = sorted({str(r.get("node")) for r in record.results})
    queued = record.extra.get("queued_pods")
    return (f"{label}: {len(record.results)}/{record.workers} results in {t_text} on {', '.join(nodes) or 'no node'}"
            + (f" ({plural(int(queued), 'pod')} waited for a free core: oversubscribed)" if queued
               else " (oversubscribed)" if record.oversubscribed else ""))
