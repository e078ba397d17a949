"""What a user types, run for real from a directory that is not the repository: relative
file names, misspelled variables, --check, Ctrl-C, the entry script and the playbooks'
warnings (issue 8, items 12–15)."""
from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from labtest import BIN, REPO, ansible_env, run_playbook

pytestmark = pytest.mark.integration

SMALL_PI = {"pi_workers": "1", "pi_repetitions": 1, "pi_samples": 200_000, "pi_scaling": "strong"}


def make_video(path: Path, seconds: int = 2) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=duration={seconds}",
                    "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
                   check=True)


def repo_entries() -> set[str]:
    return {p.name for p in REPO.iterdir()}


def test_transcode_from_another_directory_reads_and_writes_there(tmp_path: Path, ffmpeg_available: None) -> None:
    make_video(tmp_path / "late audio.mp4")
    before = repo_entries()
    proc = run_playbook(str(REPO / "transcode.yml"), cwd=tmp_path, extra_vars={
        "video": "late audio.mp4", "transcode_output": "out.mp4", "transcode_reports_dir": "rep",
        "transcode_work_dir": "wk"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert (tmp_path / "out.mp4").stat().st_size > 0
    results = json.loads((tmp_path / "rep" / "latest-transcode" / "results.json").read_text())
    assert str(tmp_path / "late audio.mp4") in json.dumps(results["context"])
    assert (tmp_path / "wk").is_dir() and repo_entries() == before
    # "Tool versions" holds versions, not the interpreter's path.
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", results["context"]["tools"]["python"])


def test_the_lab_script_works_from_another_directory(tmp_path: Path) -> None:
    (tmp_path / "pods.log").write_text('RESULT {"run_id": "x"}\n')  # read, then found wanting
    proc = subprocess.run([str(REPO / "lab"), "play", "bench-pi.yml", "--check", "-e", "pi_import_logs=pods.log"],
                          cwd=tmp_path, env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    # The log named relative to the user's directory was found and read (it holds no usable result).
    assert f"pi_import_logs='{tmp_path / 'pods.log'}' holds no usable result" in out, out[-3000:]
    help_text = subprocess.run([str(REPO / "lab"), "help"], capture_output=True, text=True, check=True).stdout
    assert "./lab play PLAYBOOK" in help_text and "set -euo" not in help_text and "ROOT=" not in help_text


def test_an_activated_venv_runs_the_playbooks_from_any_directory(tmp_path: Path) -> None:
    subprocess.run([str(REPO / "lab"), "setup"], capture_output=True, check=True, timeout=600)
    env = {k: v for k, v in ansible_env().items() if k != "ANSIBLE_CONFIG"}
    script = (f'. "{REPO}/.venv/bin/activate" && ansible-playbook "{REPO}/bench-pi.yml" --check '
              f'-e pi_workers=1 -e pi_repetitions=1 && deactivate && echo "after=${{ANSIBLE_CONFIG-unset}}"')
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Check mode: nothing was run" in proc.stdout and "after=unset" in proc.stdout


def test_a_misspelled_variable_is_refused_before_anything_runs(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = run_playbook(str(REPO / "bench-pi.yml"), cwd=tmp_path, extra_vars={"pi_sampels": 1000, "pi_reports_dir": str(reports)})
    assert proc.returncode != 0
    assert "Unknown pi_* variable: pi_sampels (did you mean pi_samples?)" in proc.stdout
    assert "results in" not in proc.stdout and not reports.exists()
    # The same from an inventory, and for the transcode's namespace.
    inventory = tmp_path / "inv.yml"
    inventory.write_text(json.dumps({"all": {"children": {"controller": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "transcode_wokers": 2}}}}}}))
    proc = run_playbook(str(REPO / "transcode.yml"), "-i", str(inventory), cwd=tmp_path, extra_vars={"video": "x.mp4"})
    assert proc.returncode != 0
    assert "Unknown transcode_* variable: transcode_wokers (did you mean transcode_workers?)" in proc.stdout


def test_worker_counts_follow_one_rule(tmp_path: Path) -> None:
    for value, message in (("1,,2", "pi_workers='1,,2' has an empty item between commas"),
                           ("0", "pi_workers='0' must be at least 1 (leave it empty, -e pi_workers=, for")):
        proc = run_playbook(str(REPO / "bench-pi.yml"), "--check", cwd=tmp_path, extra_vars={"pi_workers": value})
        assert proc.returncode != 0 and message in proc.stdout, proc.stdout[-2000:]


def test_check_mode_plans_says_what_would_run_and_writes_nothing(tmp_path: Path, ffmpeg_available: None) -> None:
    reports = tmp_path / "reports"
    proc = run_playbook(str(REPO / "bench-pi.yml"), "--check", cwd=tmp_path,
                        extra_vars=SMALL_PI | {"pi_warmup": False, "pi_reports_dir": str(reports)})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "plan: 1 run (strong scaling, N in [1], 1 repetition" in proc.stdout
    assert "Check mode: nothing was run and nothing was written" in proc.stdout and "[1/1] strong N=1 rep 1/1" in proc.stdout
    assert not reports.exists()

    make_video(tmp_path / "clip.mp4")
    proc = run_playbook(str(REPO / "transcode.yml"), "--check", cwd=tmp_path, extra_vars={
        "video": "clip.mp4", "transcode_output": "out.mp4", "transcode_reports_dir": "rep", "transcode_work_dir": "wk"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Check mode: nothing was transcoded and nothing was written" in proc.stdout
    assert f"write {tmp_path / 'out.mp4'}" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_ctrl_c_during_bench_pi_keeps_the_measured_runs_in_a_partial_report(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    extra = SMALL_PI | {"pi_repetitions": 40, "pi_reports_dir": str(reports)}
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), str(REPO / "bench-pi.yml"), "-e", json.dumps(extra)],
                            cwd=tmp_path, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    done = 0
    for line in proc.stdout:
        done += "results in" in line
        if done == 3:
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and done == 3, out[-3000:] + err[-2000:]
    assert "Interrupted: kept" in err and "in a report marked partial" in err, err[-2000:]
    results = json.loads((reports / "latest-pi" / "results.json").read_text())
    assert results["partial"]["interrupted"] is True and results["partial"]["runs_planned"] == 41
    assert 3 <= len(results["runs"]) == results["partial"]["runs_kept"] < 41
    assert results["context"]["partial"].startswith("yes: interrupted (Ctrl-C)")
    assert results["context"]["nodes"], "the reading taken before the runs is kept"
    # Nothing of the interrupted experiment is left running (its workers carry its run ids).
    experiment = results["runs"][0]["run_id"].split("-strong-")[0]
    leftover = subprocess.run(["pgrep", "-f", f"--run-id {experiment}-"], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == ""


def test_the_embedded_default_runs_site_reset_and_nodes_without_warnings(tmp_path: Path) -> None:
    for args in (("reset.yml",), ("site.yml", "--check")):
        proc = run_playbook(str(REPO / args[0]), *args[1:], cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert "Could not match supplied host pattern" not in proc.stderr + proc.stdout, args
    proc = run_playbook(str(REPO / "nodes.yml"), cwd=tmp_path, extra_vars={"node": "pi-node2", "node_action": "reboot"})
    assert proc.returncode != 0 and "reserved name" not in proc.stderr
    assert "Got node=pi-node2 and node_action=reboot" in proc.stdout
