"""The kit's Kubernetes Jobs, as plain dicts (nothing here talks to a cluster): one pod
template (`pod_template`: identity, security, resources, placement) for both workloads.

- `job`: work items as one Indexed Job (the transcode's segments, below);
- `pi_job`: one run of the π experiment as one Indexed Job (pod i computes share i).

The k3s backend (`backends.k3s.K3sBackend`) runs a batch of `WorkItem`s as one
Indexed Job. Kubernetes does the load balancing: `parallelism` pods run at
once, and a finished pod frees its core for the next pending index, on
whichever node has room, so a slow node takes fewer items instead of holding
the run back with a fixed share. Pod i runs item i.

- **The ConfigMap** ships the programs (the worker, `run_item.sh`) and each
  item's argument list, one argument per line under the key `item-<i>`.
  `run_item.sh` reads its pod's line list (JOB_COMPLETION_INDEX) into "$@"
  and execs it: no argument is ever evaluated by a shell.
- **Retries** are per index (`backoffLimitPerIndex`): a failed pod is replaced
  by a new one, which the scheduler places wherever there is room (often,
  not always, another node; Kubernetes has no "not where it failed").
  `podFailurePolicy` ends an index at once for an exit status retrying cannot
  change (the items' `final_exit_codes`), and does not count a pod that was
  disrupted (its node lost or drained: the `DisruptionTarget` condition)
  against the retries — as the ssh backend redoes a lost host's items.
- **A lost node**: the pods tolerate an unreachable or not-ready node for
  `lost_node_s` seconds (Kubernetes' default is 300 s), then they are evicted
  and their indices run again elsewhere.
- **Files** reach the pods through the PersistentVolumeClaim of the node
  storage (`PodSettings.claim`): a pod sees the folder of the node it runs on.
  No hostPath: the pods pass the `restricted` Pod Security Standard.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backends import WorkItem

CONTAINER = "worker"
PROGRAM_DIR = "/opt/lab"          # where the ConfigMap's files appear in the pod
RUN_ITEM = "run_item.sh"
ITEM_KEY = "item-{index}"

# POSIX sh: the item's arguments, one per line, become "$@"; nothing is evaluated.
RUN_ITEM_SCRIPT = """#!/bin/sh
# run_item.sh -- start this pod's work item: the arguments in item-$JOB_COMPLETION_INDEX
# of the ConfigMap, one per line. No line is ever evaluated by the shell.
set -u
index=${JOB_COMPLETION_INDEX:?run_item.sh runs in a pod of an Indexed Job}
file="$(dirname "$0")/item-$index"
[ -r "$file" ] || { printf 'run_item: no arguments for index %s\\n' "$index" >&2; exit 2; }
set --
while IFS= read -r arg || [ -n "$arg" ]; do
    set -- "$@" "$arg"
done < "$file"
exec "$@"
"""


@dataclass(frozen=True)
class PodSettings:
    """What every pod of a Job gets: image, resources, placement, storage, identity."""

    image: str
    claim: str = ""                     # PersistentVolumeClaim of the node storage ("": none mounted)
    storage_mount: str = "/storage"     # where the pods see it
    pull_policy: str = "IfNotPresent"
    run_as_user: int = 1000             # the node storage's owner
    run_as_group: int | None = None     # None: the same as run_as_user
    cpu_request: str = "900m"
    cpu_limit: str = ""
    memory_request: str = "128Mi"
    memory_limit: str = "1Gi"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    lost_node_s: int = 30               # seconds a pod stays on an unreachable or not-ready node
    ttl_s: int = 3600                   # ttlSecondsAfterFinished: a Job left behind goes by itself

    INTEGERS = ("run_as_user", "run_as_group", "lost_node_s", "ttl_s")

    @classmethod
    def from_mapping(cls, given: Mapping[str, Any]) -> "PodSettings":
        """The settings a role or module option gives (Ansible's values may be strings, an
        unset one None or ""); ValueError naming an unknown key or a value that is no number."""
        fields = set(cls.__dataclass_fields__)
        unknown = sorted(set(given) - fields)
        if unknown:
            raise ValueError(f"unknown pod setting(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
        values: dict[str, Any] = {}
        for key, value in given.items():
            if value is None or (value == "" and key in cls.INTEGERS):
                continue
            if key in cls.INTEGERS:
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise ValueError(f"pod setting {key} must be a whole number, got {value!r}") from None
            elif key == "node_selector":
                value = {str(k): str(v) for k, v in dict(value).items()}
            else:
                value = str(value)
            values[key] = value
        if not values.get("image"):
            raise ValueError("pod setting image is required")
        return cls(**values)


def job_name(text: str, limit: int = 52) -> str:
    """A DNS label from a run id (lower case, [a-z0-9-], at most `limit` characters: the Job
    controller adds "-<index>-<random>" for its pods, which must stay within 63)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower())[:limit].strip("-")
    if not name:
        raise ValueError(f"no Job name can be made from {text!r}")
    return name


def item_lines(argv: Sequence[str]) -> str:
    """An argument list as run_item.sh reads it: one argument per line."""
    for arg in argv:
        if "\n" in arg or "\r" in arg or "\0" in arg:
            raise ValueError(f"an argument with a line break cannot be passed to a pod: {arg!r}")
    return "".join(f"{arg}\n" for arg in argv)


RUN_LABEL = "lab/run_id"


def run_label(run_id: str) -> str:
    """A label value from a run id (at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends)."""
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id)[:63])


def labels(name: str, component: str, run_id: str | None = None) -> dict[str, str]:
    found = {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": name,
             "app.kubernetes.io/part-of": "pi-cluster-lab", "app.kubernetes.io/managed-by": "pi-cluster-lab"}
    if run_id:
        found[RUN_LABEL] = run_label(run_id)
    return found


def configmap(name: str, namespace: str, items: Sequence[WorkItem], programs: Mapping[str, str],
              component: str) -> dict[str, Any]:
    """The ConfigMap of a batch: `programs` (file name -> text) and run_item.sh, and each item's
    arguments (`item-<i>`, i its position: the pod's completion index)."""
    data = {RUN_ITEM: RUN_ITEM_SCRIPT, **programs}
    for index, item in enumerate(items):
        data[ITEM_KEY.format(index=index)] = item_lines(item.argv)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels(name, component)},
            "data": data}


def final_exit_codes(items: Sequence[WorkItem]) -> list[int]:
    """The exit statuses every item treats as final (podFailurePolicy is the Job's, not per item)."""
    codes = [set(item.final_exit_codes) for item in items]
    return sorted(set.intersection(*codes)) if codes else []


def _resources(pod: PodSettings) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": pod.cpu_request, "memory": pod.memory_request}}
    limits = {key: value for key, value in (("cpu", pod.cpu_limit), ("memory", pod.memory_limit)) if value}
    if limits:
        resources["limits"] = limits
    return resources


def pod_template(pod: PodSettings, pod_labels: Mapping[str, str], *, command: Sequence[str],
                 volumes: Sequence[Mapping[str, Any]], mounts: Sequence[Mapping[str, Any]],
                 env: Mapping[str, str] | None = None, spread: str = "") -> dict[str, Any]:
    """The pod of every Job the kit submits: one container (`CONTAINER`) that passes the
    `restricted` Pod Security Standard (non-root, no privilege escalation, no capability,
    RuntimeDefault seccomp, read-only root with an emptyDir /tmp), told its node and pod
    names, tolerating a lost node for `pod.lost_node_s` seconds. `spread` (DoNotSchedule or
    ScheduleAnyway; "" for none) asks the scheduler for at most one pod of skew per node
    among the pods with these labels."""
    container_env = [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "HOME", "value": "/tmp"},
        *({"name": key, "value": value} for key, value in sorted((env or {}).items())),
    ]
    security = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    group = pod.run_as_user if pod.run_as_group is None else pod.run_as_group
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {"runAsNonRoot": True, "runAsUser": pod.run_as_user, "runAsGroup": group,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "tolerations": [{"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": pod.lost_node_s} for taint in ("unreachable", "not-ready")],
        "containers": [{
            "name": CONTAINER,
            "image": pod.image,
            "imagePullPolicy": pod.pull_policy,
            "command": list(command),
            "workingDir": "/tmp",
            "env": container_env,
            "resources": _resources(pod),
            "securityContext": security,
            "volumeMounts": [*mounts, {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [*volumes, {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
    }
    if pod.node_selector:
        spec["nodeSelector"] = dict(pod.node_selector)
    if spread:
        selector = {RUN_LABEL: pod_labels[RUN_LABEL]} if RUN_LABEL in pod_labels else dict(pod_labels)
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                              "whenUnsatisfiable": spread, "labelSelector": {"matchLabels": selector}}]
    return {"metadata": {"labels": dict(pod_labels)}, "spec": spec}


def _indexed_job(name: str, namespace: str, job_labels: Mapping[str, str], completions: int, parallelism: int,
                 template: Mapping[str, Any], ttl_s: int, deadline_s: int | None,
                 failure: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"completionMode": "Indexed", "completions": completions, "parallelism": parallelism,
                            **failure, "ttlSecondsAfterFinished": ttl_s, "template": dict(template)}
    if deadline_s:
        spec["activeDeadlineSeconds"] = int(deadline_s)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(job_labels)}, "spec": spec}


def job(name: str, namespace: str, items: Sequence[WorkItem], parallelism: int, pod: PodSettings, *,
        retries: int, deadline_s: int | None, component: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Indexed Job of a batch: completion index i runs item i (see the module docstring)."""
    if not items:
        raise ValueError("a Job needs at least one item")
    if parallelism < 1 or retries < 0:
        raise ValueError(f"parallelism={parallelism} must be at least 1 and retries={retries} not negative")
    if not pod.claim:
        raise ValueError("work items with files need the node storage's claim (PodSettings.claim)")
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise ValueError(f"item names must be unique: {names}")
    rules: list[dict[str, Any]] = [
        # A node lost or drained is no fault of the item: run it again, without counting it.
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]
    final = final_exit_codes(items)
    if final:
        rules.insert(0, {"action": "FailIndex",
                         "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": final}})
    spec_labels = labels(name, component)
    template = pod_template(
        pod, spec_labels, command=["sh", f"{PROGRAM_DIR}/{RUN_ITEM}"], env=env,
        volumes=[{"name": "programs", "configMap": {"name": name, "defaultMode": 0o444}},
                 {"name": "storage", "persistentVolumeClaim": {"claimName": pod.claim}}],
        mounts=[{"name": "programs", "mountPath": PROGRAM_DIR, "readOnly": True},
                {"name": "storage", "mountPath": pod.storage_mount}])
    return _indexed_job(name, namespace, spec_labels, len(items), min(parallelism, len(items)), template,
                        pod.ttl_s, deadline_s,
                        {"backoffLimitPerIndex": retries, "podFailurePolicy": {"rules": rules}})


PI_WORKER = "pi_worker.py"


def pi_job(run: Mapping[str, Any], namespace: str, pod: PodSettings, *, configmap: str, kernel: str,
           deadline_s: int | None, spread: str = "ScheduleAnyway") -> dict[str, Any]:
    """One planned run of the π experiment (`run`: lab_pi_plan's run_id, workers, work, seed,
    mode) as an Indexed Job of `workers` pods; pod i computes share i of the samples
    (pi_worker.py reads JOB_COMPLETION_INDEX: the index never comes from the command line).
    The worker comes from the ConfigMap `configmap`. One attempt: a failed worker fails the
    run, which is reported, not retried into the timing. A probe run is sized by time: its
    planned argv says how long one call must last (--autorange)."""
    run_id = str(run["run_id"])
    workers = int(run["workers"])
    if workers < 1:
        raise ValueError(f"run {run_id} plans {workers} workers")
    command = ["python3", f"{PROGRAM_DIR}/{PI_WORKER}", "--count", str(workers)]
    if run.get("mode") == "probe":
        planned = [str(arg) for arg in run["items"][0]["argv"]]
        command += ["--autorange", planned[planned.index("--autorange") + 1]]
    else:
        command += ["--samples", str(int(run["work"]))]
    command += ["--seed", str(int(run["seed"])), "--run-id", run_id, "--kernel", kernel]
    name = job_name(run_id)
    spec_labels = labels(name, "pi-worker", run_id)
    template = pod_template(
        pod, spec_labels, command=command, env={"PYTHONDONTWRITEBYTECODE": "1"}, spread=spread,
        volumes=[{"name": "worker-program", "configMap": {
            "name": configmap, "defaultMode": 0o444, "items": [{"key": PI_WORKER, "path": PI_WORKER}]}}],
        mounts=[{"name": "worker-program", "mountPath": PROGRAM_DIR, "readOnly": True}])
    return _indexed_job(name, namespace, spec_labels, workers, workers, template, pod.ttl_s, deadline_s,
                        {"backoffLimit": 0})


def parse_indexes(text: str | None) -> set[int]:
    """The Job status's index sets ("1,3-5") as a set of ints; empty for None or ""."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found
