"""The k3s backend's pure part: Job conditions, per-pod phases, results from several pods' logs."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from labkit import k8s_jobs
from labkit.k8s_jobs import (
    job_finished,
    merge_phases,
    parse_time,
    pods_that_waited,
    pod_phases,
    pod_problem,
    results_from_logs,
    stuck_reason,
)

RUN = "pi-20261125-031500-strong-n2-r1"
# 2026-11-25T03:15:00Z as epoch seconds, computed independently of parse_time.
T0 = int(datetime(2026, 11, 25, 3, 15, 0, tzinfo=timezone.utc).timestamp())


def stamp(offset_s: int) -> str:
    return datetime.fromtimestamp(T0 + offset_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def result(index: int, pod: str | None, t_start_s: float, t_end_s: float, compute_s: float,
           run_id: str = RUN, count: int = 2) -> dict:
    record = {"schema": 1, "workload": "pi", "run_id": run_id, "index": index, "count": count,
              "node": f"pi{index + 1}", "t_start_ns": round((T0 + t_start_s) * 1e9),
              "t_end_ns": round((T0 + t_end_s) * 1e9), "compute_s": compute_s,
              "samples": 5, "inside": 4, "seed": 7, "kernel": "python"}
    if pod:
        record["pod"] = pod
    return record


def line(record: dict) -> str:
    return "RESULT " + json.dumps(record, separators=(",", ":"))


def pod(name: str, index: int, *, created: int = 0, scheduled: int | None = 1, started: int | None = 3,
        finished: int | None = 9, phase: str = "Succeeded", exit_code: int = 0) -> dict:
    conditions = []
    if scheduled is not None:
        conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp(scheduled)})
    state: dict = {}
    if finished is not None:
        state = {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                                "startedAt": stamp(started), "finishedAt": stamp(finished)}}
    elif started is not None:
        state = {"running": {"startedAt": stamp(started)}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "creationTimestamp": stamp(created),
            "labels": {"job-name": "pi-job", "batch.kubernetes.io/job-completion-index": str(index)},
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [{"name": "worker", "ready": False, "restartCount": 0, "state": state}],
        },
    }


# --- Job conditions ------------------------------------------------------------------------------


def test_job_complete_failed_and_running() -> None:
    assert job_finished({"active": 2}) is None
    assert job_finished({}) is None
    assert job_finished(None) is None
    complete = {"conditions": [
        {"type": "SuccessCriteriaMet", "status": "True"},
        {"type": "Complete", "status": "True", "lastTransitionTime": stamp(9)},
    ], "succeeded": 2}
    assert job_finished(complete) == "Complete"
    failed = {"conditions": [{"type": "FailureTarget", "status": "True"},
                             {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
    assert job_finished(failed) == "Failed"
    # Interim conditions alone are not the end: pods may still be terminating.
    assert job_finished({"conditions": [{"type": "FailureTarget", "status": "True"}]}) is None
    assert job_finished({"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}) is None
    # A condition whose status is not "True" does not count.
    assert job_finished({"conditions": [{"type": "Complete", "status": "False"}]}) is None
    # A whole Job object is accepted as well as its status.
    assert job_finished({"kind": "Job", "status": complete}) == "Complete"


def test_parse_time_reads_rfc3339_and_rejects_garbage() -> None:
    assert parse_time(stamp(0)) == T0
    assert parse_time("2026-11-25T03:15:00.250000Z") == pytest.approx(T0 + 0.25)
    assert parse_time("2026-11-25T04:15:00+01:00") == T0
    assert parse_time("") is None
    assert parse_time(None) is None
    assert parse_time("yesterday") is None


# --- phases --------------------------------------------------------------------------------------


def test_pod_phases_against_hand_computed_values() -> None:
    # created 0 s, scheduled 1 s, container started 3 s, worker 3.4 → 8.65 s, container finished 9 s.
    phases = pod_phases(pod("p0", 0, created=0, scheduled=1, started=3, finished=9),
                        result(0, "p0", 3.4, 8.65, 5.2))
    assert phases["scheduling_s"] == pytest.approx(1.0)
    assert phases["start_s"] == pytest.approx(2.0)
    assert phases["runtime_start_s"] == pytest.approx(0.4, abs=1e-6)
    assert phases["compute_s"] == pytest.approx(5.2)
    assert phases["exit_s"] == pytest.approx(0.35, abs=1e-6)


def test_one_second_resolution_can_make_a_phase_negative_and_it_is_kept() -> None:
    # The kubelet truncates finishedAt to the second: a worker ending at 8.7 s in a container
    # "finished" at 8 s gives exit_s = −0.7, reported as is (no clipping hides the resolution).
    phases = pod_phases(pod("p0", 0, finished=8), result(0, "p0", 3.4, 8.7, 5.3))
    assert phases["exit_s"] == pytest.approx(-0.7, abs=1e-6)


def test_missing_timestamps_give_none_not_an_error() -> None:
    pending = pod("p1", 1, scheduled=None, started=None, finished=None, phase="Pending")
    phases = pod_phases(pending, None)
    assert phases == {"scheduling_s": None, "start_s": None, "runtime_start_s": None, "compute_s": None, "exit_s": None}
    running = pod("p1", 1, started=3, finished=None, phase="Running")
    phases = pod_phases(running, result(1, "p1", 4.0, 6.0, 2.0))
    assert phases["runtime_start_s"] == pytest.approx(1.0) and phases["exit_s"] is None


def test_merge_phases_matches_by_pod_name_then_by_completion_index() -> None:
    pods = [pod("job-0-aaaaa", 0, scheduled=1, started=2, finished=7),
            pod("job-1-bbbbb", 1, scheduled=2, started=4, finished=9)]
    results = [result(1, None, 4.5, 8.25, 3.75), result(0, "job-0-aaaaa", 2.5, 6.5, 4.0)]
    merged = merge_phases(results, pods, "worker")
    by_index = {r["index"]: r for r in merged}
    assert by_index[0]["pod"] == "job-0-aaaaa"
    assert by_index[0]["scheduling_s"] == pytest.approx(1.0)
    assert by_index[0]["start_s"] == pytest.approx(1.0)
    assert by_index[0]["exit_s"] == pytest.approx(0.5, abs=1e-6)
    # No pod name in the record: the completion index finds job-1-bbbbb.
    assert by_index[1]["pod"] == "job-1-bbbbb"
    assert by_index[1]["scheduling_s"] == pytest.approx(2.0)
    assert by_index[1]["start_s"] == pytest.approx(2.0)
    assert by_index[1]["runtime_start_s"] == pytest.approx(0.5, abs=1e-6)
    assert by_index[1]["exit_s"] == pytest.approx(0.75, abs=1e-6)
    # The worker's compute_s is not replaced.
    assert by_index[1]["compute_s"] == 3.75
    # Inputs are not modified.
    assert "scheduling_s" not in results[0]


# --- logs ----------------------------------------------------------------------------------------


def test_results_from_several_pods_with_prefixed_other_run_and_malformed_lines() -> None:
    logs = {
        "job-0-aaaaa": line(result(0, "job-0-aaaaa", 1, 2, 1.0)) + "\n",
        # kubectl logs --prefix output, with a chatty line before the result.
        "job-1-bbbbb": "[pod/job-1-bbbbb/worker] starting\n"
                       "[pod/job-1-bbbbb/worker] " + line(result(1, None, 1, 3, 2.0)) + "\n",
        # A result of another run and a broken RESULT line: both are problems of this pod.
        "job-2-ccccc": line(result(0, "job-2-ccccc", 1, 2, 1.0, run_id="other-run")) + "\nRESULT {not json\n",
    }
    found = results_from_logs(logs, RUN)
    assert sorted(r["index"] for r in found.records) == [0, 1]
    assert {r["pod"] for r in found.records} == {"job-0-aaaaa", "job-1-bbbbb"}
    assert len(found.problems) == 2
    assert all(p.startswith("pod job-2-ccccc:") for p in found.problems)
    assert any("bad JSON" in p for p in found.problems)
    assert any("0 RESULT lines" in p for p in found.problems)


def test_a_pod_printing_two_results_is_a_problem() -> None:
    text = line(result(0, "p", 1, 2, 1.0)) + "\n" + line(result(0, "p", 1, 2, 1.0))
    found = results_from_logs({"p": text}, RUN)
    assert found.problems == [f"pod p: 2 RESULT lines for run {RUN}, expected 1"]


# --- the run record ------------------------------------------------------------------------------


def record_from(planned_run: dict, t_e2e_s: float | None, job_state: str, pods: list, logs: dict,
                container: str = "worker"):
    """What run_indexed_job builds from a Job's state, pods and logs: collect_job, then record_of_job."""
    from labkit.runs import PlannedRun

    collected = k8s_jobs.collect_job(planned_run["run_id"], job_state, pods, logs, container)
    return k8s_jobs.record_of_job(PlannedRun.from_dict(planned_run), t_e2e_s, collected)


def collect_k8s_run(*args, **kwargs) -> tuple[dict, list[str]]:
    """The record (as the module returns it) and its problems, built through runs.run_record."""
    record = record_from(*args, **kwargs)
    return record.to_dict(), record.problems


def planned(n: int = 2) -> dict:
    return {"run_id": RUN, "workload": "pi", "mode": "strong", "workers": n, "repetition": 1, "warmup": False,
            "order": 3, "work": 10, "seed": 7, "oversubscribed": False, "label": "[3/9] strong N=2 rep 1/3",
            "commands": [["python3", "x"]]}


def test_collect_a_complete_run() -> None:
    pods = [pod("job-0-aaaaa", 0), pod("job-1-bbbbb", 1)]
    logs = {"job-0-aaaaa": line(result(0, "job-0-aaaaa", 3.5, 8.5, 5.0)),
            "job-1-bbbbb": line(result(1, "job-1-bbbbb", 3.25, 8.0, 4.75))}
    record, problems = collect_k8s_run(planned(), 10.5, "Complete", pods, logs, "worker")
    assert problems == []
    assert record["valid"] is True and record["t_e2e_s"] == 10.5
    assert [r["index"] for r in record["results"]] == [0, 1]
    assert record["results"][1]["runtime_start_s"] == pytest.approx(0.25, abs=1e-6)
    assert record["results"][1]["exit_s"] == pytest.approx(1.0, abs=1e-6)
    for planning_only in ("commands", "label", "seed"):
        assert planning_only not in record
    assert record["order"] == 3 and record["mode"] == "strong"


def test_collect_a_failed_run_names_the_pod_its_exit_and_log_tail() -> None:
    pods = [pod("job-0-aaaaa", 0), pod("job-1-bbbbb", 1, phase="Failed", exit_code=2)]
    logs = {"job-0-aaaaa": line(result(0, "job-0-aaaaa", 3.5, 8.5, 5.0)),
            "job-1-bbbbb": "Traceback (most recent call last):\nValueError: kernel 'numpy' was asked for\n"}
    record, problems = collect_k8s_run(planned(), 10.5, "Failed", pods, logs, "worker")
    assert record["valid"] is False
    assert problems[0] == "Job Failed"
    assert problems[1].startswith("pod job-1-bbbbb (index 1) Failed, exit code 2, reason Error")
    assert "log tail: Traceback (most recent call last): | ValueError: kernel 'numpy' was asked for" in problems[1]
    assert "1 result for 2 workers" in problems
    # The failed pod's missing RESULT is not reported a second time.
    assert not any("RESULT lines" in p for p in problems)


def test_collect_a_run_that_never_started() -> None:
    unschedulable = pod("job-0-aaaaa", 0, scheduled=None, started=None, finished=None, phase="Pending")
    unschedulable["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                              "message": "0/3 nodes are available: 3 Insufficient cpu."}]
    record, problems = collect_k8s_run(planned(1), None, "Timeout", [unschedulable], {}, "worker")
    assert record["valid"] is False and record["t_e2e_s"] is None
    assert problems[0] == "Job Timeout"
    assert "not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu." in problems[1]
    _, problems = collect_k8s_run(planned(1), None, "Timeout", [], {}, "worker")
    assert "no pods were created" in problems


def test_pod_problem_shows_a_waiting_reason() -> None:
    stuck = pod("job-0-aaaaa", 0, started=None, finished=None, phase="Pending")
    stuck["status"]["containerStatuses"][0]["state"] = {
        "waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"python:3.13-slim\""}}
    assert pod_problem(stuck, None, container="worker") == (
        "pod job-0-aaaaa (index 0) Pending, waiting: ImagePullBackOff: Back-off pulling image \"python:3.13-slim\"")


def test_stuck_on_a_hopeless_wait_or_when_nothing_starts_in_time() -> None:
    running = pod("job-0-aaaaa", 0, started=3, finished=None, phase="Running")
    pending = pod("job-1-bbbbb", 1, scheduled=None, started=None, finished=None, phase="Pending")
    # A pod queued behind a running one (more workers than free cores) is not stuck, however long.
    assert stuck_reason([running, pending], 10_000, 300, "worker") is None
    # Nothing started yet, but within the start timeout: keep waiting.
    assert stuck_reason([pending], 299, 300, "worker") is None
    assert stuck_reason([pending], 301, 300, "worker") == "no worker container started within 300 s of submitting the Job"
    assert stuck_reason([], 301, 300, "worker") == "no pod was created within 300 s of submitting the Job"
    # A finished pod counts as started.
    assert stuck_reason([pod("job-0-aaaaa", 0)], 301, 300, "worker") is None
    pulling = pod("job-0-aaaaa", 0, started=None, finished=None, phase="Pending")
    pulling["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
    assert stuck_reason([pulling], 5, 300, "worker") is None
    pulling["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ImagePullBackOff"}}
    assert stuck_reason([running, pulling], 5, 300, "worker") == "pod job-0-aaaaa cannot start: ImagePullBackOff"


def test_a_pod_scheduled_after_another_finished_waited_and_marks_the_run_oversubscribed() -> None:
    first = pod("job-0-aaaaa", 0, created=0, scheduled=0, started=1, finished=6)
    # Scheduled in second 6, like the first pod's finish: not certainly after it.
    same_second = pod("job-1-bbbbb", 1, created=0, scheduled=6, started=7, finished=12)
    assert pods_that_waited([first, same_second], "worker") == []
    queued = pod("job-1-bbbbb", 1, created=0, scheduled=7, started=8, finished=13)
    assert pods_that_waited([first, queued], "worker") == ["job-1-bbbbb"]
    logs = {"job-0-aaaaa": line(result(0, "job-0-aaaaa", 1.5, 5.5, 4.0)),
            "job-1-bbbbb": line(result(1, "job-1-bbbbb", 8.5, 12.5, 4.0))}
    record, problems = collect_k8s_run(planned(), 13.5, "Complete", [first, queued], logs, "worker")
    assert problems == [] and record["valid"] is True
    assert record["oversubscribed"] is True and record["queued_pods"] == 1
    record, _ = collect_k8s_run(planned(), 13.5, "Complete", [first, same_second], logs, "worker")
    assert record["oversubscribed"] is False and record["queued_pods"] == 0


def test_the_record_comes_from_the_shared_builder() -> None:
    from labkit.runs import RunRecord

    pods = [pod("job-0-aaaaa", 0, scheduled=0, finished=6), pod("job-1-bbbbb", 1, scheduled=7, finished=13)]
    logs = {"job-0-aaaaa": line(result(0, "job-0-aaaaa", 1.5, 5.5, 4.0)),
            "job-1-bbbbb": line(result(1, "job-1-bbbbb", 8.5, 12.5, 4.0))}
    record = record_from(planned(), 13.5, "Complete", pods, logs, "worker")
    assert isinstance(record, RunRecord) and record.valid and record.problems == []
    assert record.extra == {"queued_pods": 1} and record.oversubscribed is True
    # Results of another run in a pod's log never reach the record.
    logs["job-1-bbbbb"] += "\n" + line(result(1, "job-1-bbbbb", 8.5, 12.5, 4.0, run_id="other"))
    record = record_from(planned(), 13.5, "Complete", pods, logs, "worker")
    assert [r["run_id"] for r in record.results] == [RUN, RUN]


# --- the backend against the stand-in API server (tests/fake_k8s_api.py), without Ansible ---------


def job_manifest(run_id: str, workers: int, command: list[str]) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": run_id},
            "spec": {"completionMode": "Indexed", "completions": workers, "parallelism": workers, "backoffLimit": 0,
                     "template": {"metadata": {"labels": {}}, "spec": {"restartPolicy": "Never", "containers": [
                         {"name": "worker", "image": "python:3.13-slim", "command": command,
                          "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                                  {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}}}}


# Prints one RESULT line for JOB_COMPLETION_INDEX (index 1 fails when the run is "bad").
WORKER = """
import json, os, sys, time
i = int(os.environ["JOB_COMPLETION_INDEX"]); run = sys.argv[1]
if run.endswith("bad") and i == 1:
    sys.exit("index 1 refuses")
t = time.time_ns()
print("RESULT " + json.dumps({"schema": 1, "workload": "pi", "run_id": run, "index": i, "count": 2,
      "node": os.environ["NODE_NAME"], "pod": os.environ["POD_NAME"], "t_start_ns": t, "t_end_ns": t + 1000,
      "compute_s": 1e-6, "samples": 5, "inside": 4, "seed": 1, "kernel": "python"}))
"""


def test_run_indexed_job_against_the_stand_in_api(tmp_path) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    from fake_k8s_api import FakeApiServer
    from labkit.backends.k3s import JobNotCreated, progress_line, run_indexed_job
    from labkit.runs import PlannedRun

    with FakeApiServer() as api:
        client = kubernetes.config.new_client_from_config(config_file=str(api.kubeconfig(tmp_path / "kc")))
        for run_id in ("pi-x-strong-n2-r1", "pi-x-strong-n2-bad"):
            run = PlannedRun.from_dict(dict(planned(), run_id=run_id))
            record, job = run_indexed_job(client, job_manifest(run_id, 2, ["python3", "-c", WORKER, run_id]), run,
                                          namespace="lab", poll_interval_s=0.05, start_timeout_s=30, timeout_s=60)
            assert job["name"] == run_id and job["deleted"] is True
            if run_id.endswith("r1"):
                assert job["state"] == "Complete" and record.valid and record.problems == []
                assert [r["index"] for r in record.results] == [0, 1] and record.t_e2e_s > 0
                assert {r["node"] for r in record.results} == {"fake-node-0", "fake-node-1"}
                assert "scheduling_s" in record.results[0] and record.extra["queued_pods"] == 0
                assert progress_line(record, "[3/9]").startswith("[3/9]: 2/2 results in ")
            else:
                assert job["state"] == "Failed" and not record.valid
                assert record.problems[0] == "Job Failed"
                # index 0 may still be running when index 1's failure fails the Job (a loaded machine)
                assert any("exit code 1" in p and "index 1 refuses" in p for p in record.problems[1:])
                assert "1 result for 2 workers" in record.problems
        # A Job of the same name is still there (kept): the second submit is refused, naming it.
        run = PlannedRun.from_dict(dict(planned(1), run_id="pi-x-keep"))
        manifest = job_manifest("pi-x-keep", 1, ["python3", "-c", WORKER, "pi-x-keep"])
        run_indexed_job(client, manifest, run, namespace="lab", poll_interval_s=0.05, keep=True)
        with pytest.raises(JobNotCreated, match="a Job pi-x-keep is already there: delete it"):
            run_indexed_job(client, manifest, run, namespace="lab", poll_interval_s=0.05)
        with pytest.raises(ValueError, match="has completions=1 but run 'pi-x-keep' plans 2 workers"):
            run_indexed_job(client, manifest, PlannedRun.from_dict(dict(planned(2), run_id="pi-x-keep")),
                            namespace="lab")


def test_k3s_messages_count_workers_and_pods_in_the_singular() -> None:
    from labkit.backends.k3s import check_job_manifest, progress_line
    from labkit.runs import PlannedRun, RunRecord

    one = PlannedRun(run_id="r", workload="pi", mode="strong", workers=1, repetition=1, warmup=False, order=1, work=10)
    manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "r"}, "spec": {"completions": 2}}
    with pytest.raises(ValueError, match=r"but run 'r' plans 1 worker$"):
        check_job_manifest(manifest, one, "lab")
    record = RunRecord(run_id="r", workload="pi", mode="strong", workers=2, repetition=1, warmup=False, order=1,
                       work=10, t_e2e_s=1.5, results=[{"node": "n0"}, {"node": "n1"}], oversubscribed=True,
                       extra={"queued_pods": 1})
    assert progress_line(record, "[1/2]") == ("[1/2]: 2/2 results in 1.500 s on n0, n1 "
                                              "(1 pod waited for a free core: oversubscribed)")
    record.extra["queued_pods"] = 2
    assert progress_line(record, "[1/2]").endswith("(2 pods waited for a free core: oversubscribed)")
