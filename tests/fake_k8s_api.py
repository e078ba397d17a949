"""A stand-in for the few Kubernetes API calls lab_k8s_job_run makes. It is NOT K3s.

No K3s can run on the test machine, so this HTTP server answers the Job/Pod/log/
event requests of the real `kubernetes` Python client in the API's JSON shape,
and runs each pod of an Indexed Job for real: the container's command as a local
process (`python3` → this interpreter, the ConfigMap mount → a folder holding the
worker), with JOB_COMPLETION_INDEX, NODE_NAME and POD_NAME set from the manifest
the way the kubelet would. Status timestamps are truncated to the second, as the
API server writes them. What it cannot show (scheduling, images, Pod Security
admission, real nodes) is left to a real cluster. The fields the kit reads are
checked against a real Kubernetes v1.33 by tests/integration/test_fake_api_matches_real.py:
Job conditions carry the controller's reason, message and times, zero counts are
left out (omitempty), the Job controller's events are recorded, Nodes have the
kubelet's conditions.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse


# Images under this registry never pull: their pods wait in ImagePullBackOff.
UNPULLABLE = "registry.invalid/"


def now_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeCluster:
    """Jobs, pods and logs of one namespace-agnostic fake cluster."""

    def __init__(self, mounts: dict[str, Path] | None = None, nodes: int = 2,
                 namespaces: tuple[str, ...] = ("lab",), workdir: Path | None = None) -> None:
        self.mounts = dict(mounts or {})  # container mount path -> local folder (when no ConfigMap is mounted)
        self.nodes = [f"fake-node-{i}" for i in range(nodes)]
        self.namespaces = list(namespaces)
        self.configmaps: dict[tuple[str, str], dict[str, Any]] = {}
        self.workdir = workdir
        self.lock = threading.Lock()
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.logs: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.deleted: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    # --- Jobs ---------------------------------------------------------------------
    def create_job(self, namespace: str, job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = job["metadata"]["name"]
        with self.lock:
            if (namespace, name) in self.jobs:
                return 409, status_body(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
            job = json.loads(json.dumps(job))
            job["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now_stamp())
            job["status"] = {"startTime": now_stamp(), "active": job["spec"]["completions"]}
            self.jobs[(namespace, name)] = job
            # Pods are created here, under the lock, so their events come before any other.
            pod_names = [f"{name}-{index}-{uuid.uuid4().hex[:5]}" for index in range(job["spec"]["completions"])]
            for pod_name in pod_names:
                self.record_event(namespace, job, "Normal", "SuccessfulCreate", f"Created pod: {pod_name}")
        for index in range(job["spec"]["completions"]):
            threading.Thread(target=self.run_pod, args=(namespace, job, index, pod_names[index]), daemon=True).start()
        return 201, job

    def record_event(self, namespace: str, job: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """An event about the Job, as the Job controller posts it (core/v1 Event; call under the lock)."""
        stamp = now_stamp()
        self.events.append({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{job['metadata']['name']}.{uuid.uuid4().hex[:16]}", "namespace": namespace,
                         "uid": str(uuid.uuid4()), "creationTimestamp": stamp},
            "involvedObject": {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                               "namespace": namespace, "uid": job["metadata"]["uid"]},
            "type": kind, "reason": reason, "message": message,
            "source": {"component": "job-controller"}, "reportingComponent": "job-controller",
            "reportingInstance": "", "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "eventTime": None})

    def run_pod(self, namespace: str, job: dict[str, Any], index: int, name: str) -> None:
        template = job["spec"]["template"]
        node = self.nodes[index % len(self.nodes)]
        container = template["spec"]["containers"][0]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now_stamp(),
                "labels": dict(template["metadata"].get("labels") or {}, **{
                    "job-name": job["metadata"]["name"],
                    "batch.kubernetes.io/job-name": job["metadata"]["name"],
                    "batch.kubernetes.io/job-completion-index": str(index)}),
                "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                                     "uid": job["metadata"]["uid"], "controller": True}],
            },
            "spec": dict(template["spec"], nodeName=node),
            "status": {"phase": "Pending", "conditions": []},
        }
        with self.lock:
            self.pods[(namespace, name)] = pod
        time.sleep(0.05)
        with self.lock:
            pod["status"]["conditions"].append(
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_stamp()})
        env = {"PATH": os.environ.get("PATH", ""), "JOB_COMPLETION_INDEX": str(index)}
        for item in container.get("env") or []:
            ref = (item.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
            env[item["name"]] = {"spec.nodeName": node, "metadata.name": name}.get(ref, item.get("value", ""))
        if container["image"].startswith(UNPULLABLE):
            with self.lock:
                pod["status"]["containerStatuses"] = [{
                    "name": container["name"], "image": container["image"], "imageID": "", "ready": False,
                    "restartCount": 0, "started": False, "state": {"waiting": {
                        "reason": "ImagePullBackOff", "message": f'Back-off pulling image "{container["image"]}"'}}}]
            return
        mounts = dict(self.mounts)
        mounts.update(self.configmap_mounts(namespace, name, template["spec"], container))
        argv = [sys.executable if arg == "python3" else map_path(arg, mounts) for arg in container["command"]]
        started = now_stamp()
        with self.lock:
            pod["status"].update(phase="Running", containerStatuses=[{
                "name": container["name"], "image": container["image"], "imageID": "", "ready": True,
                "restartCount": 0, "started": True, "state": {"running": {"startedAt": started}}}])
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        with self.lock:
            self.logs[name] = done.stdout + done.stderr
            pod["status"]["phase"] = "Succeeded" if done.returncode == 0 else "Failed"
            pod["status"]["containerStatuses"][0].update(ready=False, started=False, state={"terminated": {
                "exitCode": done.returncode, "reason": "Completed" if done.returncode == 0 else "Error",
                "startedAt": started, "finishedAt": now_stamp()}})
            self.update_job(namespace, job["metadata"]["name"])

    def configmap_mounts(self, namespace: str, pod: str, spec: dict[str, Any],
                         container: dict[str, Any]) -> dict[str, Path]:
        """Write each mounted ConfigMap's keys (or its items) to a folder, as the kubelet would."""
        found: dict[str, Path] = {}
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            source = volumes.get(mount["name"], {}).get("configMap")
            if not source or self.workdir is None:
                continue
            with self.lock:
                data = dict(self.configmaps.get((namespace, source["name"]), {}).get("data") or {})
            folder = self.workdir / pod / mount["name"]
            folder.mkdir(parents=True)
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] in data:
                    (folder / item["path"]).write_text(data[item["key"]], encoding="utf-8")
            found[mount["mountPath"]] = folder
        return found

    def update_job(self, namespace: str, name: str) -> None:
        job = self.jobs.get((namespace, name))
        if job is None:
            return
        pods = [p for p in self.pods.values() if p["metadata"]["labels"].get("job-name") == name]
        succeeded = sum(p["status"]["phase"] == "Succeeded" for p in pods)
        failed = sum(p["status"]["phase"] == "Failed" for p in pods)
        counts = {"succeeded": succeeded, "failed": failed, "active": job["spec"]["completions"] - succeeded - failed}
        for key, count in counts.items():
            # The API leaves out a zero count (omitempty), as the Job controller writes it.
            if count:
                job["status"][key] = count
            else:
                job["status"].pop(key, None)
        if job["status"].get("conditions"):
            return  # finished: the controller does not rewrite its terminal conditions
        # Kubernetes >= 1.31: the interim condition (FailureTarget, SuccessCriteriaMet) first,
        # then the terminal one, both with the same reason and message; then an event.
        if failed > job["spec"].get("backoffLimit", 6):
            reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            conditions = ("FailureTarget", "Failed")
        elif succeeded == job["spec"]["completions"]:
            reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
            conditions = ("SuccessCriteriaMet", "Complete")
            job["status"]["completionTime"] = now_stamp()
        else:
            return
        stamp = now_stamp()
        job["status"]["conditions"] = [
            {"type": condition, "status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp,
             "reason": reason, "message": message} for condition in conditions]
        if conditions[-1] == "Failed":
            self.record_event(namespace, job, "Warning", reason, message)
        else:
            self.record_event(namespace, job, "Normal", "Completed", "Job completed")


def map_path(arg: str, mounts: dict[str, Path]) -> str:
    for mount, folder in mounts.items():
        if arg.startswith(mount.rstrip("/") + "/"):
            return str(folder / arg[len(mount.rstrip("/")) + 1:])
    return arg


def node_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), "creationTimestamp": now_stamp(),
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/arch": "arm64", "role": "worker"}},
        "spec": {},
        "status": {
            # The kubelet's four conditions (labkit.nodes reads Ready).
            "conditions": [
                {"type": kind, "status": status, "lastHeartbeatTime": now_stamp(),
                 "lastTransitionTime": now_stamp(), "reason": reason, "message": message}
                for kind, status, reason, message in (
                    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"))],
            "capacity": {"cpu": "4", "memory": "3884400Ki", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "3884400Ki", "pods": "110"},
            "nodeInfo": {"architecture": "arm64", "kernelVersion": "6.6.51+rpt-rpi-v8",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "kubeletVersion": "v1.33.5+k3s1",
                         "containerRuntimeVersion": "containerd://2.1.4-k3s1", "kubeProxyVersion": "",
                         "operatingSystem": "linux", "machineID": "", "systemUUID": "", "bootID": ""},
        },
    }


# Discovery documents for the resources the fake serves (kubernetes.core's dynamic client reads them).
CORE_RESOURCES = [
    ("namespaces", "Namespace", False), ("nodes", "Node", False), ("configmaps", "ConfigMap", True),
    ("pods", "Pod", True), ("events", "Event", True),
]
DISCOVERY: dict[str, Any] = {
    "/version": {"major": "1", "minor": "33", "gitVersion": "v1.33.5+k3s1", "platform": "linux/arm64"},
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "batch", "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"}}]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": n, "singularName": k.lower(), "namespaced": ns, "kind": k,
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]} for n, k, ns in CORE_RESOURCES]},
    "/apis/batch/v1": {"kind": "APIResourceList", "groupVersion": "batch/v1", "resources": [
        {"name": "jobs", "singularName": "job", "namespaced": True, "kind": "Job",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
        {"name": "jobs/status", "singularName": "", "namespaced": True, "kind": "Job", "verbs": ["get"]}]},
}


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}


def make_handler(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def send(self, code: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def route(self, method: str) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            parts = url.path.strip("/").split("/")
            cluster.requests.append((method, self.path))
            if method == "GET" and url.path.rstrip("/") in DISCOVERY:
                return self.send(200, DISCOVERY[url.path.rstrip("/")])
            selector = dict((k.strip(), v.strip()) for k, _, v in (
                s.partition("=") for s in query.get("labelSelector", "").split(",") if s))
            if parts[:3] == ["api", "v1", "nodes"] and method == "GET":
                nodes = [node_object(n) for n in cluster.nodes]
                if len(parts) == 4:
                    found = [n for n in nodes if n["metadata"]["name"] == parts[3]]
                    return self.send(200, found[0]) if found else self.send(
                        404, status_body(404, "NotFound", f'nodes "{parts[3]}" not found'))
                items = [n for n in nodes if all(n["metadata"]["labels"].get(k) == v for k, v in selector.items())]
                return self.send(200, {"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": items})
            if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4 and method == "GET":
                if parts[3] not in cluster.namespaces:
                    return self.send(404, status_body(404, "NotFound", f'namespaces "{parts[3]}" not found'))
                return self.send(200, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": parts[3]},
                                       "spec": {}, "status": {"phase": "Active"}})
            if parts[:3] == ["api", "v1", "namespaces"] and len(parts) >= 5 and parts[4] == "configmaps":
                key = (parts[3], parts[5] if len(parts) > 5 else "")
                with cluster.lock:
                    if parts[3] not in cluster.namespaces:
                        return self.send(404, status_body(404, "NotFound", f'namespaces "{parts[3]}" not found'))
                    if method == "POST":
                        body = self.body()
                        body["metadata"].update(namespace=parts[3], uid=str(uuid.uuid4()), resourceVersion="1")
                        cluster.configmaps[(parts[3], body["metadata"]["name"])] = body
                        return self.send(201, body)
                    current = cluster.configmaps.get(key)
                    if current is None:
                        return self.send(404, status_body(404, "NotFound", f'configmaps "{key[1]}" not found'))
                    if method == "PATCH":
                        patch = self.body() or {}
                        current["metadata"].setdefault("annotations", {}).update(
                            (patch.get("metadata") or {}).get("annotations") or {})
                        current.setdefault("data", {}).update(patch.get("data") or {})
                    return self.send(200, current)
            # /apis/batch/v1/namespaces/{ns}/jobs[/{name}[/status]]
            if parts[:3] == ["apis", "batch", "v1"] and len(parts) >= 6 and parts[5] == "jobs":
                namespace = parts[4]
                if method == "POST" and len(parts) == 6:
                    return self.send(*cluster.create_job(namespace, self.body()))
                name = parts[6] if len(parts) > 6 else ""
                with cluster.lock:
                    job = cluster.jobs.get((namespace, name))
                    if job is None:
                        return self.send(404, status_body(404, "NotFound", f'jobs.batch "{name}" not found'))
                    if method == "GET":
                        return self.send(200, job)
                    if method == "DELETE":
                        options = self.body() or {}
                        cluster.deleted.append({"name": name, "propagationPolicy": options.get(
                            "propagationPolicy", query.get("propagationPolicy"))})
                        del cluster.jobs[(namespace, name)]
                        return self.send(200, status_body(200, "", "deleted") | {"status": "Success"})
            # /api/v1/namespaces/{ns}/pods[/{name}/log] and /events
            if parts[:2] == ["api", "v1"] and len(parts) >= 5 and method == "GET":
                namespace, kind = parts[3], parts[4]
                if kind == "pods" and len(parts) == 5:
                    selector = dict(s.split("=", 1) for s in query.get("labelSelector", "").split(",") if s)
                    with cluster.lock:
                        items = [p for (ns, _), p in cluster.pods.items() if ns == namespace and all(
                            p["metadata"]["labels"].get(k) == v for k, v in selector.items())]
                        return self.send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {},
                                               "items": json.loads(json.dumps(items))})
                if kind == "pods" and len(parts) == 7 and parts[6] == "log":
                    with cluster.lock:
                        if parts[5] not in cluster.logs:
                            return self.send(400, status_body(400, "BadRequest", "container is waiting to start"))
                        return self.send(200, cluster.logs[parts[5]], "text/plain")
                if kind == "events" and len(parts) == 5:
                    # fieldSelector involvedObject.kind=...,involvedObject.name=... (what JobRunner asks)
                    fields = dict(s.split("=", 1) for s in query.get("fieldSelector", "").split(",") if s)
                    with cluster.lock:
                        items = [e for e in cluster.events if e["metadata"]["namespace"] == namespace and all(
                            str(e.get("involvedObject", {}).get(k.removeprefix("involvedObject."))) == v
                            if k.startswith("involvedObject.") else False for k, v in fields.items())]
                        return self.send(200, {"apiVersion": "v1", "kind": "EventList", "metadata": {},
                                               "items": json.loads(json.dumps(items))})
            return self.send(404, status_body(404, "NotFound", f"the fake API does not serve {method} {url.path}"))

        def do_GET(self) -> None:  # noqa: N802
            self.route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self.route("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self.route("DELETE")

        def do_PATCH(self) -> None:  # noqa: N802
            self.route("PATCH")

    return Handler


class FakeApiServer:
    """Start with `with FakeApiServer(mounts) as api:`; api.kubeconfig(path) writes a kubeconfig for it."""

    def __init__(self, mounts: dict[str, Path] | None = None, nodes: int = 2,
                 namespaces: tuple[str, ...] = ("lab",), workdir: Path | None = None) -> None:
        self.cluster = FakeCluster(mounts, nodes, namespaces, workdir)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.cluster))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }))
        return path
