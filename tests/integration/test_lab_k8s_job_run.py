"""lab_k8s_job_run through a real ansible-playbook run, against tests/fake_k8s_api.py.

The fake answers the real `kubernetes` client's requests and runs every pod's
command (the π Job lab_pi_job builds, the real pi_worker.py) as a local process;
it is a stand-in for the API, not K3s (see its docstring for what it cannot show).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fake_k8s_api import FakeApiServer
from jobmodule import planned, run_module
from labtest import REPO

pytestmark = pytest.mark.integration

WORKERS_DIR = REPO / "plugins" / "workers"


def test_a_run_collects_every_pod_with_phases_and_deletes_the_job(tmp_path: Path) -> None:
    with FakeApiServer({"/opt/lab": WORKERS_DIR}) as api:
        result, stdout = run_module(tmp_path, api.kubeconfig(tmp_path / "kubeconfig"),
                                    planned("pi-20261125-031500-strong-n3-r1", 3, 30_001))
        deleted = api.cluster.deleted
    assert not result.get("failed"), result.get("msg")
    record = result["run"]
    assert record["valid"] is True
    assert record["run_id"] == "pi-20261125-031500-strong-n3-r1" and record["workers"] == 3
    assert "commands" not in record and "label" not in record
    assert [r["index"] for r in record["results"]] == [0, 1, 2]
    # Every worker did its share: the shares add up to the run's work exactly.
    assert sum(r["samples"] for r in record["results"]) == 30_001
    assert {r["node"] for r in record["results"]} == {"fake-node-0", "fake-node-1"}
    for r in record["results"]:
        assert r["pod"].startswith("pi-20261125-031500-strong-n3-r1-")
        for phase in ("scheduling_s", "start_s", "runtime_start_s", "exit_s"):
            # One-second timestamps on a sub-second fake: each phase lies within ±1 s.
            assert isinstance(r[phase], float) and -1.0 <= r[phase] <= 2.0, (phase, r[phase])
    assert record["t_e2e_s"] > 0
    assert result["job"] == {"name": "pi-20261125-031500-strong-n3-r1", "namespace": "lab",
                             "state": "Complete", "deleted": True}
    assert deleted == [{"name": "pi-20261125-031500-strong-n3-r1", "propagationPolicy": "Background"}]
    assert "3/3 results in" in stdout


def test_failed_pods_are_named_with_their_log_tail(tmp_path: Path) -> None:
    # --samples 0 is refused by every worker: the Job fails (backoffLimit 0).
    with FakeApiServer({"/opt/lab": WORKERS_DIR}) as api:
        result, _ = run_module(tmp_path, api.kubeconfig(tmp_path / "kubeconfig"),
                               planned("pi-20261125-031500-strong-n2-r1", 2, 0))
        deleted = api.cluster.deleted
    assert result["failed"] is True
    msg = result["msg"]
    assert msg.startswith("[2/5] strong N=2 rep 1/3 failed: Job pi-20261125-031500-strong-n2-r1 in lab: Job Failed")
    assert "pod pi-20261125-031500-strong-n2-r1-0-" in msg and "exit code 2" in msg
    assert "'0' is not a positive whole number" in msg
    assert result["run"]["valid"] is False
    # The Job is cleaned up after a failure too.
    assert [d["name"] for d in deleted] == ["pi-20261125-031500-strong-n2-r1"]


def test_a_pod_that_cannot_pull_its_image_fails_the_run_at_once(tmp_path: Path) -> None:
    with FakeApiServer({"/opt/lab": WORKERS_DIR}) as api:
        result, _ = run_module(tmp_path, api.kubeconfig(tmp_path / "kubeconfig"),
                               planned("pi-x-strong-n2-r1", 2, 100), image="registry.invalid/python:3.13-slim")
        deleted = api.cluster.deleted
    assert result["failed"] is True
    state = result["job"]["state"]
    assert state.startswith("Stuck: pod pi-x-strong-n2-r1-") and state.endswith(" cannot start: ImagePullBackOff")
    assert "cannot start: ImagePullBackOff" in result["msg"]
    assert 'waiting: ImagePullBackOff: Back-off pulling image "registry.invalid/python:3.13-slim"' in result["msg"]
    assert [d["name"] for d in deleted] == ["pi-x-strong-n2-r1"]


def test_check_mode_creates_nothing_and_keep_leaves_the_job(tmp_path: Path) -> None:
    with FakeApiServer({"/opt/lab": WORKERS_DIR}) as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        result, _ = run_module(tmp_path, kubeconfig, planned("pi-x-strong-n1-r1", 1, 100), "--check")
        assert api.cluster.requests == []
        assert result["changed"] is True and result["run"]["results"] == []
        result, _ = run_module(tmp_path, kubeconfig, planned("pi-x-strong-n1-r2", 1, 100), keep=True)
        assert result["run"]["valid"] is True
        assert api.cluster.deleted == [] and result["job"]["deleted"] is False
        assert ("lab", "pi-x-strong-n1-r2") in api.cluster.jobs


def test_an_unreachable_cluster_is_named(tmp_path: Path) -> None:
    with FakeApiServer({"/opt/lab": WORKERS_DIR}) as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    # The server is gone: its port refuses connections.
    result, _ = run_module(tmp_path, kubeconfig, planned("pi-x-strong-n1-r1", 1, 100))
    assert result["failed"] is True
    assert "cannot reach the cluster to create Job pi-x-strong-n1-r1" in result["msg"]
    result, _ = run_module(tmp_path, tmp_path / "missing-kubeconfig", planned("pi-x-strong-n1-r1", 1, 100))
    assert result["failed"] is True and "cannot load kubeconfig" in result["msg"]


def test_losing_the_cluster_mid_run_is_said_plainly(tmp_path: Path) -> None:
    import threading
    import time

    api = FakeApiServer({"/opt/lab": WORKERS_DIR})
    with api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        # The API server stops answering while the worker (several seconds of sampling: 4·10⁶
        # samples took about 0.5 s here, and the Job could finish first) still runs:
        # its socket stays open, so requests hang until request_timeout.
        def stop_after_submit() -> None:
            deadline = time.monotonic() + 120
            while not api.cluster.jobs and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            api.server.shutdown()

        threading.Thread(target=stop_after_submit, daemon=True).start()
        result, _ = run_module(tmp_path, kubeconfig, planned("pi-x-strong-n1-r1", 1, 40_000_000), request_timeout=1)
    assert result["failed"] is True
    assert "lost contact with the cluster while Job pi-x-strong-n1-r1 ran" in result["msg"]
    assert "cannot delete Job pi-x-strong-n1-r1 (ttlSecondsAfterFinished removes it later)" in result["msg"]
    assert result["run"]["valid"] is False and result["job"]["deleted"] is False
