"""bench-pi.yml with cluster_backend: k3s, end to end against tests/fake_k8s_api.py.

kubernetes.core (k8s_info, k8s apply) and lab_k8s_job_run talk to the stand-in
API server; the pods' commands run for real with the worker the ConfigMap
shipped. This checks the playbook's wiring (plan, ConfigMap, one Job per run,
every pod's result, phases, node context, report); it is not a K3s test.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fake_k8s_api import FakeApiServer
from labtest import REPO, run_playbook

pytestmark = pytest.mark.integration

SMALL = {"pi_workers": "1,2", "pi_samples": 20_000, "pi_samples_per_worker": 5_000, "pi_repetitions": 1,
         "pi_k3s_poll_interval": 0.1}


def inventory(tmp_path: Path, backend: str = "k3s") -> Path:
    path = tmp_path / "cluster.yml"
    path.write_text(json.dumps({"all": {
        "vars": {"cluster_backend": backend, "cluster_name": "fake"},
        "children": {
            "controller": {"hosts": {"localhost": {
                "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}},
            # One cluster node the inventory lists (here: this machine, reached locally) and
            # one it does not (fake-node-1): only the first gains the SSH-read facts.
            "k3s_cluster": {"hosts": {"fake-node-0": {
                "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}},
        },
    }}))
    return path


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("k3s")
    with FakeApiServer(workdir=tmp / "kubelet") as api:
        proc = run_playbook("bench-pi.yml", "-i", str(inventory(tmp)), extra_vars=SMALL | {
            "pi_k3s_kubeconfig": str(api.kubeconfig(tmp / "kubeconfig")), "pi_reports_dir": str(tmp / "reports")})
        cluster = api.cluster
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    latest = tmp / "reports" / "latest-pi"
    return {"proc": proc, "cluster": cluster, "folder": latest.resolve(),
            "results": json.loads((latest / "results.json").read_text())}


def test_one_job_per_run_every_pod_read_and_every_job_deleted(bench: dict[str, Any]) -> None:
    cluster = bench["cluster"]
    runs = bench["results"]["runs"]
    assert len(runs) == 5  # 2 modes × 2 N × 1 repetition + the warm-up
    created = [path for method, path in cluster.requests if method == "POST" and path.endswith("/jobs")]
    assert len(created) == len(runs)
    assert cluster.jobs == {}
    assert sorted(d["name"] for d in cluster.deleted) == sorted(r["run_id"] for r in runs)
    assert {d["propagationPolicy"] for d in cluster.deleted} == {"Background"}
    progress = [line for line in bench["proc"].stdout.splitlines() if "results in" in line]
    assert len(progress) == 5 and all("/5]" in line for line in progress)


def test_the_configmap_ships_the_worker_byte_for_byte(bench: dict[str, Any]) -> None:
    configmap = bench["cluster"].configmaps[("lab", "pi-worker")]
    worker = (REPO / "plugins" / "workers" / "pi_worker.py").read_bytes()
    assert configmap["data"]["pi_worker.py"].encode("utf-8") == worker


def test_every_sample_is_counted_once_with_pod_phases(bench: dict[str, Any]) -> None:
    for run in bench["results"]["runs"]:
        results = run["results"]
        assert sorted(r["index"] for r in results) == list(range(run["workers"]))
        assert sum(r["samples"] for r in results) == run["work"]
        expected = 20_000 if run["mode"] == "strong" else run["workers"] * 5_000
        assert run["work"] == expected
        assert run["valid"] is True and run["t_e2e_s"] > 0
        assert len({r["pod"] for r in results}) == run["workers"]
        for r in results:
            assert r["node"].startswith("fake-node-") and r["pod"].startswith(run["run_id"] + "-")
            for phase in ("scheduling_s", "start_s", "runtime_start_s", "exit_s"):
                assert isinstance(r[phase], (int, float)), (phase, r)


def test_the_context_describes_the_cluster_nodes(bench: dict[str, Any]) -> None:
    context = bench["results"]["context"]
    assert context["backend"] == "k3s"
    assert [n["name"] for n in context["nodes"]] == ["fake-node-0", "fake-node-1"]
    node = context["nodes"][0]
    assert node["cores"] == 4 and node["k3s_version"] == "v1.33.5+k3s1" and node["arch"] == "arm64"
    assert node["memory_bytes"] == 3884400 * 1024
    # Read over the inventory's connection to fake-node-0, before and after the runs.
    assert node["model"] and "governor" in node and "temperature_c" in node and "throttled" in node
    assert "temperature_c" in node["after"] and node["after"]["hostname"]
    # fake-node-1 is not in the inventory: the API's facts only, nothing read or invented for it.
    assert not context["nodes"][1].get("after") and "model" not in context["nodes"][1]
    assert context["nodes"][1]["memory_bytes"] == 3884400 * 1024 and "governor" not in context["nodes"][1]
    assert context["kubernetes"]["cores"] == 8 and context["kubernetes"]["namespace"] == "lab"
    assert context["parameters"]["kernel"] == "python"
    assert "Pod phases" in (bench["folder"] / "index.html").read_text()


def test_a_missing_namespace_is_named_before_anything_is_created(tmp_path: Path) -> None:
    with FakeApiServer(workdir=tmp_path / "kubelet", namespaces=()) as api:
        proc = run_playbook("bench-pi.yml", "-i", str(inventory(tmp_path)), extra_vars=SMALL | {
            "pi_k3s_kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig")),
            "pi_reports_dir": str(tmp_path / "reports")})
        writes = [r for r in api.cluster.requests if r[0] != "GET"]
    assert proc.returncode != 0
    assert "Namespace lab does not exist" in proc.stdout
    assert writes == [] and not (tmp_path / "reports").exists()


def test_numpy_without_numpy_in_the_image_an_unknown_backend_and_ssh_without_hosts_are_refused(
        tmp_path: Path) -> None:
    # The planner refuses it (it knows the cluster's cores by then), before anything is created.
    with FakeApiServer(workdir=tmp_path / "kubelet") as api:
        proc = run_playbook("bench-pi.yml", "-i", str(inventory(tmp_path)), extra_vars=SMALL | {
            "pi_kernel": "numpy", "pi_k3s_kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig")),
            "pi_reports_dir": str(tmp_path / "r")})
        writes = [r for r in api.cluster.requests if r[0] != "GET"]
    assert proc.returncode != 0 and "pi_kernel=numpy but the worker image python:3.13-slim has no numpy" in proc.stdout
    assert "the controller's Python" not in proc.stdout and writes == []
    proc = run_playbook("bench-pi.yml", "-i", str(inventory(tmp_path, "docker")), extra_vars=SMALL | {
        "pi_reports_dir": str(tmp_path / "r")})
    # (lab_common's argument spec knows the backends: local, ssh, k3s)
    assert proc.returncode != 0 and "cluster_backend" in proc.stdout and "docker" in proc.stdout
    # ssh is a backend, but this inventory has no workers group: said before anything runs
    proc = run_playbook("bench-pi.yml", "-i", str(inventory(tmp_path, "ssh")), extra_vars=SMALL | {
        "pi_reports_dir": str(tmp_path / "r")})
    assert proc.returncode != 0 and "the inventory's workers group is empty" in proc.stdout, proc.stdout[-2000:]
    assert not (tmp_path / "r").exists()
