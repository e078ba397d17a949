"""Both experiments across several machines for real: the ssh backend on sandbox hosts.

Each sandbox is started through `python -m labsandbox` (what `./lab sandbox` runs)
with its own work directory, inventory and id, capped at 0.5 CPU per host as a
simulated Pi would be, and removed afterwards. Nothing here is mocked: the
playbooks connect over SSH, ship files with rsync and run the real workers.
"""
from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsandbox import unavailable_reason
from labtest import REPO, ansible_env, run_playbook
from mediatest import lavfi_video, min_psnr, probe, sha256

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

HOSTILE = "a b'$(x);é.mp4"


class Cluster:
    """A sandbox of N hosts started by the CLI."""

    def __init__(self, root: Path, hosts: int, cpus: str = "0.5") -> None:
        self.workdir, self.inventory = root / "sandbox", root / "sandbox.yml"
        self.sandbox_id = f"c{os.getpid() % 1000}{random.randrange(1000)}"[:8]
        done = self.cli("up", str(hosts), "--cpus", cpus, "--mem", "512M", "--inventory", str(self.inventory),
                        "--id", self.sandbox_id)
        if done.returncode != 0:
            self.close()
            pytest.fail(f"sandbox up failed: {done.stderr or done.stdout}")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(ansible_env(), PYTHONPATH=str(REPO / "tools"))
        cmd = [sys.executable, "-m", "labsandbox", *args, "--workdir", str(self.workdir)]
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)

    def stop(self, host: str) -> None:
        done = self.cli("stop", host)
        assert done.returncode == 0, done.stderr

    def play(self, playbook: str, tmp: Path, **extra: object) -> subprocess.CompletedProcess[str]:
        dirs = {"pi_reports_dir": str(tmp / "reports"), "transcode_reports_dir": str(tmp / "reports"),
                "transcode_work_dir": str(tmp / "work")}
        return run_playbook(playbook, "-i", str(self.inventory), extra_vars={**dirs, **extra}, timeout=900)

    def close(self) -> None:
        self.cli("down")


def start_cluster(root: Path, hosts: int) -> Cluster:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    return Cluster(root, hosts)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    box = start_cluster(tmp_path_factory.mktemp("cluster"), 3)
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="module")
def source(ffmpeg_available: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An open-GOP source (B-frames displayed before their keyframe), under a hostile name."""
    d = tmp_path_factory.mktemp("src")
    made = lavfi_video(d / "made.mp4", 12)
    hostile = d / HOSTILE
    shutil.copyfile(made, hostile)
    return hostile


def results_of(tmp: Path, workload: str) -> dict:
    return json.loads((tmp / "reports" / f"latest-{workload}" / "results.json").read_text())


def test_pi_runs_on_three_hosts_and_counts_every_sample_once(cluster: Cluster, tmp_path: Path) -> None:
    proc = cluster.play("bench-pi.yml", tmp_path, pi_scaling="strong", pi_samples=3_000_000, pi_repetitions=1,
                        pi_workers="1,3", pi_warmup=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = results_of(tmp_path, "pi")
    assert results["context"]["backend"] == "ssh"
    for run in results["runs"]:
        assert sum(r["samples"] for r in run["results"]) == 3_000_000  # strong: the work is split, not repeated
        hosts = {r["host"] for r in run["results"]}
        assert len(hosts) == run["workers"] and hosts <= {"sbx-1", "sbx-2", "sbx-3"}
        assert {r["node"] for r in run["results"]} == hosts  # each host says its own name
    assert "on 3 hosts (sbx-1, sbx-2, sbx-3)" in proc.stdout


def test_without_pi_samples_the_probe_runs_on_the_first_host(cluster: Cluster, tmp_path: Path) -> None:
    proc = cluster.play("bench-pi.yml", tmp_path, pi_scaling="strong", pi_target_seconds=0.3, pi_repetitions=1,
                        pi_workers="3", pi_warmup=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    calibration = results_of(tmp_path, "pi")["context"]["parameters"]["calibration"]
    assert calibration["how"] == "calibrated" and calibration["probe_node"] == "sbx-1"
    assert "a probe did" in proc.stdout and "on one core of sbx-1" in proc.stdout


def test_the_transcode_spreads_over_the_hosts_frame_exact(cluster: Cluster, source: Path, tmp_path: Path) -> None:
    before = sha256(source)
    proc = cluster.play("transcode.yml", tmp_path, video=str(source), transcode_segment_seconds=1,
                        transcode_preset="ultrafast", transcode_output=str(tmp_path / "out.mp4"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Ship the chunks to the host" in proc.stdout and "segments: " in proc.stdout
    results = results_of(tmp_path, "transcode")
    strong = next(r for r in results["runs"] if r["mode"] == "strong")
    made_on = {r["host"] for r in strong["results"]}
    assert len(made_on) >= 2 and made_on <= {"sbx-1", "sbx-2", "sbx-3"}
    out = tmp_path / "out.mp4"
    assert probe(out)["frames"] == 360 and results["verification"]["passed"]
    assert min_psnr(source, out) > 30
    assert sha256(source) == before


def test_an_unusable_host_is_named_before_any_work(tmp_path: Path, source: Path) -> None:
    box = start_cluster(tmp_path, 2)
    try:
        box.stop("sbx-2")
        proc = box.play("transcode.yml", tmp_path, video=str(source), transcode_segment_seconds=2,
                        transcode_preset="ultrafast")
        assert proc.returncode != 0
        assert "1 host cannot run this workload: sbx-2" in proc.stdout and "lab_skip_unusable_hosts" in proc.stdout
        assert not (tmp_path / "work").exists() and not (tmp_path / "reports").exists()
        # allowed to go on without it: the run is made by the one host left
        proc = box.play("transcode.yml", tmp_path, video=str(source), transcode_segment_seconds=2,
                        transcode_preset="ultrafast", lab_skip_unusable_hosts=True)
        assert proc.returncode == 0, proc.stdout[-3000:]
        strong = next(r for r in results_of(tmp_path, "transcode")["runs"] if r["mode"] == "strong")
        assert {r["host"] for r in strong["results"]} == {"sbx-1"}
    finally:
        box.close()


def test_a_host_lost_mid_run_costs_time_not_the_output(tmp_path: Path, source: Path) -> None:
    box = start_cluster(tmp_path, 3)
    try:
        env = ansible_env()
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "transcode.yml", "-i", str(box.inventory),
               "-e", json.dumps({"video": str(source), "transcode_segment_seconds": 1, "transcode_preset": "medium",
                                 "transcode_reports_dir": str(tmp_path / "reports"),
                                 "transcode_work_dir": str(tmp_path / "work"),
                                 "transcode_output": str(tmp_path / "out.mp4")})]
        play = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 300
        progress = tmp_path / "work"
        while time.monotonic() < deadline:  # stop sbx-3 once the segments are under way
            found = list(progress.glob("*/progress.json")) if progress.exists() else []
            if found and json.loads(found[0].read_text()).get("done", 0) >= 2:
                break
            time.sleep(0.2)
        box.stop("sbx-3")
        out, _ = play.communicate(timeout=600)
        assert play.returncode == 0, out[-3000:]
        assert "host sbx-3 was lost" in out
        results = results_of(tmp_path, "transcode")
        assert results["verification"]["passed"] and probe(tmp_path / "out.mp4")["frames"] == 360
    finally:
        box.close()


def test_killing_the_controller_then_rerunning_resumes_across_hosts(cluster: Cluster, source: Path,
                                                                    tmp_path: Path) -> None:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "transcode.yml", "-i", str(cluster.inventory),
           "-e", json.dumps({"video": str(source), "transcode_segment_seconds": 1, "transcode_preset": "medium",
                             "transcode_reports_dir": str(tmp_path / "reports"),
                             "transcode_work_dir": str(tmp_path / "work")})]
    log = tmp_path / "first-run.log"
    with open(log, "w") as out:
        play = subprocess.Popen(cmd, cwd=REPO, env=ansible_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and play.poll() is None:
        found = list((tmp_path / "work").glob("*/progress.json")) if (tmp_path / "work").exists() else []
        if found and json.loads(found[0].read_text()).get("done", 0) >= 3:
            break
        time.sleep(0.2)
    assert play.poll() is None, log.read_text()[-3000:]  # still running: killed mid-segments
    os.killpg(play.pid, signal.SIGINT)  # Ctrl-C in the terminal
    play.wait(timeout=60)
    work = next((tmp_path / "work").glob("*/manifest.json")).parent
    # The segments step (an async job) stops within its watchdog's half second; a segment
    # fetched meanwhile is still recorded. Its lock says when it has gone.
    with open(work / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
    manifest = json.loads((work / "manifest.json").read_text())
    kept = len(manifest["segments"])
    assert kept >= 3
    proc = cluster.play("transcode.yml", tmp_path, video=str(source), transcode_segment_seconds=1,
                        transcode_preset="medium")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"({kept} resumed)" in proc.stdout
    assert results_of(tmp_path, "transcode")["verification"]["passed"]
