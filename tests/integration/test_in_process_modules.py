"""Lab modules run inside the task's worker on the controller (plugins/action/_lab_in_process.py).

The same task must give the same result in the worker as in a module process of its own
(LAB_MODULES_IN_PROCESS=0), a failure included; an async task started there writes the job
file that lab_job_progress and async_status read, and is ended at its time limit.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtest import ansible_env, run_playbook

pytestmark = pytest.mark.integration

PLAN = """\
---
- name: Plan a small π experiment, then a wrong one
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Plan
      lab_pi_plan:
        raw: {pi_samples: 4000, pi_workers: "1,2", pi_repetitions: 2, pi_kernel: python, pi_scaling: both,
              pi_seed: 7, pi_warmup: true, pi_target_seconds: 3}
        experiment_id: pi-x
        python: /usr/bin/python3
        worker_path: /w/pi_worker.py
        cores: 2
        numpy_available: false
      register: planned

    - name: Plan with a bad worker count
      lab_pi_plan:
        raw: {pi_samples: 4000, pi_workers: "1,0", pi_repetitions: 2, pi_kernel: python, pi_scaling: both,
              pi_seed: 7, pi_warmup: true, pi_target_seconds: 3}
        experiment_id: pi-x
        python: /usr/bin/python3
        worker_path: /w/pi_worker.py
        cores: 2
      register: refused
      ignore_errors: true

    - name: Keep both results
      ansible.builtin.copy:
        content: "{{ {'planned': planned, 'refused': refused} | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


def plan_results(tmp_path: Path, in_process: str) -> dict:
    playbook = tmp_path / "plan.yml"
    playbook.write_text(PLAN, encoding="utf-8")
    out = tmp_path / f"out-{in_process}.json"
    proc = run_playbook(str(playbook), extra_vars={"out": str(out)}, env=ansible_env(LAB_MODULES_IN_PROCESS=in_process))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_a_module_gives_the_same_result_in_the_worker_as_in_its_own_process(tmp_path: Path) -> None:
    here, apart = plan_results(tmp_path, "1"), plan_results(tmp_path, "0")
    for key in ("runs", "parameters", "probe", "lab_progress", "changed"):
        assert here["planned"][key] == apart["planned"][key], key
    assert len(here["planned"]["runs"]) == 2 * 2 * 2 + 1
    assert here["refused"]["failed"] and apart["refused"]["failed"]
    assert here["refused"]["msg"] == apart["refused"]["msg"]
    assert "pi_workers='1,0'" in here["refused"]["msg"]
    # Nothing else differs but what is measured while the task runs.
    assert set(here["planned"]) == set(apart["planned"])


ASYNC = """\
---
- name: Async jobs started in the worker
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Write a job file that says its job is still running
      ansible.builtin.copy:
        content: '{"started": 1, "finished": 0}'
        dest: "{{ async_dir }}/jbusy"
        mode: "0644"

    - name: Follow that job for 1 s, as an async job of 30 s
      lab_job_progress:
        jid: jbusy
        progress: "{{ async_dir }}/none.json"
        wait: 1
        async_dir: "{{ async_dir }}"
      async: 30
      poll: 0
      register: short

    - name: Follow it for 20 s, as an async job of 2 s
      lab_job_progress:
        jid: jbusy
        progress: "{{ async_dir }}/none.json"
        wait: 20
        async_dir: "{{ async_dir }}"
      async: 2
      poll: 0
      register: long

    - name: Wait for the first job
      ansible.builtin.async_status:
        jid: "{{ short.ansible_job_id }}"
      register: short_done
      until: short_done.finished
      retries: 50
      delay: 0.2

    - name: Wait for the second job
      ansible.builtin.async_status:
        jid: "{{ long.ansible_job_id }}"
      register: long_done
      until: long_done.finished
      retries: 50
      delay: 0.5
      ignore_errors: true

    - name: Keep both results
      ansible.builtin.copy:
        content: "{{ {'short': short, 'short_done': short_done, 'long_done': long_done} | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


def test_an_async_job_started_in_the_worker_ends_or_times_out_as_async_wrapper_would(tmp_path: Path) -> None:
    playbook = tmp_path / "async.yml"
    playbook.write_text(ASYNC, encoding="utf-8")
    out = tmp_path / "out.json"
    async_dir = tmp_path / "async"
    async_dir.mkdir()
    proc = run_playbook(str(playbook), extra_vars={"out": str(out), "async_dir": str(async_dir)},
                        env=ansible_env(ANSIBLE_ASYNC_DIR=str(async_dir)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    got = json.loads(out.read_text(encoding="utf-8"))
    assert got["short"]["started"] and not got["short"]["finished"] and got["short"]["ansible_job_id"]
    # The job ran the module: it followed the busy job for its 1 s and said it is still running.
    assert got["short_done"]["finished"] is True
    assert got["short_done"].get("lab_progress") == "items: starting"
    # The second was stopped at its limit, as async_wrapper stops a job.
    assert got["long_done"]["failed"] and "Timeout exceeded" in got["long_done"]["msg"]
