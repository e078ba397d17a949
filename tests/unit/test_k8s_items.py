"""Work items as one Indexed Job (labkit.k8s_items): the manifests are valid Kubernetes of the
pinned version, their pods pass `restricted`, and run_item.sh hands a pod exactly its item's
arguments, whatever they hold."""
from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest

from k8s_manifests import pinned_kubernetes_version, restricted_violations
from labkit import k8s_items
from labkit.backends import WorkItem

POD = k8s_items.PodSettings(image="lscr.io/linuxserver/ffmpeg:latest", claim="lab-node-storage")


def items(count: int = 3) -> list[WorkItem]:
    return [WorkItem(name=f"seg_{i:04d}.mp4", argv=("sh", "/opt/lab/transcode_segment.sh", "--index", str(i)),
                     index=i, final_exit_codes={2: "bad usage", 5: "wrong frames", 7: "damaged"})
            for i in range(count)]


def test_the_job_and_configmap_are_valid_kubernetes_of_the_pinned_version() -> None:
    job = k8s_items.job("run-1-segments", "lab", items(), 2, POD, retries=2, deadline_s=600, component="transcode")
    configmap = k8s_items.configmap("run-1-segments", "lab", items(), {"transcode_segment.sh": "#!/bin/sh\n"},
                                    "transcode")
    for obj in (job, configmap):
        kubernetes_validate.validate(obj, pinned_kubernetes_version(), strict=True)
    broken = copy.deepcopy(job)
    broken["spec"]["backoffLimitPerIndx"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, pinned_kubernetes_version(), strict=True)


def test_the_pods_pass_restricted_and_see_files_only_through_the_claim() -> None:
    spec = k8s_items.job("j", "lab", items(), 2, POD, retries=0, deadline_s=None, component="t")["spec"]
    pod = spec["template"]["spec"]
    assert restricted_violations(pod) == []
    assert not any("hostPath" in volume for volume in pod["volumes"])
    assert {"name": "storage", "persistentVolumeClaim": {"claimName": "lab-node-storage"}} in pod["volumes"]
    assert "activeDeadlineSeconds" not in spec


def test_kubernetes_balances_the_load_and_retries_per_index() -> None:
    spec = k8s_items.job("j", "lab", items(5), 2, POD, retries=2, deadline_s=60, component="t")["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 5, 2)
    assert spec["backoffLimitPerIndex"] == 2 and spec["activeDeadlineSeconds"] == 60
    rules = spec["podFailurePolicy"]["rules"]
    # An exit status retrying cannot change ends its index at once; a disrupted pod (lost or
    # drained node) costs no retry.
    assert rules[0] == {"action": "FailIndex", "onExitCodes": {"containerName": "worker", "operator": "In",
                                                              "values": [2, 5, 7]}}
    assert rules[1]["action"] == "Ignore" and rules[1]["onPodConditions"][0]["type"] == "DisruptionTarget"
    tolerations = spec["template"]["spec"]["tolerations"]
    assert {t["key"] for t in tolerations} == {"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"}
    assert all(t["tolerationSeconds"] == POD.lost_node_s for t in tolerations)
    # Never more pods at once than there are items.
    assert k8s_items.job("j", "lab", items(1), 4, POD, retries=0, deadline_s=None, component="t")["spec"]["parallelism"] == 1


def test_only_exit_statuses_every_item_calls_final_are_final() -> None:
    mixed = [WorkItem(name="a", argv=("x",), final_exit_codes={5: "x", 7: "y"}),
             WorkItem(name="b", argv=("x",), index=1, final_exit_codes={7: "y"})]
    assert k8s_items.final_exit_codes(mixed) == [7]
    rules = k8s_items.job("j", "lab", [WorkItem(name="a", argv=("x",))], 1, POD, retries=0, deadline_s=None,
                          component="t")["spec"]["podFailurePolicy"]["rules"]
    assert [rule["action"] for rule in rules] == ["Ignore"]


def test_bad_batches_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        k8s_items.job("j", "lab", [], 1, POD, retries=0, deadline_s=None, component="t")
    with pytest.raises(ValueError, match="unique"):
        k8s_items.job("j", "lab", [WorkItem(name="a", argv=("x",))] * 2, 1, POD, retries=0, deadline_s=None,
                      component="t")
    with pytest.raises(ValueError, match="line break"):
        k8s_items.item_lines(["ok", "two\nlines"])
    assert k8s_items.job_name("Transcode-20261126-175728-Strong-N4-R1-segments") == \
        "transcode-20261126-175728-strong-n4-r1-segments"
    assert len(k8s_items.job_name("x" * 80)) == 52


def test_run_item_hands_the_pod_exactly_its_arguments(tmp_path: Path) -> None:
    hostile = ["a b", "'$(touch pwned)'", "$HOME", "*", "-n", "é", ""]
    batch = [WorkItem(name="first", argv=("printf", "[%s]\\n", "other")),
             WorkItem(name="second", argv=("printf", "[%s]\\n", *hostile), index=1)]
    data = k8s_items.configmap("j", "lab", batch, {}, "t")["data"]
    for key, text in data.items():
        (tmp_path / key).write_text(text)
    done = subprocess.run(["sh", str(tmp_path / k8s_items.RUN_ITEM)], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "JOB_COMPLETION_INDEX": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"[{arg}]" for arg in hostile]
    assert not (tmp_path / "pwned").exists()
    missing = subprocess.run(["sh", str(tmp_path / k8s_items.RUN_ITEM)], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "JOB_COMPLETION_INDEX": "9"})
    assert missing.returncode == 2 and "no arguments for index 9" in missing.stderr


def test_index_sets_of_the_job_status_are_read() -> None:
    assert k8s_items.parse_indexes("1,3-5") == {1, 3, 4, 5}
    assert k8s_items.parse_indexes("") == set() and k8s_items.parse_indexes(None) == set()


PI_RUN = {"run_id": "pi-20261127-0400-strong-n3-r1", "workers": 3, "work": 30_000_000, "seed": 7, "mode": "strong"}


def test_the_pi_job_is_an_indexed_job_of_its_run_with_one_attempt() -> None:
    pod = k8s_items.PodSettings(image="python:3.13-slim", run_as_user=65534)
    job = k8s_items.pi_job(PI_RUN, "lab", pod, configmap="pi-worker", kernel="numpy", deadline_s=600)
    kubernetes_validate.validate(job, pinned_kubernetes_version(), strict=True)
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (3, 3, 0, 600)
    assert "backoffLimitPerIndex" not in spec and "podFailurePolicy" not in spec
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["python3", "/opt/lab/pi_worker.py", "--count", "3", "--samples", "30000000",
                                    "--seed", "7", "--run-id", PI_RUN["run_id"], "--kernel", "numpy"]
    assert spec["template"]["metadata"]["labels"]["lab/run_id"] == PI_RUN["run_id"]
    (spread,) = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == {"lab/run_id": PI_RUN["run_id"]}
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert restricted_violations(spec["template"]["spec"]) == []
    # A probe is sized by time: the planned argv's --autorange, not a sample count.
    probe = dict(PI_RUN, mode="probe", workers=1, items=[{"argv": ["python3", "w.py", "--autorange", "0.25"]}])
    command = k8s_items.pi_job(probe, "lab", pod, configmap="pi-worker", kernel="python",
                               deadline_s=None, spread="")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[3:6] == ["1", "--autorange", "0.25"] and "--samples" not in command


def test_both_workloads_pods_come_from_the_one_template() -> None:
    """The π Job and the segments' Job differ in what they run and mount, nowhere else."""
    pi = k8s_items.pi_job(PI_RUN, "lab", POD, configmap="pi-worker", kernel="python", deadline_s=None,
                          spread="")["spec"]["template"]["spec"]
    segments = k8s_items.job("j", "lab", items(), 2, POD, retries=0, deadline_s=None,
                             component="t")["spec"]["template"]["spec"]

    def shape(spec: dict) -> dict:
        spec = copy.deepcopy(spec)
        (container,) = spec.pop("containers")
        for key in ("command", "env", "volumeMounts"):
            container.pop(key)
        spec.pop("volumes")
        return dict(spec, container=container)

    assert shape(pi) == shape(segments)
    assert shape(pi)["container"]["securityContext"]["readOnlyRootFilesystem"] is True


def test_pod_settings_from_ansible_values() -> None:
    pod = k8s_items.PodSettings.from_mapping({"image": "img", "run_as_user": "65534", "run_as_group": "",
                                              "lost_node_s": 30.0, "node_selector": {"role": "worker"},
                                              "cpu_limit": "", "claim": None})
    assert (pod.run_as_user, pod.run_as_group, pod.lost_node_s, pod.cpu_limit, pod.claim) == (65534, None, 30, "", "")
    with pytest.raises(ValueError, match="run_as_user must be a whole number, got 'nobody'"):
        k8s_items.PodSettings.from_mapping({"image": "img", "run_as_user": "nobody"})
    with pytest.raises(ValueError, match="unknown pod setting.*cpu_requests"):
        k8s_items.PodSettings.from_mapping({"image": "img", "cpu_requests": "1"})
    with pytest.raises(ValueError, match="claim"):  # files need the node storage
        k8s_items.job("j", "lab", items(), 1, k8s_items.PodSettings(image="img"), retries=0, deadline_s=None,
                      component="t")
