"""bench-pi.yml and lab_k8s_job_run against the real local Kubernetes (./lab kube).

The same paths tests/integration/test_bench_pi_k3s.py and test_lab_k8s_job_run.py
check against the stand-in API, here met by a real API server, Job controller,
scheduler and kubelet: real Indexed Jobs, real pods in the local worker image, real
status timestamps, and real failures (a worker that exits non-zero, an image that
is not there, an API server that stops answering mid-run).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jobmodule import planned, run_module
from kubetest import RealKube, pods, wait_until
from labtest import run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.kube]

SMALL = {"pi_workers": "1,2", "pi_samples": 2_000_000, "pi_samples_per_worker": 1_000_000, "pi_repetitions": 1,
         "pi_k3s_poll_interval": 0.2}
PART_OF = "app.kubernetes.io/part-of=pi-cluster-lab"


def lab_jobs(real: RealKube) -> list[dict[str, Any]]:
    return list(real.api(f"/apis/batch/v1/namespaces/lab/jobs?labelSelector={PART_OF}")["items"])


@pytest.fixture(scope="module")
def bench(configured_kube: RealKube, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("kube-bench")
    proc = run_playbook("bench-pi.yml", "-i", str(configured_kube.inventory),
                        extra_vars=SMALL | {"pi_reports_dir": str(tmp / "reports")}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    latest = tmp / "reports" / "latest-pi"
    return {"proc": proc, "folder": latest.resolve(), "results": json.loads((latest / "results.json").read_text())}


def test_every_sample_is_counted_once_by_real_pods_on_real_nodes(bench: dict[str, Any], configured_kube: RealKube) -> None:
    runs = bench["results"]["runs"]
    assert len(runs) == 5  # 2 modes × 2 N × 1 repetition + the warm-up
    for run in runs:
        results = run["results"]
        assert sorted(r["index"] for r in results) == list(range(run["workers"]))
        assert sum(r["samples"] for r in results) == run["work"]
        assert run["valid"] is True and run["t_e2e_s"] > 0
        # Each result names the pod that printed it and the node the scheduler chose.
        assert all(r["node"] in configured_kube.nodes for r in results)
        assert len({r["pod"] for r in results}) == len(results)
        assert all(r["pod"].startswith(run["run_id"].lower()[:40]) for r in results)
    progress = [line for line in bench["proc"].stdout.splitlines() if "results in" in line]
    assert len(progress) == 5 and all(" on lab-kube-" in line for line in progress)


def test_the_scheduler_spreads_a_runs_pods_over_the_nodes(bench: dict[str, Any], configured_kube: RealKube) -> None:
    if len(configured_kube.nodes) < 2:
        pytest.skip("one node: nothing to spread over (./lab kube up --nodes 2)")
    # lab_pi_job asks for at most one pod of skew per host: N=2 on two nodes is one each.
    for run in bench["results"]["runs"]:
        if run["workers"] == 2:
            assert len({r["node"] for r in run["results"]}) == 2, run["results"]


def test_phases_come_from_the_real_status_timestamps(bench: dict[str, Any]) -> None:
    for run in bench["results"]["runs"]:
        for result in run["results"]:
            # Whole seconds from the API server and the kubelet: scheduling and start are
            # multiples of one second; the worker's own interval is not.
            assert float(result["scheduling_s"]).is_integer() and result["scheduling_s"] >= 0
            assert float(result["start_s"]).is_integer() and result["start_s"] >= 0
            assert result["compute_s"] > 0 and not float(result["compute_s"]).is_integer()
            assert abs(result["runtime_start_s"]) <= 2.0 and abs(result["exit_s"]) <= 2.0


def test_the_report_describes_the_real_node(bench: dict[str, Any], configured_kube: RealKube) -> None:
    context = bench["results"]["context"]
    names = [node.get("name") for node in context["nodes"]]
    assert set(configured_kube.nodes) <= set(names), names
    node = next(n for n in context["nodes"] if n.get("name") == configured_kube.nodes[0])
    assert node["cores"] == os.cpu_count()
    assert context["kubernetes"]["image"] == configured_kube.images["worker"]
    assert (bench["folder"] / "index.html").exists()


def test_every_node_is_sampled_and_its_pods_fall_inside_its_timeline(bench: dict[str, Any],
                                                                     configured_kube: RealKube) -> None:
    # The nodes are sampled over SSH (the inventory's kube_local group), named as Kubernetes names them.
    data = bench["results"]
    assert set(data["telemetry"]) == set(configured_kube.nodes)
    for node in data["sampling"]["nodes"]:
        assert node["error"] is None and node["samples"] >= 2 and "load" in node["readings"], node
    # The pods stamp their times with the node's clock, the one its sampler uses.
    for run in data["runs"]:
        for result in run["results"]:
            samples = data["telemetry"][result["node"]]
            assert samples[0]["t_ns"] <= result["t_start_ns"] <= result["t_end_ns"] <= samples[-1]["t_ns"]
    assert "What each node did during the experiment" in (bench["folder"] / "index.html").read_text()


def test_every_job_and_pod_is_gone_after_the_runs(bench: dict[str, Any], configured_kube: RealKube) -> None:
    assert lab_jobs(configured_kube) == []
    wait_until("the runs' pods deleted",
               lambda: not pods(configured_kube, "lab", "app.kubernetes.io/name=pi-worker"), 60)


def module_vars(real: RealKube) -> dict[str, Any]:
    return {"pi_k3s_image_pull_policy": "Never", "pi_k3s_namespace": "lab"}


def test_a_worker_that_fails_fails_the_run_with_its_log(configured_kube: RealKube, tmp_path: Path) -> None:
    # --samples 0 is refused by every worker: the Job fails (backoffLimit 0).
    result, _ = run_module(tmp_path, configured_kube.kubeconfig, planned("pi-kube-fail-strong-n2-r1", 2, 0),
                           image=configured_kube.images["worker"], extra_vars=module_vars(configured_kube))
    assert result["failed"] is True
    assert "failed: Job pi-kube-fail-strong-n2-r1 in lab: Job Failed" in result["msg"]
    assert "--samples must be" in result["msg"] or "samples" in result["msg"]
    assert result["run"]["valid"] is False
    wait_until("the failed Job deleted", lambda: not lab_jobs(configured_kube), 60)


def test_an_image_that_is_not_there_fails_at_once(configured_kube: RealKube, tmp_path: Path) -> None:
    started = time.monotonic()
    result, _ = run_module(tmp_path, configured_kube.kubeconfig, planned("pi-kube-noimage-strong-n1-r1", 1, 1000),
                           image="localhost/lab-no-such-image:1", extra_vars=module_vars(configured_kube))
    assert result["failed"] is True
    assert "cannot start: ErrImageNeverPull" in result["msg"], result["msg"]
    # Named at once, not after pi_k3s_start_timeout (300 s).
    assert time.monotonic() - started < 120
    wait_until("the stuck Job deleted", lambda: not lab_jobs(configured_kube), 60)


def test_an_api_server_that_stops_answering_mid_run_is_said_plainly(configured_kube: RealKube, tmp_path: Path) -> None:
    apiserver = configured_kube.kube.pid_of("kube-apiserver")

    def freeze_after_submit() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if lab_jobs(configured_kube):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(0.5)
        os.kill(apiserver, signal.SIGSTOP)

    freezer = threading.Thread(target=freeze_after_submit, daemon=True)
    freezer.start()
    try:
        # 400M samples: tens of seconds in one pod, so the Job is still running when the API freezes.
        result, _ = run_module(tmp_path, configured_kube.kubeconfig, planned("pi-kube-lost-strong-n1-r1", 1, 400_000_000),
                               image=configured_kube.images["worker"], extra_vars=module_vars(configured_kube),
                               request_timeout=2)
    finally:
        freezer.join(timeout=130)
        os.kill(apiserver, signal.SIGCONT)
    assert result["failed"] is True
    assert "lost contact with the cluster while Job pi-kube-lost-strong-n1-r1 ran" in result["msg"], result["msg"]
    assert result["run"]["valid"] is False and result["job"]["deleted"] is False
    wait_until("the API server answering again", lambda: configured_kube.kube._api_ok("/readyz"), 60)
    configured_kube.api("/apis/batch/v1/namespaces/lab/jobs/pi-kube-lost-strong-n1-r1", method="DELETE",
                   body={"propagationPolicy": "Background"})
    wait_until("the Job deleted", lambda: not lab_jobs(configured_kube), 60)


def test_without_pi_samples_a_one_pod_probe_sizes_w(configured_kube: RealKube, tmp_path: Path) -> None:
    proc = run_playbook("bench-pi.yml", "-i", str(configured_kube.inventory),
                        extra_vars={"pi_workers": "1", "pi_repetitions": 1, "pi_scaling": "strong", "pi_warmup": False,
                                    "pi_target_seconds": 0.3, "pi_k3s_poll_interval": 0.2,
                                    "pi_reports_dir": str(tmp_path / "reports")}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "reports" / "latest-pi" / "results.json").read_text())
    calibration = results["context"]["parameters"]["calibration"]
    # The probe ran in a pod, on a node of the cluster, and sized W from that node's rate.
    assert calibration["how"] == "calibrated" and calibration["probe_node"] in configured_kube.nodes
    assert 0.1 < calibration["probe_compute_s"] < 1.5
    assert [run["work"] for run in results["runs"]] == [results["context"]["parameters"]["samples"]]
    assert not lab_jobs(configured_kube), "the probe's Job and the run's are gone"
