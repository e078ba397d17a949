"""Tying a run's processes to the run: owner lookup, lock, killing child groups."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import supervise


def fake_proc(root: Path, pid: int, ppid: int, argv: list[str]) -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "stat").write_text(f"{pid} (name with ) paren) S {ppid} 1 1 0\n")
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_run_owner_is_the_outermost_ansible_playbook(tmp_path: Path) -> None:
    fake_proc(tmp_path, 100, 1, ["bash"])
    fake_proc(tmp_path, 200, 100, ["/venv/bin/python3", "/venv/bin/ansible-playbook", "transcode.yml"])
    fake_proc(tmp_path, 300, 200, ["/venv/bin/python3", "/venv/bin/ansible-playbook", "transcode.yml"])  # forked worker
    fake_proc(tmp_path, 400, 300, ["/bin/sh", "-c", "python AnsiballZ_x.py"])
    fake_proc(tmp_path, 500, 400, ["python", "AnsiballZ_x.py"])
    assert supervise.parent_of(500, str(tmp_path)) == 400
    assert supervise.run_owner(500, proc=str(tmp_path)) == 200


def test_run_owner_falls_back_to_the_parent(tmp_path: Path) -> None:
    fake_proc(tmp_path, 10, 1, ["bash"])
    fake_proc(tmp_path, 20, 10, ["python"])
    assert supervise.run_owner(20, proc=str(tmp_path)) == 10


def test_work_lock_is_exclusive(tmp_path: Path) -> None:
    with supervise.WorkLock(str(tmp_path)):
        with pytest.raises(BlockingIOError, match="in use by another run"):
            supervise.WorkLock(str(tmp_path)).__enter__()
    with supervise.WorkLock(str(tmp_path)):  # released
        pass


def test_kill_all_reaches_grandchildren(tmp_path: Path) -> None:
    children = supervise.Children()
    marker = tmp_path / "survived"
    script = f"sleep 5 & wait; touch '{marker}'"
    p = children.popen(["sh", "-c", script])
    time.sleep(0.3)
    children.kill_all(grace=2)
    assert p.poll() is not None
    time.sleep(0.2)
    assert not marker.exists()
    with pytest.raises(RuntimeError):
        children.popen([sys.executable, "-c", "pass"])


def test_run_captures_output() -> None:
    out = supervise.Children().run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (out.returncode, out.stdout, out.stderr) == (3, "out\n", "err\n")
    assert supervise.alive(os.getpid()) and not supervise.alive(2**22 + 12345)


def test_a_run_that_outlasts_its_timeout_is_killed_with_its_group_and_says_so() -> None:
    from labkit.supervise import Children

    children = Children()
    done = children.run(["sh", "-c", "sleep 30 & sleep 30"], timeout_s=0.3)
    assert done.returncode == 124 and "timed out after 0.3 s" in done.stderr
    assert children.run(["sh", "-c", "echo ok"], timeout_s=5).stdout == "ok\n"


def test_stopping_the_run_calls_what_was_registered_and_cancelled_ones_not() -> None:
    from labkit.supervise import Children

    children = Children()
    called: list[str] = []
    children.at_stop(lambda: called.append("delete the Job"))
    cancel = children.at_stop(lambda: called.append("cancelled"))
    children.at_stop(lambda: 1 / 0)  # a failing callback does not stop the others, nor the kill
    cancel()
    children.kill_all()
    children.kill_all()  # once only
    assert called == ["delete the Job"]
