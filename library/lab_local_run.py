#!/usr/bin/python
"""Execute one planned run on the local backend (thin wrapper over labkit.local_backend)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_local_run
short_description: Run one experiment run's workers as local processes
description:
  - Starts the run's worker commands as processes on the controller, at most
    C(slots) at a time, never through a shell.
  - Reads only the workers' C(RESULT) lines and returns the run record with its
    makespan (submit to last result, monotonic clock).
  - Fails, naming the worker and what it said, when a worker fails or a result is missing.
options:
  run:
    description: One planned run from M(lab_pi_plan), with its C(commands).
    type: dict
    required: true
  slots:
    description: Worker slots; defaults to the run's number of commands.
    type: int
  timeout:
    description: Seconds a worker may take before it is killed.
    type: float
    default: 3600
  total:
    description: Number of runs in the experiment, for the progress line.
    type: int
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Run each planned point
  lab_local_run:
    run: "{{ item }}"
  loop: "{{ plan.runs }}"
"""

RETURN = r"""
run:
  description: The run record (docs/ARCHITECTURE.md), with C(t_e2e_s) and C(results).
  type: dict
  returned: always
lab_progress:
  description: One line saying which run and how many results came in.
  type: str
  returned: always
"""

import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.local_backend import run_pool
from ansible.module_utils.labkit.runs import collect_run, throttled_during


def read_throttled() -> str | None:
    """`vcgencmd get_throttled` on a Raspberry Pi; None elsewhere."""
    vcgencmd = shutil.which("vcgencmd")
    if vcgencmd is None:
        return None
    done = subprocess.run([vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=10, check=False)
    return done.stdout if done.returncode == 0 else None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "run": {"type": "dict", "required": True},
            "slots": {"type": "int"},
            "timeout": {"type": "float", "default": 3600.0},
            "total": {"type": "int"},
        },
        supports_check_mode=False,
    )
    planned = module.params["run"]
    commands = planned.get("commands") or []
    if not commands or not all(isinstance(c, list) and c for c in commands):
        module.fail_json(msg=f"run {planned.get('run_id')!r} has no worker commands to execute")
    slots = module.params["slots"] or len(commands)
    before = read_throttled()
    outcome = run_pool([[str(arg) for arg in c] for c in commands], slots, module.params["timeout"])
    throttled = throttled_during(before, read_throttled())
    record, problems = collect_run(dict(planned, throttled=throttled), outcome)
    label = planned.get("label") or planned.get("run_id")
    progress = (f"{label}: {len(record['results'])}/{len(commands)} results in {outcome.t_e2e_s:.3f} s"
                + (" (oversubscribed)" if planned.get("oversubscribed") else "")
                + (" — THROTTLED: this run is flagged invalid" if throttled else ""))
    if problems:
        module.fail_json(msg=f"{label} failed: " + "; ".join(problems), run=record, lab_progress=progress)
    module.exit_json(changed=False, run=record, lab_progress=progress)


if __name__ == "__main__":
    main()
