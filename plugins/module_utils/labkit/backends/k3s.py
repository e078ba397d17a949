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

`K3sBackend` is the `Backend` interface on the cluster, for work items with
files (the transcode's segments): a batch of items is one Indexed Job
(`labkit.k8s_items`: pod i runs item i, `parallelism` the slots, retries per
index), the item's files are in the node storage every pod sees through a
PersistentVolumeClaim, and each finished pod's outputs are fetched from the
node it ran on (`NodeFiles`) before `accept` judges them.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from typing import Any, Mapping, Optional, Sequence

from .. import k8s_items
from ..k8s_jobs import (TERMINAL_POD_PHASES, JobCollection, collect_job, container_status, job_finished,
                        pod_index, pod_name, pod_phases, pod_problem, record_of_job, stuck_reason)
from ..runs import PlannedRun, RunRecord
from ..supervise import Children
from ..text import plural
from . import (Accept, Attempt, BackendOutcome, ItemOutcome, Progress, WorkFailed, WorkItem, exit_failure,
               mapped_item, mapped_path, result_of, tail)

try:  # optional: the pure parts (and their tests) work without the client
    from kubernetes import client as k8s_client
    from kubernetes.client.exceptions import ApiException
except ImportError:  # pragma: no cover - the module reports the missing library first
    k8s_client = None

    class ApiException(Exception):  # type: ignore[no-redef]
        status = None

# Seconds to keep polling for the Job's terminal condition once every pod has finished.
SETTLE_S = 30.0
# Seconds beyond its grace period that an evicted pod may stay Terminating on a node that
# is not Ready before it is taken as lost with its node and removed.
LOST_POD_SLACK_S = 10.0


def api_client(kubeconfig: Optional[str], context: Optional[str] = None) -> Any:
    """A client of the cluster a kubeconfig names (the kubernetes package's own loader)."""
    if k8s_client is None:
        raise WorkFailed("the kubernetes Python client is not installed (pip install kubernetes)")
    from kubernetes import config as k8s_config
    try:
        return k8s_config.new_client_from_config(config_file=kubeconfig or None, context=context or None)
    except Exception as err:  # ConfigException, OSError, YAML errors
        raise WorkFailed(f"cannot load the kubeconfig {kubeconfig or '(default)'}: {err}") from None


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

    def node_ready(self, name: str) -> bool:
        node = self.json(self.core.read_node(name, _request_timeout=self.timeout)) or {}
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (node.get("status") or {}).get("conditions") or [])

    def let_go(self, pod_name: str, reason: str) -> None:
        """End a pod whose node is gone, as Kubernetes' pod garbage collector does for a node marked
        out of service: no kubelet will ever report its end, and the Job replaces a pod (and lets
        its tracking finalizer go) only once its phase is Failed. Then remove it at once."""
        self.core.patch_namespaced_pod_status(
            pod_name, self.namespace, {"status": {"phase": "Failed", "reason": "NodeLost", "message": reason}},
            _request_timeout=self.timeout)
        self.core.delete_namespaced_pod(pod_name, self.namespace, grace_period_seconds=0,
                                        _request_timeout=self.timeout)

    def create_configmap(self, manifest: Mapping[str, Any]) -> None:
        """The batch's ConfigMap, replacing one a killed run left behind under the same name."""
        self.delete_configmap()
        self.core.create_namespaced_config_map(self.namespace, manifest, _request_timeout=self.timeout)

    def own_configmap(self) -> None:
        """Make the Job the ConfigMap's owner: it goes with the Job (also by its TTL)."""
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": self.name, "uid": self.uid,
                 "blockOwnerDeletion": False}
        self.core.patch_namespaced_config_map(self.name, self.namespace, {"metadata": {"ownerReferences": [owner]}},
                                              _request_timeout=self.timeout)

    def delete_configmap(self) -> None:
        try:
            self.core.delete_namespaced_config_map(self.name, self.namespace, _request_timeout=self.timeout)
        except ApiException as err:
            if err.status != 404:
                raise


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


# ---------------------------------------------------------------------------------------------
# The Backend interface: a batch of work items as one Indexed Job.

class NodeFiles:
    """The files pods left in the storage folder of their node, brought to the controller.

    `nodes`: each node's connection variables as Ansible reaches it (`labkit.hosts.connection_of`:
    `name` is its inventory name), its Kubernetes name `node` (default: `name`) and `local:
    true` for this machine; `paths` maps a controller folder to the same folder in a node's
    storage."""

    def __init__(self, nodes: Sequence[Mapping[str, Any]], paths: Mapping[str, str],
                 children: Optional[Children] = None) -> None:
        from ..hosts import ssh_host
        from .ssh import SshBackend

        self.paths = dict(paths)
        named = [dict(n, name=str(n.get("node") or n["name"])) for n in nodes]
        self.local = {n["name"] for n in named if n.get("local")}
        remote = [ssh_host(n, 1, self.paths) for n in named if not n.get("local")]
        self.ssh = SshBackend(remote, children) if remote else None

    @property
    def names(self) -> set[str]:
        return self.local | set(self.ssh.hosts if self.ssh else ())

    def fetch(self, node: str, item: WorkItem) -> None:
        """Bring every output of `item` from `node`, removed there once read; WorkFailed if one is missing."""
        if node in self.local:
            for local in item.outputs:
                there = mapped_path(local, self.paths)
                temporary = os.path.join(os.path.dirname(local) or ".", f".{os.path.basename(local)}.fetch-{uuid.uuid4().hex[:8]}")
                try:
                    shutil.copyfile(there, temporary)
                    os.replace(temporary, local)
                    os.remove(there)
                except OSError as err:
                    if os.path.exists(temporary):
                        os.remove(temporary)
                    raise WorkFailed(f"output {there} could not be read on {node}: {err.strerror or err}") from None
        elif self.ssh is not None and node in self.ssh.hosts:
            self.ssh.fetch(node, item)
        else:
            raise WorkFailed(f"the pod ran on node {node}, which is not among the nodes the inventory lists "
                             f"({', '.join(sorted(self.names)) or 'none'}): its output cannot be fetched; "
                             "add the node to lab_k3s_nodes_group, or keep work off it with a node selector")

    def close(self) -> None:
        if self.ssh is not None:
            self.ssh.close()


def _disruption(pod: Mapping[str, Any]) -> Optional[str]:
    """Why Kubernetes took the pod away (node lost, drained, preempted), or None."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and str(condition.get("status")) == "True":
            return f"{condition.get('reason') or 'disrupted'}: {condition.get('message') or ''}".strip(": ")
    return None


def _exit_code(pod: Mapping[str, Any]) -> Optional[int]:
    terminated = ((container_status(pod, k8s_items.CONTAINER) or {}).get("state") or {}).get("terminated")
    code = terminated.get("exitCode") if isinstance(terminated, Mapping) else None
    return int(code) if isinstance(code, int) else None


class K3sBackend:
    """Work items as one Indexed Job per batch (`labkit.k8s_items`); `run` is the Backend protocol's.

    The items name controller files; `pod_paths` maps the controller's folder to where the
    pods see the same files in the node storage, `files` brings the outputs back. A failed
    pod is retried by Kubernetes (`backoffLimitPerIndex` = retries) wherever the scheduler
    puts it; a pod disrupted by a lost or drained node runs again without costing a retry,
    and the node is named in `BackendOutcome.hosts_lost`."""

    name = "k3s"

    def __init__(self, api_client: Any, *, namespace: str, job_name: str, pod: k8s_items.PodSettings,
                 programs: Mapping[str, str], pod_paths: Mapping[str, str], files: NodeFiles,
                 component: str = "worker", start_timeout_s: float = 300.0, poll_interval_s: float = 1.0,
                 request_timeout_s: float = 30.0, keep: bool = False, children: Optional[Children] = None) -> None:
        self.api_client = api_client
        self.children = children
        self.namespace = namespace
        self.job_name = k8s_items.job_name(job_name)
        self.pod = pod
        self.programs = dict(programs)
        self.pod_paths = dict(pod_paths)
        self.files = files
        self.component = component
        self.start_timeout_s = start_timeout_s
        self.poll_interval_s = poll_interval_s
        self.request_timeout_s = request_timeout_s
        self.keep = keep

    def throttle_reading(self) -> Optional[str]:
        return None  # the nodes are read over SSH by the playbook (lab_node_context)

    def close(self) -> None:
        self.files.close()

    def run(self, items: Sequence[WorkItem], slots: int, *, retries: int = 0,
            timeout_s: Optional[float] = None, accept: Optional[Accept] = None,
            on_progress: Optional[Progress] = None) -> BackendOutcome:
        if not items:
            return BackendOutcome(t_e2e_s=0.0)
        pod_items = [mapped_item(item, self.pod_paths) for item in items]
        configmap = k8s_items.configmap(self.job_name, self.namespace, pod_items, self.programs, self.component)
        job = k8s_items.job(self.job_name, self.namespace, pod_items, slots, self.pod, retries=retries,
                            deadline_s=int(timeout_s) if timeout_s else None, component=self.component)
        runner = JobRunner(self.api_client, self.namespace, self.job_name, k8s_items.CONTAINER,
                           self.request_timeout_s)
        batch = _Batch(items, retries, accept, on_progress, self.files)
        t0 = time.monotonic()
        batch.t0_wall = time.time()
        try:
            runner.create_configmap(configmap)
            runner.create(job)
            runner.own_configmap()
        except ApiException as err:
            hint = f"; delete it: kubectl -n {self.namespace} delete job {self.job_name}" if err.status == 409 else ""
            self._clean_up(runner, created=runner.uid is not None)
            raise WorkFailed(f"cannot create Job {self.job_name} in namespace {self.namespace}: "
                             f"{api_error(err)}{hint}") from None
        except Exception as err:  # connection refused, TLS: the cluster, not a traceback
            self._clean_up(runner, created=runner.uid is not None)
            raise WorkFailed(f"cannot reach the cluster to create Job {self.job_name}: {err}") from None
        # A stopped run (Ctrl-C, the playbook killed) deletes its Job: no process of ours runs it.
        cancel = self.children.at_stop(lambda: self._clean_up(runner, created=True)) if self.children else None
        try:
            self._follow(runner, batch, t0, timeout_s)
        except ApiException as err:
            batch.fail_rest(f"lost track of Job {self.job_name}: {api_error(err)}")
        except Exception as err:  # connection lost mid-run
            batch.fail_rest(f"lost contact with the cluster while Job {self.job_name} ran: {err}")
        finally:
            if cancel is not None:
                cancel()
            self._clean_up(runner, created=True)
        return batch.outcome(time.monotonic() - t0)

    def _follow(self, runner: JobRunner, batch: "_Batch", t0: float, timeout_s: Optional[float]) -> None:
        settled_at: Optional[float] = None
        while True:
            now = time.monotonic() - t0
            pods = runner.pods()
            for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or "")):
                if (pod.get("status") or {}).get("phase") in TERMINAL_POD_PHASES and pod_name(pod) not in batch.seen:
                    batch.pod_finished(pod, self._log(runner, pod_name(pod)), time.monotonic() - t0)
            self._let_go_of_lost_nodes(runner, batch, pods, time.monotonic() - t0)
            if batch.all_done():
                return
            status = runner.job_status()
            state = job_finished(status)
            if state is not None:
                # The Job has ended: what its pods said is read on this pass or the next.
                settled_at = settled_at if settled_at is not None else now
                if now - settled_at > 2 * self.poll_interval_s + 1.0:
                    failed = k8s_items.parse_indexes(status.get("failedIndexes"))
                    batch.fail_rest(f"Job {self.job_name} {state}" + (
                        f" with index(es) {status.get('failedIndexes')} failed" if failed else "")
                        + "; " + "; ".join(runner.warning_events() or ["no pod of it was seen finishing"]))
                    return
            # Every pod, finished ones too: "no container started" means none ever did.
            stuck = stuck_reason(pods, now, self.start_timeout_s, k8s_items.CONTAINER)
            if stuck:
                events = runner.warning_events()
                batch.fail_rest(f"the pods cannot run: {stuck} (image {self.pod.image}, imagePullPolicy "
                                f"{self.pod.pull_policy})" + (f"; {'; '.join(events)}" if events else ""),
                                final=True)
                return
            if timeout_s is not None and now > timeout_s:
                batch.fail_rest(f"timed out after {timeout_s:g} s", timed_out=True)
                return
            time.sleep(self.poll_interval_s)

    def _let_go_of_lost_nodes(self, runner: JobRunner, batch: "_Batch", pods: Sequence[Mapping[str, Any]],
                              now_s: float) -> None:
        """Pods evicted from a node that stopped answering stay Terminating for ever: no kubelet
        confirms their end, so the Job never replaces them. Once such a pod has been terminating
        longer than its grace period (plus LOST_POD_SLACK_S) on a node that is not Ready, it is
        counted as lost with its node and ended (`JobRunner.let_go`), so that its item runs elsewhere."""
        for pod in pods:
            meta = pod.get("metadata") or {}
            name = pod_name(pod)
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            if (not meta.get("deletionTimestamp") or name in batch.seen or not node
                    or (pod.get("status") or {}).get("phase") in TERMINAL_POD_PHASES):
                continue
            batch.deleting.setdefault(name, now_s)
            grace = float((pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 30)
            if now_s - batch.deleting[name] < grace + LOST_POD_SLACK_S or runner.node_ready(node):
                continue
            reason = f"node {node} stopped answering (not Ready); its pod {name} was evicted"
            batch.pod_lost(pod, reason)
            try:
                runner.let_go(name, reason)
            except ApiException as err:
                if err.status != 404:
                    raise

    def _log(self, runner: JobRunner, name: str) -> str:
        try:
            return runner.log(name)
        except ApiException as err:
            return f"(the log of pod {name} could not be read: {api_error(err)})"

    def _clean_up(self, runner: JobRunner, created: bool) -> None:
        if self.keep:
            return
        try:
            if created:
                runner.delete()
            runner.delete_configmap()
        except Exception:  # the Job's TTL and the ConfigMap's owner reference remove them later
            pass


class _Batch:
    """The items of one Job as their pods finish: outcomes, failed attempts, lost nodes, lanes."""

    def __init__(self, items: Sequence[WorkItem], retries: int, accept: Optional[Accept],
                 on_progress: Optional[Progress], files: NodeFiles) -> None:
        self.items = list(items)
        self.retries = retries
        self.accept = accept
        self.on_progress = on_progress
        self.files = files
        self.t0_wall = time.time()
        self.seen: set[str] = set()
        self.outcomes: dict[int, ItemOutcome] = {}
        self.tries: dict[int, int] = {}          # pods of each index seen finishing
        self.failures: dict[int, int] = {}       # of them, failures that count against the retries
        self.attempts: list[Attempt] = []
        self.hosts_lost: list[str] = []
        self.host_errors: dict[str, str] = {}
        self.redone: dict[str, list[str]] = {}
        self.lanes: dict[str, list[int]] = {}    # per node, when each lane is free again (ns)
        self.deleting: dict[str, float] = {}     # pods seen terminating, since when (s after submit)

    def all_done(self) -> bool:
        return len(self.outcomes) == len(self.items)

    def _lane(self, node: str, result: Mapping[str, Any]) -> int:
        """A lane on its node for the chart: the first one free when this item started."""
        start, end = result.get("t_start_ns"), result.get("t_end_ns")
        lanes = self.lanes.setdefault(node, [])
        if not isinstance(start, int) or not isinstance(end, int):
            return 0
        for lane, free_at in enumerate(lanes):
            if free_at <= start:
                lanes[lane] = end
                return lane
        lanes.append(end)
        return len(lanes) - 1

    def _finish(self, index: int, outcome: ItemOutcome) -> None:
        self.outcomes[index] = outcome
        if self.on_progress is not None:
            self.on_progress(len(self.outcomes), len(self.items), outcome)

    def pod_finished(self, pod: Mapping[str, Any], log: str, finished_s: float) -> None:
        name = pod_name(pod)
        self.seen.add(name)
        index = pod_index(pod)
        if index is None or not 0 <= index < len(self.items) or index in self.outcomes:
            return
        item = self.items[index]
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        self.tries[index] = self.tries.get(index, 0) + 1
        attempt = self.tries[index]
        if (pod.get("status") or {}).get("phase") == "Succeeded":
            self._succeeded(pod, item, index, node, attempt, log, finished_s)
        else:
            self._failed(pod, item, index, node, attempt, log, finished_s)

    def _succeeded(self, pod: Mapping[str, Any], item: WorkItem, index: int, node: str, attempt: int,
                   log: str, finished_s: float) -> None:
        try:
            result = result_of(log)
            self.files.fetch(node, item)
            if self.accept is not None:
                self.accept(item, result)
        except WorkFailed as err:
            # The pod succeeded, so Kubernetes will not run the index again: the item fails here
            # (kept out of the manifest), and a rerun of the playbook redoes it.
            self.attempts.append(Attempt(item.name, attempt, 0, node, str(err)))
            self._finish(index, ItemOutcome(item.name, item.index, 0, node, attempt, 0, log, "",
                                            finished_s, finished_s, error=str(err), final=err.final))
            return
        phases = pod_phases(pod, result, k8s_items.CONTAINER)
        phases.pop("compute_s")
        result = {**result, **phases, "pod": pod_name(pod), "attempt": attempt, "node": node or result.get("node")}
        lane = self._lane(node, result)
        start = result.get("t_start_ns")
        started_s = start / 1e9 - self.t0_wall if isinstance(start, int) else finished_s
        self._finish(index, ItemOutcome(item.name, item.index, lane, node, attempt, 0, log, "",
                                        started_s, finished_s, result=result))

    def _failed(self, pod: Mapping[str, Any], item: WorkItem, index: int, node: str, attempt: int,
                log: str, finished_s: float) -> None:
        disrupted = _disruption(pod)
        code = _exit_code(pod)
        error = pod_problem(pod, log, 3, k8s_items.CONTAINER)
        if disrupted:
            if node and node not in self.hosts_lost:
                self.hosts_lost.append(node)
                self.host_errors[node] = disrupted
            self.redone.setdefault(node, []).append(item.name)
        else:
            self.failures[index] = self.failures.get(index, 0) + 1
        self.attempts.append(Attempt(item.name, attempt, 0, node, error, host_lost=bool(disrupted)))
        if code is not None and code in item.final_exit_codes:
            final = exit_failure(item, code, tail(log))  # the same words as every backend
            self._finish(index, ItemOutcome(item.name, item.index, 0, node, attempt, code, log, "", finished_s,
                                            finished_s, error=str(final), final=True))
        elif self.failures.get(index, 0) > self.retries:
            self._finish(index, ItemOutcome(item.name, item.index, 0, node, attempt, code, log, "", finished_s,
                                            finished_s, error=error))

    def pod_lost(self, pod: Mapping[str, Any], reason: str) -> None:
        """A pod that will never finish because its node is gone: an attempt that costs no retry."""
        name = pod_name(pod)
        self.seen.add(name)
        index = pod_index(pod)
        if index is None or not 0 <= index < len(self.items) or index in self.outcomes:
            return
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        self.tries[index] = self.tries.get(index, 0) + 1
        if node not in self.hosts_lost:
            self.hosts_lost.append(node)
            self.host_errors[node] = reason
        self.redone.setdefault(node, []).append(self.items[index].name)
        self.attempts.append(Attempt(self.items[index].name, self.tries[index], 0, node, reason, host_lost=True))

    def fail_rest(self, reason: str, timed_out: bool = False, final: bool = False) -> None:
        """Every item without an outcome fails for `reason` (final: the same batch would fail the same way)."""
        for index, item in enumerate(self.items):
            if index not in self.outcomes:
                self._finish(index, ItemOutcome(item.name, item.index, 0, "", self.tries.get(index, 0), None, "", "",
                                                0.0, 0.0, timed_out=timed_out, error=reason, final=final))

    def outcome(self, t_e2e_s: float) -> BackendOutcome:
        return BackendOutcome(t_e2e_s=t_e2e_s, items=[self.outcomes[i] for i in range(len(self.items))],
                              attempts=self.attempts, hosts_lost=self.hosts_lost, host_errors=self.host_errors,
                              redone=self.redone)
