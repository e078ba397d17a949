#!/usr/bin/python
"""Run one experiment run as a Kubernetes Indexed Job and return its run record (k3s backend)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_k8s_job_run
short_description: Run one experiment run as a Kubernetes Indexed Job and collect every pod's result
description:
  - Creates the Job given as C(manifest), times it from submit to the moment the
    last pod is seen finished on the controller's monotonic clock, and polls the
    Job's status until it is Complete or Failed (C(kubernetes.core.k8s) with
    C(wait) does not wait for a Job to finish).
  - Lists the Job's pods by the C(job-name) label (keeping those the Job owns)
    and reads B(every) pod's log (C(kubernetes.core.k8s_log) on a Job returns only
    the first pod's), parses the C(RESULT) lines and merges each pod's phases
    (scheduling, container start, runtime start, exit) from its status timestamps
    into its result.
  - Deletes the Job afterwards (propagation Background) unless I(keep) is set.
  - Fails naming the failed or stuck pods, their state and the tail of their logs,
    and the Job's warning events (for example a pod refused by Pod Security admission).
  - In check mode it returns without creating anything.
options:
  manifest:
    description: The batch/v1 Job to create, as a dict (rendered by the playbook).
    type: dict
    required: true
  run:
    description: The planned run (from M(lab_pi_plan)) this Job executes; its C(run_id)
      and C(workers) are checked against the results.
    type: dict
    required: true
  namespace:
    description: Namespace of the Job; must agree with the manifest's, if it names one.
    type: str
    required: true
  kubeconfig:
    description: Path of the kubeconfig file; the client's default (C($KUBECONFIG),
      C(~/.kube/config)) when omitted.
    type: path
  context:
    description: Context in the kubeconfig; its current context when omitted.
    type: str
  container:
    description: Name of the worker container in the pod.
    type: str
    default: worker
  timeout:
    description: Seconds from submit until the Job must have finished.
    type: float
    default: 3600
  start_timeout:
    description: Seconds after submit by which some worker container must have started
      (no pod created, none scheduled, images still pulling); a container waiting for a
      reason that does not pass (ImagePullBackOff, CreateContainerConfigError …) gives the
      run up at once.
    type: float
    default: 300
  poll_interval:
    description: Seconds between two status polls; the makespan is measured to this resolution.
    type: float
    default: 0.5
  request_timeout:
    description: Seconds any one API request may take (a frozen server must not hang the run).
    type: float
    default: 30
  keep:
    description: Keep the Job and its pods after the run (for kubectl inspection).
    type: bool
    default: false
  log_tail_lines:
    description: Lines of a failed pod's log quoted in the failure message.
    type: int
    default: 10
requirements:
  - kubernetes (Python client)
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Run each planned point as an Indexed Job
  lab_k8s_job_run:
    manifest: "{{ lookup('ansible.builtin.template', 'pi-job.yaml.j2') | from_yaml }}"
    run: "{{ item }}"
    namespace: lab
    kubeconfig: artifacts/pi-cluster/kubeconfig.yaml
  loop: "{{ plan.runs }}"
  loop_control:
    label: "{{ item.label }}"
"""

RETURN = r"""
run:
  description: The run record (docs/ARCHITECTURE.md); every result carries C(pod) and the
    phase fields C(scheduling_s), C(start_s), C(runtime_start_s), C(exit_s)
    (one-second resolution, see labkit.k8s_jobs).
  type: dict
  returned: always
job:
  description: Name, namespace, final state (Complete, Failed, Timeout or "Stuck, <why>"), and whether it was deleted.
  type: dict
  returned: always
lab_progress:
  description: One line saying which run, how many results came in and in what time.
  type: str
  returned: always
"""

import time
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.labkit.k8s_jobs import (
    TERMINAL_POD_PHASES,
    collect_k8s_run,
    job_finished,
    stuck_reason,
)

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException
except ImportError:
    K8S_IMPORT_ERROR = traceback.format_exc()
else:
    K8S_IMPORT_ERROR = None

# Seconds to keep polling for the Job's terminal condition once every pod has finished.
SETTLE_S = 30.0


def api_error(err: Exception) -> str:
    reason = getattr(err, "reason", None) or type(err).__name__
    body = getattr(err, "body", None)
    return f"{getattr(err, 'status', '')} {reason}: {body}".strip() if body else str(err)


class JobRunner:
    """The cluster side: create, poll, read logs, delete. Everything else is in labkit.k8s_jobs."""

    def __init__(self, api_client: Any, namespace: str, name: str, container: str, request_timeout: float) -> None:
        self.api = api_client
        # Every call is bounded: a frozen API server must not hang the playbook.
        self.timeout = request_timeout
        self.batch = k8s_client.BatchV1Api(api_client)
        self.core = k8s_client.CoreV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.container = container
        self.uid = None

    def json(self, obj: Any) -> Any:
        return self.api.sanitize_for_serialization(obj)

    def create(self, manifest: dict) -> None:
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
        events = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.kind=Job,involvedObject.name={self.name}",
            _request_timeout=self.timeout)
        return [f"{e.reason}: {e.message}" for e in events.items if e.type == "Warning"][-limit:]

    def delete(self) -> None:
        self.batch.delete_namespaced_job(self.name, self.namespace, propagation_policy="Background",
                                         _request_timeout=self.timeout)


def wait(runner: JobRunner, completions: int, t0: float, timeout: float, start_timeout: float,
         interval: float) -> tuple[str, float | None]:
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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "manifest": {"type": "dict", "required": True},
            "run": {"type": "dict", "required": True},
            "namespace": {"type": "str", "required": True},
            "kubeconfig": {"type": "path"},
            "context": {"type": "str"},
            "container": {"type": "str", "default": "worker"},
            "timeout": {"type": "float", "default": 3600.0},
            "start_timeout": {"type": "float", "default": 300.0},
            "poll_interval": {"type": "float", "default": 0.5},
            "request_timeout": {"type": "float", "default": 30.0},
            "keep": {"type": "bool", "default": False},
            "log_tail_lines": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    p = module.params
    planned = p["run"]
    manifest = p["manifest"]
    label = planned.get("label") or planned.get("run_id")
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name")
    completions = (manifest.get("spec") or {}).get("completions")
    if manifest.get("apiVersion") != "batch/v1" or manifest.get("kind") != "Job" or not name:
        module.fail_json(msg=f"manifest must be a named batch/v1 Job, got apiVersion={manifest.get('apiVersion')!r} "
                             f"kind={manifest.get('kind')!r} name={name!r}")
    if metadata.get("namespace") not in (None, p["namespace"]):
        module.fail_json(msg=f"manifest namespace {metadata['namespace']!r} differs from namespace={p['namespace']!r}")
    if completions != planned.get("workers"):
        module.fail_json(msg=f"Job {name} has completions={completions!r} but run {planned.get('run_id')!r} "
                             f"plans {planned.get('workers')!r} workers")
    if min(p["poll_interval"], p["timeout"], p["start_timeout"], p["request_timeout"]) <= 0:
        module.fail_json(msg=f"poll_interval={p['poll_interval']}, timeout={p['timeout']}, start_timeout="
                             f"{p['start_timeout']} and request_timeout={p['request_timeout']} must be positive")
    job_info = {"name": name, "namespace": p["namespace"], "state": None, "deleted": False}
    if module.check_mode:
        record = {k: v for k, v in planned.items() if k not in ("commands", "label", "seed")}
        record.update(t_e2e_s=None, results=[], valid=False)
        module.exit_json(changed=True, run=record, job=job_info,
                         lab_progress=f"{label}: would run Job {name} ({completions} pods) in {p['namespace']}")
    if K8S_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=K8S_IMPORT_ERROR)
    try:
        api_client = k8s_config.new_client_from_config(config_file=p["kubeconfig"], context=p["context"])
    except Exception as err:  # the loader raises several types (ConfigException, OSError, YAML errors)
        module.fail_json(msg=f"cannot load kubeconfig {p['kubeconfig'] or '(default)'}: {err}")

    runner = JobRunner(api_client, p["namespace"], name, p["container"], p["request_timeout"])
    body = dict(manifest, metadata=dict(metadata, namespace=p["namespace"]))
    t0 = time.monotonic()
    try:
        runner.create(body)
    except ApiException as err:
        hint = (f"; a Job {name} is already there: delete it (kubectl -n {p['namespace']} delete job {name})"
                if err.status == 409 else "")
        module.fail_json(msg=f"{label}: cannot create Job {name} in namespace {p['namespace']}: {api_error(err)}{hint}")
    except Exception as err:  # connection refused, TLS, DNS: name the server problem, not a traceback
        module.fail_json(msg=f"{label}: cannot reach the cluster to create Job {name}: {err}")

    problems: list[str] = []
    record: dict = {}
    try:
        state, t_e2e = wait(runner, int(completions), t0, p["timeout"], p["start_timeout"], p["poll_interval"])
        job_info["state"] = state
        pods = runner.pods()
        logs = {}
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            try:
                logs[pod_name] = runner.log(pod_name)
            except ApiException as err:
                problems.append(f"cannot read the log of pod {pod_name}: {api_error(err)}")
        record, found = collect_k8s_run(planned, t_e2e, state, pods, logs, p["container"], p["log_tail_lines"])
        problems = found + problems
        if problems:
            try:
                problems += [f"event {e}" for e in runner.warning_events()]
            except ApiException:
                pass
    except ApiException as err:
        problems.append(f"lost track of Job {name}: {api_error(err)}")
    except Exception as err:  # connection lost mid-run (urllib3, TLS): say so instead of a traceback
        problems.append(f"lost contact with the cluster while Job {name} ran: {err}")
    finally:
        if not p["keep"]:
            try:
                runner.delete()
                job_info["deleted"] = True
            except ApiException as err:
                if err.status != 404:
                    problems.append(f"cannot delete Job {name}: {api_error(err)}")
            except Exception as err:  # the cluster went away: the Job's TTL removes it later
                problems.append(f"cannot delete Job {name} (ttlSecondsAfterFinished removes it later): {err}")
    if not record:
        record = {k: v for k, v in planned.items() if k not in ("commands", "label", "seed")}
        record.update(t_e2e_s=None, results=[], valid=False)
    record["valid"] = record.get("valid", False) and not problems
    count = len(record.get("results") or [])
    t_text = f"{record['t_e2e_s']:.3f} s" if isinstance(record.get("t_e2e_s"), float) else "no time"
    nodes = sorted({str(r.get("node")) for r in record.get("results") or []})
    progress = (f"{label}: {count}/{planned.get('workers')} results in {t_text} on {', '.join(nodes) or 'no node'}"
                + (f" ({record['queued_pods']} pod(s) waited for a free core: oversubscribed)"
                   if record.get("queued_pods") else " (oversubscribed)" if record.get("oversubscribed") else ""))
    if problems:
        module.fail_json(msg=f"{label} failed: Job {name} in {p['namespace']}: " + "; ".join(problems),
                         run=record, job=job_info, lab_progress=progress, changed=True)
    module.exit_json(changed=True, run=record, job=job_info, lab_progress=progress)


if __name__ == "__main__":
    main()
