"""transcode.yml on the real local Kubernetes (./lab kube): the segments as the pods of an
Indexed Job on two nodes, each node with its own storage folder behind one claim.

What the users of seed 000 never got: every pod reads a chunk that is really on its node,
writes its segment there, the controller fetches it from that node, and the joined output
is frame-exact — for an open-GOP source with a hostile name, after a pod killed mid-segment,
and not at all (said plainly, nothing left behind) when the image is missing.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kubetest import RealKube, pods, wait_until
from labkit import k8s_items
from labkit.backends import WorkItem
from labtest import BIN, REPO, ansible_env, processes_left, run_playbook
from mediatest import lavfi_video, min_psnr, probe

pytestmark = [pytest.mark.integration, pytest.mark.kube]

HOSTILE = "a b'$(x);é.mp4"
PART_OF = "app.kubernetes.io/part-of=pi-cluster-lab"


def transcode(real: RealKube, video: Path, tmp: Path, **extra: Any) -> subprocess.CompletedProcess[str]:
    return run_playbook("transcode.yml", "-i", str(real.inventory), extra_vars={
        "video": str(video), "transcode_segment_seconds": 1, "transcode_reports_dir": str(tmp / "reports"),
        "transcode_work_dir": str(tmp / "work"), "transcode_k3s_poll_interval": 0.3, **extra}, timeout=900)


def leftovers(real: RealKube) -> list[str]:
    jobs = real.api(f"/apis/batch/v1/namespaces/lab/jobs?labelSelector={PART_OF}")["items"]
    maps = real.api(f"/api/v1/namespaces/lab/configmaps?labelSelector={PART_OF}")["items"]
    return [f"{o['kind'] if 'kind' in o else 'object'} {o['metadata']['name']}" for o in jobs + maps
            if "transcode" in o["metadata"]["name"]]


def segment_results(folder: Path) -> list[dict[str, Any]]:
    results = json.loads((folder / "results.json").read_text())
    return [run for run in results["runs"] if run["mode"] == "strong"][0]["results"]


@pytest.fixture(scope="module")
def first_run(configured_kube: RealKube, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("kube-transcode")
    odd = tmp / "odd dir"
    odd.mkdir()
    source = lavfi_video(odd / HOSTILE, 8, open_gop=True)
    proc = transcode(configured_kube, source, tmp)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return {"proc": proc, "tmp": tmp, "source": source, "folder": (tmp / "reports" / "latest-transcode").resolve()}


def test_an_open_gop_source_with_a_hostile_name_comes_out_frame_exact(first_run: dict[str, Any]) -> None:
    results = json.loads((first_run["folder"] / "results.json").read_text())
    output = Path(results["context"]["output"])
    assert output.is_file() and HOSTILE.removesuffix(".mp4") in output.name
    assert probe(output)["frames"] == probe(first_run["source"])["frames"] == 240
    # Frame n of the output is frame n of the source: no frame lost, doubled or moved at a seam.
    assert min_psnr(first_run["source"], output) > 30
    assert results["verification"]["passed"] is True


def test_the_pods_ran_on_both_nodes_and_each_segment_came_from_its_own(first_run: dict[str, Any],
                                                                       configured_kube: RealKube) -> None:
    results = segment_results(first_run["folder"])
    assert len(results) >= 4
    nodes = {r["host"] for r in results}
    assert nodes == set(configured_kube.nodes), results
    for r in results:
        # Every segment names its pod and the phases Kubernetes' timestamps give.
        assert r["pod"].startswith("transcode-") and r["attempt"] == 1
        assert all(isinstance(r[key], (int, float)) for key in ("scheduling_s", "start_s", "exit_s"))
    # Each segment fetched from the node that made it, and the run's folder removed from every
    # node once the output was verified; nothing left on the cluster.
    kube = configured_kube.kube
    work = Path(json.loads((first_run["folder"] / "results.json").read_text())["context"]["work"]).name
    for node in configured_kube.nodes:
        own = kube.node_storage if node == "lab-kube-1" else kube.own_storage(node)
        assert own.is_dir() and not (own / "transcode" / work).exists(), node
    assert leftovers(configured_kube) == []
    html = (first_run["folder"] / "index.html").read_text()
    assert "lab-kube-2" in html and "localhost/lab-worker" in html


def test_a_rerun_resumes_without_a_pod(first_run: dict[str, Any], configured_kube: RealKube) -> None:
    proc = transcode(configured_kube, first_run["source"], first_run["tmp"])
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert all(r["resumed"] for r in segment_results((first_run["tmp"] / "reports" / "latest-transcode").resolve()))
    assert "pods" not in proc.stdout or "0 resumed" not in proc.stdout


def test_a_pod_killed_mid_segment_is_retried_and_the_output_is_still_exact(configured_kube: RealKube,
                                                                          tmp_path: Path) -> None:
    source = lavfi_video(tmp_path / "long.mp4", 6, open_gop=True)
    killed: list[str] = []
    done = threading.Event()

    def kill_one_encoder() -> None:
        # The pods' processes are this machine's: find an ffmpeg reading a chunk from the node
        # storage (inside a pod) and kill it, as the OOM killer or a crash would.
        while not done.is_set() and not killed:
            found = subprocess.run(["pgrep", "-f", "ffmpeg .*-i /storage/transcode/.*/chunks/"],
                                   capture_output=True, text=True).stdout.split()
            for pid in found:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(pid)
                    break
                except ProcessLookupError:
                    continue
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_encoder, daemon=True)
    killer.start()
    try:
        proc = transcode(configured_kube, source, tmp_path, transcode_preset="slow",
                         transcode_segment_seconds=2)
    finally:
        done.set()
        killer.join()
    assert killed, "no encoder was seen running in a pod"
    assert proc.returncode == 0, proc.stdout[-6000:]
    results = segment_results((tmp_path / "reports" / "latest-transcode").resolve())
    assert max(r["attempt"] for r in results) == 2, results
    output = Path(json.loads((tmp_path / "reports" / "latest-transcode" / "results.json").read_text())
                  ["context"]["output"])
    assert probe(output)["frames"] == 180 and min_psnr(source, output) > 30
    assert leftovers(configured_kube) == []


def test_a_killed_playbook_leaves_no_job_and_a_rerun_finishes(configured_kube: RealKube, tmp_path: Path) -> None:
    """The playbook killed while the pods encode (Ctrl-C, a closed terminal): the segment step's
    watchdog sees its owner gone and deletes the Job, which no process of ours would follow."""
    source = lavfi_video(tmp_path / "clip.mp4", 6, open_gop=True)
    proc = subprocess.Popen(
        [str(BIN / "ansible-playbook"), "transcode.yml", "-i", str(configured_kube.inventory),
         "-e", json.dumps({"video": str(source), "transcode_segment_seconds": 1, "transcode_preset": "slow",
                           "transcode_reports_dir": str(tmp_path / "reports"), "transcode_work_dir": str(tmp_path / "work")})],
        cwd=REPO, env=ansible_env(), start_new_session=True,
        stdout=(tmp_path / "killed.log").open("w"), stderr=subprocess.STDOUT)

    def running() -> bool:
        if proc.poll() is not None:  # ended before any pod ran: say why instead of waiting
            raise AssertionError(f"the playbook ended ({proc.returncode}) before a segment pod ran:\n"
                                 + (tmp_path / "killed.log").read_text()[-4000:])
        return any(p["metadata"]["name"].startswith("transcode-") and p["status"].get("phase") == "Running"
                   for p in pods(configured_kube, "lab", PART_OF))

    try:
        try:
            wait_until("the segment pods run", running, 180)
        except AssertionError as err:
            raise AssertionError(f"{err}; the playbook said:\n" + (tmp_path / "killed.log").read_text()[-4000:]) from None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    wait_until("the Job of the killed run is gone", lambda: leftovers(configured_kube) == [], 60)
    assert processes_left(str(tmp_path)) == []  # its workers and its detached job ended with it
    again = transcode(configured_kube, source, tmp_path, transcode_segment_seconds=1, transcode_preset="slow")
    assert again.returncode == 0, again.stdout[-5000:]
    output = Path(json.loads((tmp_path / "reports" / "latest-transcode" / "results.json").read_text())
                  ["context"]["output"])
    assert probe(output)["frames"] == 180


def test_a_missing_image_is_named_and_nothing_is_left(configured_kube: RealKube, tmp_path: Path) -> None:
    source = lavfi_video(tmp_path / "clip.mp4", 3, open_gop=False)
    proc = transcode(configured_kube, source, tmp_path, transcode_k3s_image="localhost/not-there:1",
                     transcode_k3s_image_pull_policy="Never")
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "ErrImageNeverPull" in text and "localhost/not-there:1" in text, text[-4000:]
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").glob("transcode-*/index.html"))
    assert leftovers(configured_kube) == []
    # The Job was deleted with its pods (the garbage collector removes them in the background).
    wait_until("the waiting pods are gone", lambda: not [
        p for p in pods(configured_kube, "lab", PART_OF) if p["metadata"]["name"].startswith("transcode-")], 60)


def test_the_pod_template_passes_the_real_restricted_admission(configured_kube: RealKube) -> None:
    pod_settings = k8s_items.PodSettings(image=configured_kube.images["worker"], claim="lab-node-storage",
                                         pull_policy="Never")
    job = k8s_items.job("admission-check", "lab", [WorkItem(name="a", argv=("true",))], 1, pod_settings,
                        retries=0, deadline_s=None, component="test")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "admission-check", "namespace": "lab"},
           "spec": job["spec"]["template"]["spec"]}
    # Server-side dry run: the real PodSecurity admission of the restricted namespace judges it.
    configured_kube.api("/api/v1/namespaces/lab/pods?dryRun=All&fieldValidation=Strict", method="POST", body=pod)
    bad = json.loads(json.dumps(pod))
    bad["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    with pytest.raises(OSError, match="hostPath|restricted|forbidden|Forbidden"):
        configured_kube.api("/api/v1/namespaces/lab/pods?dryRun=All", method="POST", body=bad)


def test_a_node_lost_mid_run_costs_time_not_the_output(configured_kube: RealKube, tmp_path: Path) -> None:
    """lab-kube-2's kubelet freezes (as a node that hangs or loses its network) while its pods
    encode: Kubernetes marks the node NotReady and evicts its pods, the backend lets go of them
    (they can never confirm their end) and their segments run on lab-kube-1, without costing a
    retry. The node's name and what it was running are said."""
    if "lab-kube-2" not in configured_kube.nodes:
        pytest.skip("needs the second node (LAB_KUBE_NODES=2)")
    source = lavfi_video(tmp_path / "long.mp4", 16, open_gop=True)
    kubelet = configured_kube.kube.pid_of("kubelet-lab-kube-2")
    frozen = threading.Event()
    done = threading.Event()

    def freeze_when_node_2_works() -> None:
        while not done.is_set():
            running = [p for p in pods(configured_kube, "lab", PART_OF)
                       if p["spec"].get("nodeName") == "lab-kube-2" and p["status"].get("phase") == "Running"]
            if running:
                os.kill(kubelet, signal.SIGSTOP)
                frozen.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=freeze_when_node_2_works, daemon=True)
    watcher.start()
    try:
        proc = transcode(configured_kube, source, tmp_path, transcode_preset="slow", transcode_segment_seconds=2,
                         transcode_retries=0)
    finally:
        done.set()
        watcher.join()
        os.kill(kubelet, signal.SIGCONT)
        wait_until("lab-kube-2 is Ready again", lambda: "lab-kube-2" in configured_kube.kube.ready_nodes(), 120)
    assert frozen.is_set(), "no pod was seen running on lab-kube-2"
    # retries=0: only a lost node's pods may run twice, and they cost no retry.
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert "host lab-kube-2 was lost" in proc.stdout and "redone on another host" in proc.stdout
    output = Path(json.loads((tmp_path / "reports" / "latest-transcode" / "results.json").read_text())
                  ["context"]["output"])
    assert probe(output)["frames"] == 480 and min_psnr(source, output) > 30
    assert leftovers(configured_kube) == []
