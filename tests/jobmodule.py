"""Run lab_k8s_job_run once through a real ansible-playbook run: the π Job the pi role builds
(lab_pi_job with run_k3s.yml's settings and the role's defaults) for one planned point, against any cluster's
kubeconfig (the stand-in API of tests/fake_k8s_api.py, or the real local Kubernetes)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from k8s_manifests import PI_JOB, pi_job_settings
from labtest import REPO, run_playbook


def planned(run_id: str, workers: int, work: int) -> dict[str, Any]:
    return {"run_id": run_id, "workload": "pi", "mode": "strong", "workers": workers, "repetition": 1,
            "warmup": False, "order": 2, "work": work, "seed": 11, "oversubscribed": False,
            "label": f"[2/5] strong N={workers} rep 1/3", "commands": []}


def run_module(tmp_path: Path, kubeconfig: Path, run: dict[str, Any], *args: str,
               image: str = "python:3.13-slim", extra_vars: dict[str, Any] | None = None,
               **module_args: Any) -> tuple[dict[str, Any], str]:
    """Build the Job as the role does, with its defaults, run the module, return its result and the output."""
    out = tmp_path / "result.json"
    playbook = tmp_path / "run.yml"
    playbook.write_text(json.dumps([{
        "name": "Run one planned point as an Indexed Job",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars_files": [str(REPO / "roles" / "lab_common" / "defaults" / "main.yml"),
                       str(REPO / "roles" / "pi" / "defaults" / "main.yml")],
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}", "lab_root": str(REPO),
                 "pi_k3s_run": run, "pi_k3s_kernel": "python", "pi_k3s_job": pi_job_settings()},
        "tasks": [
            {"name": "Run the Job", "lab_k8s_job_run": {
                "manifest": "{{ " + PI_JOB + " }}",
                "run": "{{ pi_k3s_run }}",
                "namespace": "lab",
                "kubeconfig": str(kubeconfig),
                "poll_interval": 0.1,
                **module_args,
            }, "register": "job_run", "ignore_errors": True},
            {"name": "Save the result", "ansible.builtin.copy": {
                "content": "{{ job_run | to_json }}", "dest": str(out), "mode": "0600"},
             "check_mode": False},
        ],
    }]))
    done = run_playbook(str(playbook), "-i", "localhost,", *args, extra_vars={"pi_k3s_image": image, **(extra_vars or {})}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text()), done.stdout
