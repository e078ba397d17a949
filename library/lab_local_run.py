#!/usr/bin/python
"""Execute one planned run on the local backend (thin wrapper over labkit.runs.execute and the local backend)."""
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
    description: One planned run from M(lab_pi_plan), with its work C(items).
    type: dict
    required: true
  slots:
    description: Worker slots; defaults to the run's number of work items.
    type: int
  timeout:
    description: Seconds a worker may take before it is killed.
    type: float
    default: 3600
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


from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.backends.local import LocalBackend
from ansible.module_utils.labkit.runs import PlannedRun, execute


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "run": {"type": "dict", "required": True},
            "slots": {"type": "int"},
            "timeout": {"type": "float", "default": 3600.0},
        },
        supports_check_mode=False,
    )
    planned = PlannedRun.from_dict(module.params["run"])
    label = planned.label or planned.run_id
    try:
        record = execute(LocalBackend(), planned, slots=module.params["slots"], timeout_s=module.params["timeout"])
    except ValueError as err:
        module.fail_json(msg=str(err))
    progress = (f"{label}: {len(record.results)}/{len(planned.items)} results in {record.t_e2e_s:.3f} s"
                + (" (oversubscribed)" if record.oversubscribed else "")
                + (" — THROTTLED: this run is flagged invalid" if record.throttled else ""))
    run = record.to_dict()
    if record.problems:
        module.fail_json(msg=f"{label} failed: " + "; ".join(record.problems), run=run, lab_progress=progress)
    module.exit_json(changed=False, run=run, lab_progress=progress)


if __name__ == "__main__":
    main()
