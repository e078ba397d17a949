"""The stand-in API (tests/fake_k8s_api.py) against the real local Kubernetes: the same requests, the same answers.

The fast fault-injection tests run lab_k8s_job_run and bench-pi.yml against the
stand-in, so they only prove something about the real cluster while the stand-in
answers the way the real API server, Job controller and kubelet do, in every
field the kit reads. This test keeps it honest: it builds the π Job the role
builds (lab_pi_job, 2 workers x 24 000 000 samples, kernel python: seconds of
sampling each, so that the polls see them run), runs that same manifest through
the kit's own code path (`labkit.backends.k3s.run_indexed_job` with the
`kubernetes` client built from each kubeconfig, the Job kept until it has been read) against the stand-in and against the real cluster, and compares:

* the Job, Pod and Node fields the kit reads (JOB_FIELDS, POD_FIELDS, NODE_FIELDS,
  taken from labkit.k8s_jobs, labkit.backends.k3s, labkit.nodes and the
  lab_schedulable_cores filter): present in both or absent in both, with the same
  JSON type and the same string format (RFC 3339 whole seconds, UUID, quantity,
  version ...), or the same value where the value is the API's vocabulary
  (condition types and reasons, phases, exit codes, completion indices);
  both as sent on the wire and as the kit saw them through the client,
  while polling and at the end;
* the pod logs the kit parses (RESULT lines: how many, their keys and types,
  and that node/pod/index come from the pod the kubelet ran);
* the Job's events the kit quotes on failure (Warning reason and message);
* the run records labkit.k8s_jobs builds (same keys, same types, phases present);
* a failing Job (one worker refusing --samples 0): the Failed condition, the
  pod's terminated exitCode/reason and the problems the record names.

Values that are the machine's and not the API's (node names, kernel, times) are
compared by shape only. A difference is drift: fix the stand-in, not this test.
About 20 s: one render per Job, a few seconds per Job on the real cluster.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fake_k8s_api import FakeApiServer
from k8s_manifests import PI_JOB, pi_job_settings, render_templates
from kubetest import RealKube
from labkit.backends import k3s
from labkit.k8s_jobs import COMPLETION_INDEX_KEY, PHASE_FIELDS, parse_time, pod_index
from labkit.nodes import from_k8s_node
from labkit.results import parse_result_lines
from labkit.runs import PlannedRun
from labtest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.kube]

kubernetes = pytest.importorskip("kubernetes")
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.dynamic import DynamicClient  # noqa: E402

NAMESPACE = "lab"
WORKERS_DIR = REPO / "plugins" / "workers"
PI_DEFAULTS = REPO / "roles" / "pi" / "defaults" / "main.yml"

# How a field is compared: VALUE where the value is the API's vocabulary (the same on any
# cluster), SHAPE (JSON type and string format) where it is the machine's, KEYS for a dict
# whose keys say which case it is (a container state: waiting, running or terminated).
VALUE, SHAPE, KEYS = "value", "shape", "keys"

# A path step: a key, "*" for every element of a list, or a dict selecting the list
# elements that match it ({"type": "PodScheduled"}).
FieldPath = tuple[Any, ...]

# What the kit reads from a Job. job_finished: conditions' type and status (only "True"
# Complete/Failed end the wait); JobRunner.create: metadata.uid (pods are kept only when
# an ownerReference names it). The rest is not read by labkit today but is what anyone
# reading the Job sees (kubectl, the report's future Job facts): reasons, messages,
# times and counts; the stand-in must not invent shapes the controller never writes.
JOB_FIELDS: list[tuple[FieldPath, str]] = [
    (("metadata", "uid"), SHAPE),
    (("status", "conditions", "*", "type"), VALUE),
    (("status", "conditions", "*", "status"), VALUE),
    (("status", "conditions", "*", "reason"), VALUE),
    (("status", "conditions", "*", "message"), SHAPE),
    (("status", "conditions", "*", "lastTransitionTime"), SHAPE),
    (("status", "startTime"), SHAPE),
    (("status", "completionTime"), SHAPE),
    (("status", "active"), VALUE),
    (("status", "succeeded"), VALUE),
    (("status", "failed"), VALUE),
]

# What the kit reads from a pod (labkit.k8s_jobs and JobRunner.pods): its name, index
# (annotation, else label), owner, creation time, phase, the PodScheduled condition
# (scheduling_s, pods_that_waited, pod_problem), the worker container's state
# (start_s, exit_s, stuck_reason, pod_problem) and the pod-level reason/message.
# spec.nodeName is what NODE_NAME (the RESULT's node) is taken from; the job-name
# label is what JobRunner.pods selects on.
POD_FIELDS: list[tuple[FieldPath, str]] = [
    (("metadata", "name"), SHAPE),
    (("metadata", "creationTimestamp"), SHAPE),
    (("metadata", "annotations", COMPLETION_INDEX_KEY), VALUE),
    (("metadata", "labels", COMPLETION_INDEX_KEY), VALUE),
    (("metadata", "labels", "job-name"), VALUE),
    (("metadata", "ownerReferences", "*", "kind"), VALUE),
    (("metadata", "ownerReferences", "*", "uid"), SHAPE),
    (("spec", "nodeName"), SHAPE),
    (("status", "phase"), VALUE),
    (("status", "reason"), SHAPE),
    (("status", "message"), SHAPE),
    (("status", "conditions", {"type": "PodScheduled"}, "status"), VALUE),
    (("status", "conditions", {"type": "PodScheduled"}, "lastTransitionTime"), SHAPE),
    (("status", "containerStatuses", "*", "name"), VALUE),
    (("status", "containerStatuses", "*", "state"), KEYS),
    (("status", "containerStatuses", "*", "state", "terminated", "startedAt"), SHAPE),
    (("status", "containerStatuses", "*", "state", "terminated", "finishedAt"), SHAPE),
    (("status", "containerStatuses", "*", "state", "terminated", "exitCode"), VALUE),
    (("status", "containerStatuses", "*", "state", "terminated", "reason"), VALUE),
    (("status", "containerStatuses", "*", "state", "terminated", "message"), SHAPE),
]

# Read while the Job runs (a running container's start, a waiting container's reason:
# _container_times, stuck_reason). Whether a poll catches these states is timing, so
# only their shapes are compared, where both clusters showed them.
POD_FIELDS_WHILE_RUNNING: list[tuple[FieldPath, str]] = [
    (("status", "containerStatuses", "*", "state", "running", "startedAt"), SHAPE),
    (("status", "containerStatuses", "*", "state", "waiting", "reason"), SHAPE),
]

# What kubernetes.core.k8s_info's Node objects give labkit.nodes.from_k8s_node (the
# report's nodes) and lab_schedulable_cores (the plan's cores).
NODE_FIELDS: list[tuple[FieldPath, str]] = [
    (("metadata", "name"), SHAPE),
    (("metadata", "labels", "kubernetes.io/hostname"), SHAPE),
    (("spec", "unschedulable"), SHAPE),
    (("status", "capacity", "cpu"), SHAPE),
    (("status", "capacity", "memory"), SHAPE),
    (("status", "allocatable", "cpu"), SHAPE),
    (("status", "nodeInfo", "architecture"), SHAPE),
    (("status", "nodeInfo", "kernelVersion"), SHAPE),
    (("status", "nodeInfo", "osImage"), SHAPE),
    (("status", "nodeInfo", "kubeletVersion"), SHAPE),
    (("status", "nodeInfo", "containerRuntimeVersion"), SHAPE),
    (("status", "conditions", {"type": "Ready"}, "status"), VALUE),
]

# The Job's events: JobRunner.warning_events selects them by involvedObject kind, name and uid
# on the server and quotes type, reason and message.
EVENT_FIELDS: list[tuple[FieldPath, str]] = [
    (("involvedObject", "kind"), VALUE),
    (("involvedObject", "uid"), SHAPE),
    (("type",), SHAPE),
    (("reason",), SHAPE),
    (("message",), SHAPE),
]

# String formats, first match wins. The API server writes metav1.Time as RFC 3339 in whole
# seconds with "Z"; the Python client hands the kit datetime.isoformat() ("+00:00").
FORMATS: list[tuple[str, re.Pattern[str]]] = [(name, re.compile(pattern)) for name, pattern in [
    ("rfc3339-seconds-Z", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"),
    ("rfc3339-fraction-Z", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$"),
    ("iso-seconds-offset", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$"),
    ("iso-fraction-offset", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d$"),
    ("uuid", r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    ("quantity-integer", r"^\d+$"),
    ("quantity-binary", r"^\d+(Ki|Mi|Gi|Ti)$"),
    ("quantity-milli", r"^\d+m$"),
    ("version", r"^v\d+\.\d+\.\d+(\+[0-9A-Za-z.-]+)?$"),
    ("runtime-uri", r"^[a-z]+://\S+$"),
]]


# --- comparing ---------------------------------------------------------------------------------


def values_at(obj: Any, path: FieldPath) -> list[Any]:
    """Every value at `path` (none when it is absent anywhere along the way)."""
    found = [obj]
    for step in path:
        following: list[Any] = []
        for item in found:
            if step == "*" and isinstance(item, list):
                following.extend(item)
            elif isinstance(step, dict) and isinstance(item, list):
                following.extend(e for e in item if isinstance(e, Mapping)
                                 and all(e.get(k) == v for k, v in step.items()))
            elif isinstance(step, str) and step != "*" and isinstance(item, Mapping) and step in item:
                following.append(item[step])
        found = following
    return found


def json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object",
            list: "array", type(None): "null"}.get(type(value), type(value).__name__)


def shape(value: Any) -> str:
    """The JSON type, and for a string the first FORMATS entry it matches."""
    if isinstance(value, str):
        return "string:" + next((name for name, pattern in FORMATS if pattern.match(value)), "text")
    return json_type(value)


def seen(obj: Any, path: FieldPath, how: str) -> list[str]:
    """What is compared at one path: values, shapes or keys, order-free."""
    values = values_at(obj, path)
    if how == VALUE:
        described = [json.dumps(v, sort_keys=True) for v in values]
    elif how == KEYS:
        described = [",".join(sorted(v)) if isinstance(v, Mapping) else shape(v) for v in values]
    else:
        described = [shape(v) for v in values]
    return sorted(described)


def path_text(path: FieldPath) -> str:
    return ".".join(json.dumps(step, sort_keys=True) if isinstance(step, dict) else str(step) for step in path)


def drift(what: str, fake: Any, real: Any, fields: Sequence[tuple[FieldPath, str]]) -> list[str]:
    """One line per field that differs between the stand-in's object and the real one."""
    lines = []
    for path, how in fields:
        fake_seen, real_seen = seen(fake, path, how), seen(real, path, how)
        if fake_seen != real_seen:
            lines.append(f"{what} {path_text(path)} ({how}): stand-in {fake_seen or 'absent'}, "
                         f"real {real_seen or 'absent'}")
    return lines


def drift_in_pods(what: str, fake: Sequence[Mapping[str, Any]], real: Sequence[Mapping[str, Any]],
                  fields: Sequence[tuple[FieldPath, str]]) -> list[str]:
    """Pods compared pairwise by completion index (both lists are sorted by it)."""
    if len(fake) != len(real):
        return [f"{what}: stand-in has {len(fake)} pods, real {len(real)}"]
    return [line for i, (f, r) in enumerate(zip(fake, real)) for line in drift(f"{what} [index {i}]", f, r, fields)]


def shapes_while_polling(polled: Sequence[tuple[str, Any]], fields: Sequence[tuple[FieldPath, str]]
                         ) -> dict[str, set[str]]:
    """Every shape each pod field showed in any poll (the kit's view, through the client)."""
    shapes: dict[str, set[str]] = {}
    for kind, pods in polled:
        if kind != "pods":
            continue
        for pod in pods:
            for path, _ in fields:
                shapes.setdefault(path_text(path), set()).update(shape(v) for v in values_at(pod, path))
    return shapes


def type_map(record: Mapping[str, Any]) -> dict[str, str]:
    return {key: json_type(value) for key, value in sorted(record.items())}


def same_pod_names(text: str, job: str) -> str:
    """Pod names with their random suffix masked: the suffix is the only part that may differ."""
    return re.sub(rf"\b{re.escape(job)}-(\d+)-[a-z0-9]{{5}}\b", rf"{job}-\1-xxxxx", text)


def drift_in_events(fake: Sequence[Mapping[str, Any]], real: Sequence[Mapping[str, Any]], job: str) -> list[str]:
    """The Job's events: the same fields in the same shapes, and the same type, reason and message."""
    fields = [(("items", "*", *path), how) for path, how in EVENT_FIELDS]
    found = drift("Job events", {"items": fake}, {"items": real}, fields)

    def said(events: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
        return sorted((e.get("type"), e.get("reason"), same_pod_names(str(e.get("message")), job)) for e in events)

    if said(fake) != said(real):
        found.append(f"Job events: stand-in {said(fake)}, real {said(real)}")
    return found


# --- observing one cluster ---------------------------------------------------------------------


@dataclass
class Observed:
    """One cluster's answers to the same requests."""

    nodes: list[dict[str, Any]]            # Node objects as kubernetes.core.k8s_info returns them
    record: dict[str, Any]                 # the run record (RunRecord.to_dict)
    job_info: dict[str, Any]               # run_indexed_job's job_info
    job: dict[str, Any]                    # the Job as sent on the wire, after the run
    pods: list[dict[str, Any]]             # the Job's pods on the wire, by completion index
    logs: list[str]                        # their logs, by completion index
    events: list[dict[str, Any]]           # the Job's events on the wire, once they stopped changing
    kit_status: dict[str, Any]             # the last Job status the kit read (through the client)
    kit_pods: list[dict[str, Any]]         # the last pod list the kit read, by completion index
    polled: list[tuple[str, Any]]          # every ("job", status) and ("pods", [pod]) the kit read


def recording_runner(polled: list[tuple[str, Any]]) -> type[k3s.JobRunner]:
    """k3s.JobRunner that keeps a copy of what each poll read: the kit's own view of the objects."""

    class RecordingRunner(k3s.JobRunner):
        def job_status(self) -> dict:
            status = super().job_status()
            polled.append(("job", copy.deepcopy(status)))
            return status

        def pods(self) -> list[dict]:
            pods = super().pods()
            polled.append(("pods", copy.deepcopy(pods)))
            return pods

    return RecordingRunner


def wire(response: Any) -> Any:
    """The JSON the server sent (a call made with _preload_content=False)."""
    return json.loads(response.data)


def by_index(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(pods, key=lambda p: (pod_index(p) is None, pod_index(p) or 0))


def settled_events(core: Any, name: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The Job's events once two reads 0.5 s apart agree: the controller posts them asynchronously."""
    selector = f"involvedObject.kind=Job,involvedObject.name={name}"
    deadline = time.monotonic() + timeout_s
    previous = None
    while True:
        items = wire(core.list_namespaced_event(NAMESPACE, field_selector=selector, _preload_content=False))["items"]
        current = sorted((e.get("type"), e.get("reason"), e.get("message")) for e in items)
        if current == previous or time.monotonic() > deadline:
            return items
        previous = current
        time.sleep(0.5)


def observe(kubeconfig: Path, manifest: Mapping[str, Any], run: Mapping[str, Any], tmp: Path) -> Observed:
    """Read the nodes, run the Job through run_indexed_job (kept), read what it left, delete it."""
    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    batch, core = kubernetes.client.BatchV1Api(api), kubernetes.client.CoreV1Api(api)
    name = manifest["metadata"]["name"]
    polled: list[tuple[str, Any]] = []
    try:
        # As roles/pi/tasks/run_k3s.yml reads them: kubernetes.core's dynamic client, raw dicts.
        dynamic = DynamicClient(api, cache_file=str(tmp / "discovery.json"))
        nodes = dynamic.resources.get(api_version="v1", kind="Node").get().to_dict()["items"]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(k3s, "JobRunner", recording_runner(polled))
            record, job_info = k3s.run_indexed_job(api, manifest, PlannedRun.from_dict(run), namespace=NAMESPACE,
                                                   timeout_s=120, start_timeout_s=90, poll_interval_s=0.2,
                                                   request_timeout_s=10, keep=True)
        job = wire(batch.read_namespaced_job_status(name, NAMESPACE, _preload_content=False))
        uid = job["metadata"]["uid"]
        listed = wire(core.list_namespaced_pod(NAMESPACE, label_selector=f"job-name={name}",
                                               _preload_content=False))["items"]
        pods = by_index([p for p in listed
                         if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences", []))])
        logs = [core.read_namespaced_pod_log(p["metadata"]["name"], NAMESPACE, container="worker",
                                             _preload_content=False).data.decode() for p in pods]
        events = settled_events(core, name)
    finally:
        try:
            batch.delete_namespaced_job(name, NAMESPACE, propagation_policy="Background")
        except ApiException as err:
            if err.status != 404:
                raise
        api.close()
    kit_status = next(status for kind, status in reversed(polled) if kind == "job")
    kit_pods = by_index(next(pods for kind, pods in reversed(polled) if kind == "pods"))
    return Observed(nodes, record.to_dict(), job_info, job, pods, logs, events, kit_status, kit_pods, polled)


# --- fixtures ----------------------------------------------------------------------------------


def planned(tag: str, workers: int, work: int) -> dict[str, Any]:
    # A name of its own per session: events outlive their Job by an hour, and the kit
    # selects them by the Job's name.
    run_id = f"pi-drift-{tag}-{int(time.time()) % 10**6}-{os.getpid()}-strong-n{workers}-r1"
    return {"run_id": run_id, "workload": "pi", "mode": "strong", "workers": workers, "repetition": 1,
            "warmup": False, "order": 1, "work": work, "seed": 11}


def run_on_both(real: RealKube, tmp: Path, run: dict[str, Any]) -> dict[str, Observed]:
    """The pi role's Job for `run`, rendered once, run on the stand-in and on the real cluster."""
    rendered = render_templates(tmp, {"job": PI_JOB}, [PI_DEFAULTS],
                                {"pi_k3s_run": run, "pi_k3s_kernel": "python", "pi_k3s_job": pi_job_settings()},
                                {"pi_k3s_image": real.images["worker"], "pi_k3s_image_pull_policy": "Never",
                                 "pi_k3s_namespace": NAMESPACE})
    (manifest,) = rendered["job"]
    with FakeApiServer({"/opt/lab": WORKERS_DIR}) as fake_api:
        (tmp / "fake").mkdir()
        fake = observe(fake_api.kubeconfig(tmp / "fake" / "kubeconfig"), manifest, run, tmp / "fake")
    (tmp / "real").mkdir()
    return {"fake": fake, "real": observe(real.kubeconfig, manifest, run, tmp / "real")}


@pytest.fixture(scope="module")
def complete(configured_kube: RealKube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Observed]]:
    # About a second of sampling per worker: long enough for the 0.2 s polls to catch the
    # containers running on both sides (what the kit reads then is compared too).
    # About 3 s per pod: the kubelet posts a container's state on its own relist (about 1 s),
    # so one that runs 1 s may go from waiting to terminated without a poll seeing it run.
    yield run_on_both(configured_kube, tmp_path_factory.mktemp("drift-complete"), planned("ok", 2, 48_000_000))


@pytest.fixture(scope="module")
def failed(configured_kube: RealKube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Observed]]:
    # One worker: with two, the controller may kill the second pod once the first has failed
    # (backoffLimit 0), and whether it does is a race, not the API's shape.
    yield run_on_both(configured_kube, tmp_path_factory.mktemp("drift-failed"), planned("fail", 1, 0))


def load_filter(name: str) -> Callable[..., Any]:
    # plugins/filter is not on the tests' path: Ansible loads it by file, so does this.
    path = REPO / "plugins" / "filter" / "labkit_nodes.py"
    spec = importlib.util.spec_from_file_location("labkit_nodes_filter", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()[name]


def drift_in_job(fake: Observed, real: Observed) -> list[str]:
    """Every difference in the Job, its pods (on the wire and as the kit saw them) and its events."""
    return [*drift("Job", fake.job, real.job, JOB_FIELDS),
            *drift("Job status (kit)", {"status": fake.kit_status}, {"status": real.kit_status}, JOB_FIELDS),
            *drift_in_pods("Pod", fake.pods, real.pods, POD_FIELDS),
            *drift_in_pods("Pod (kit)", fake.kit_pods, real.kit_pods, POD_FIELDS),
            *drift_in_events(fake.events, real.events, real.job["metadata"]["name"])]


# --- the tests ---------------------------------------------------------------------------------


def test_a_complete_job_and_its_pods_read_the_same(complete: dict[str, Observed]) -> None:
    fake, real = complete["fake"], complete["real"]
    assert real.job_info["state"] == "Complete", real.record
    assert fake.job_info == real.job_info
    found = drift_in_job(fake, real)
    assert not found, "the stand-in drifted from the real API:\n" + "\n".join(found)
    job = real.job["metadata"]["name"]
    for observed in (fake, real):
        for index, pod in enumerate(observed.pods):
            # Indexed Job pods are <job>-<index>-<5 random characters>.
            assert re.fullmatch(rf"{re.escape(job)}-{index}-[a-z0-9]{{5}}", pod["metadata"]["name"])
            # Every timestamp the phases use parses, as labkit.k8s_jobs.parse_time reads it.
            for path, how in POD_FIELDS:
                if how == SHAPE and path[-1] in ("creationTimestamp", "lastTransitionTime", "startedAt", "finishedAt"):
                    assert all(parse_time(v) is not None for v in values_at(pod, path)), (path, pod)


def test_what_the_kit_saw_while_polling_has_the_same_shapes(complete: dict[str, Observed]) -> None:
    fake = shapes_while_polling(complete["fake"].polled, POD_FIELDS + POD_FIELDS_WHILE_RUNNING)
    real = shapes_while_polling(complete["real"].polled, POD_FIELDS + POD_FIELDS_WHILE_RUNNING)
    # A state a poll happened to catch on one side only says nothing (the real pods wait in
    # ContainerCreating, the stand-in's start at once); one caught on both must agree.
    found = [f"{path}: stand-in {sorted(fake[path])}, real {sorted(real[path])}"
             for path in sorted(set(fake) & set(real)) if fake[path] and real[path] and fake[path] != real[path]]
    assert not found, "while polling:\n" + "\n".join(found)
    # Seconds of sampling are long enough to see the containers running on both sides.
    running = path_text(POD_FIELDS_WHILE_RUNNING[0][0])
    assert fake[running] and real[running], "no poll saw a running container: nothing was compared"


def test_the_logs_hold_the_same_result_lines(complete: dict[str, Observed]) -> None:
    fake, real = complete["fake"], complete["real"]
    shapes = {}
    for side, observed in (("fake", fake), ("real", real)):
        parsed = [parse_result_lines(log) for log in observed.logs]
        shapes[side] = [{"ends_with_newline": log.endswith("\n"), "records": len(p.records), "malformed": p.malformed,
                         "other": p.other, "types": [type_map(r) for r in p.records]}
                        for log, p in zip(observed.logs, parsed)]
        for index, (pod, outcome) in enumerate(zip(observed.pods, parsed)):
            (result,) = outcome.records
            # NODE_NAME, POD_NAME and JOB_COMPLETION_INDEX as the kubelet sets them.
            assert result["node"] == pod["spec"]["nodeName"] and result["node"] in [n["metadata"]["name"]
                                                                                   for n in observed.nodes]
            assert result["pod"] == pod["metadata"]["name"] and result["index"] == index == pod_index(pod)
    assert shapes["fake"] == shapes["real"]


def test_the_run_records_have_the_same_keys_types_and_phases(complete: dict[str, Observed]) -> None:
    fake, real = complete["fake"].record, complete["real"].record
    assert type_map(fake) == type_map(real)
    assert real["valid"] is True and "problems" not in real, real.get("problems")
    # (oversubscribed and queued_pods depend on what else the real node runs: types only.)
    for key in ("run_id", "workload", "mode", "workers", "work", "valid", "throttled"):
        assert fake[key] == real[key], key
    assert len(fake["results"]) == len(real["results"]) == real["workers"]
    for f, r in zip(fake["results"], real["results"]):
        assert type_map(f) == type_map(r), (f, r)
        # The same command with the same index and seed draws the same points on both.
        assert (f["index"], f["samples"], f["inside"]) == (r["index"], r["samples"], r["inside"])
        for phase in PHASE_FIELDS:
            assert isinstance(f[phase], float) and isinstance(r[phase], float), (phase, f, r)
    assert sum(r["samples"] for r in real["results"]) == real["work"]


def test_the_nodes_read_the_same(complete: dict[str, Observed]) -> None:
    fake, real = complete["fake"].nodes, complete["real"].nodes
    assert fake and real
    # Node counts differ (two stand-in nodes, one or more here): every stand-in node is
    # compared with every real node, field by field.
    found = [line for node in fake for other in real
             for line in drift(f"Node {node['metadata']['name']} vs {other['metadata']['name']}", node, other,
                               NODE_FIELDS)]
    assert not found, "the stand-in drifted from the real API:\n" + "\n".join(found)
    # What labkit.nodes makes of them for the report: the same keys with the same types.
    described = {side: [type_map(from_k8s_node(n)) for n in nodes] for side, nodes in (("fake", fake), ("real", real))}
    assert all(d == r for d in described["fake"] for r in described["real"]), described
    cores = load_filter("lab_schedulable_cores")
    for nodes in (fake, real):
        assert isinstance(cores(nodes), int) and cores(nodes) > 0
    for node in fake + real:
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == node["metadata"]["name"]


def test_a_failed_job_reads_the_same(failed: dict[str, Observed]) -> None:
    fake, real = failed["fake"], failed["real"]
    assert real.job_info["state"] == "Failed", real.record
    assert fake.job_info == real.job_info
    found = drift_in_job(fake, real)
    assert not found, "the stand-in drifted from the real API:\n" + "\n".join(found)
    job = real.job["metadata"]["name"]
    # The same worker refusing the same argument: byte for byte the same log, whose tail the
    # kit quotes (the stand-in runs the controller's Python, the real pod the image's).
    assert fake.logs == real.logs
    assert type_map(fake.record) == type_map(real.record) and real.record["valid"] is False
    problems = {side: [same_pod_names(p, job) for p in observed.record["problems"]]
                for side, observed in (("fake", fake), ("real", real))}
    # The kit reads the events right after the Job failed; the controller posts its Warning
    # asynchronously, so an event line may be missing on either side. Those present must be
    # real events of that side; every other problem must read the same.
    for side, observed in (("fake", fake), ("real", real)):
        warnings = {f"event {e['reason']}: {same_pod_names(e['message'], job)}"
                    for e in observed.events if e["type"] == "Warning"}
        assert {p for p in problems[side] if p.startswith("event ")} <= warnings, (side, problems[side], warnings)
    assert ([p for p in problems["fake"] if not p.startswith("event ")]
            == [p for p in problems["real"] if not p.startswith("event ")])
