#!/usr/bin/python
"""Validate the π experiment's parameters and plan its runs (thin wrapper over labkit.pi_plan)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_pi_plan
short_description: Validate Monte Carlo π parameters and plan the runs
description:
  - Checks every user parameter of C(bench-pi.yml) and fails with a message naming
    the first unusable one, before anything runs.
  - Returns the validated parameters and the runs in execution order (shuffled
    repetitions, warm-up first), each with the argument lists of its workers.
options:
  raw:
    description: The user's parameters as given (pi_samples, pi_samples_per_worker,
      pi_workers, pi_repetitions, pi_kernel, pi_scaling, pi_seed, pi_warmup, pi_target_seconds);
      empty or missing values take the defaults. Required unless I(replan) is given.
    type: dict
  experiment_id:
    description: Prefix of every run_id, unique per experiment (with I(raw)).
    type: str
  python:
    description: Interpreter that runs the workers (with I(raw)).
    type: path
  worker_path:
    description: Path of pi_worker.py as the workers will see it (with I(raw)).
    type: str
  cores:
    description: CPU cores available to the workers; counted on the controller when omitted.
    type: int
  numpy_available:
    description: Whether the workers' Python has numpy (it decides the default kernel);
      probed by running I(python) when omitted. Set it when the workers run elsewhere (pods).
    type: bool
  numpy_where:
    description: Where the workers' Python is, as the refusal of C(pi_kernel=numpy) without
      numpy names it (for example C(the worker image python:3.13-slim)).
    type: str
    default: the controller's Python
  numpy_fix:
    description: How to get numpy there, as that refusal suggests it.
    type: str
    default: run ./lab setup
  probe:
    description: The RESULT record of the probe run this module returned as C(probe) when W was
      left to be sized (one worker's C(--autorange) run); W is then sized from its rate so that
      one worker takes about C(pi_target_seconds).
    type: dict
  compare_to:
    description: A π report (folder, results.json or latest-pi link) this experiment will be compared
      with (C(lab_compare_to)); when I(raw) gives no pi_samples, W and W₁ are taken from it, so that the
      two are comparable. Empty for none.
    type: str
    default: ""
  replan:
    description: The result of a first call of this module, whose inputs (C(request)) are used
      again, with I(probe); instead of I(raw) and the other inputs.
    type: dict
  reports_dir:
    description: Where the report will be written. When given, the result carries
      C(lab_partial_report), which the lab's stdout callback (labkit_progress) uses to write
      a report marked partial from the runs already measured if the play is interrupted (Ctrl-C).
    type: path
  backend:
    description: The backend that will run the plan, as that partial report names it.
    type: str
    default: local
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Plan the runs
  lab_pi_plan:
    raw: {pi_workers: "1,2", pi_samples: 20000000}
    experiment_id: pi-20261125-101500
    python: "{{ ansible_playbook_python }}"
    worker_path: "{{ playbook_dir }}/plugins/workers/pi_worker.py"
"""

RETURN = r"""
parameters:
  description: The validated parameters, defaults filled in.
  type: dict
  returned: success
runs:
  description: The planned runs in execution order, each with C(commands).
  type: list
  returned: success
request:
  description: This call's inputs, for a second call with I(replan).
  type: dict
  returned: success
probe:
  description: The probe run to execute first when W is still to be sized (pi_samples empty and no
    I(probe) given), else null; plan again with its worker's RESULT record as I(probe).
  type: dict
  returned: success
lab_partial_report:
  description: workload, backend, reports_dir, parameters and planned (the number of runs), when
    I(reports_dir) is given.
  type: dict
  returned: success
lab_progress:
  description: One line summarising the plan.
  type: str
  returned: success
"""

import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.compare import ReportError, load_report
from ansible.module_utils.labkit.environment import usable_cores
from ansible.module_utils.labkit.params import ParameterError
from ansible.module_utils.labkit.pi_plan import CONTROLLER_NUMPY_FIX, CONTROLLER_PYTHON, plan
from ansible.module_utils.labkit.text import plural


# What a replan repeats of the first call.
REQUEST_KEYS = ("raw", "experiment_id", "python", "worker_path", "cores", "numpy_available", "numpy_where",
                "numpy_fix", "compare_to", "reports_dir", "backend")


def compared_report(path: str) -> dict | None:
    """The path and parameters of the π report lab_compare_to names (None when it names none)."""
    if not path:
        return None
    try:
        report = load_report(path)
    except ReportError as err:
        raise ParameterError(f"lab_compare_to: {err}") from None
    if report.workload != "pi":
        raise ParameterError(f"lab_compare_to={path!r} is a {report.workload} report, not a π one")
    return {"path": report.path, "parameters": report.context.get("parameters") or {}}


def numpy_importable(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import numpy"], capture_output=True, check=False)
    return probe.returncode == 0


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "raw": {"type": "dict"},
            "experiment_id": {"type": "str"},
            "python": {"type": "path"},
            "worker_path": {"type": "str"},
            "cores": {"type": "int"},
            "numpy_available": {"type": "bool"},
            "numpy_where": {"type": "str", "default": CONTROLLER_PYTHON},
            "numpy_fix": {"type": "str", "default": CONTROLLER_NUMPY_FIX},
            "probe": {"type": "dict"},
            "compare_to": {"type": "str", "default": ""},
            "replan": {"type": "dict"},
            "reports_dir": {"type": "path"},
            "backend": {"type": "str", "default": "local"},
        },
        required_one_of=[("raw", "replan")],
        required_by={"raw": ("experiment_id", "python", "worker_path")},
        mutually_exclusive=[("raw", "replan")],
        supports_check_mode=True,
    )
    # A second call (replan: the first call's result, probe: the probe's RESULT) plans with the
    # first call's inputs, so that each backend's task list states them once.
    p = dict(module.params["replan"]["request"], probe=module.params["probe"]) if module.params["replan"] else module.params
    cores = p["cores"] or usable_cores() or 1  # the affinity, capped by a cgroup CPU quota
    has_numpy = p["numpy_available"] if p["numpy_available"] is not None else numpy_importable(p["python"])
    request = {key: p[key] for key in REQUEST_KEYS} | {"cores": cores, "numpy_available": has_numpy}
    try:
        reference = compared_report(p["compare_to"])
        result = plan(p["raw"], cores=cores, numpy_available=has_numpy,
                      experiment_id=p["experiment_id"], python=p["python"], worker_path=p["worker_path"],
                      numpy_where=p["numpy_where"], numpy_fix=p["numpy_fix"], probe=p["probe"],
                      reference=reference)
    except ParameterError as err:
        module.fail_json(msg=f"Invalid parameter: {err}")
    result["request"] = request
    params = result["parameters"]
    runs = result["runs"]
    if result["probe"]:
        progress = f"plan: parameters checked; {params['sizing']}"
        module.exit_json(changed=False, lab_progress=progress, **result)
    progress = (f"plan: {plural(len(runs), 'run')} ({', '.join(params['modes'])} scaling, N in {params['workers']}, "
                f"{plural(params['repetitions'], 'repetition')}, kernel {params['kernel']}, {plural(cores, 'core')}); "
                f"{params['sizing']}")
    if p["reports_dir"]:
        result["lab_partial_report"] = {"workload": "pi", "backend": p["backend"], "reports_dir": p["reports_dir"],
                                        "parameters": params, "planned": len(runs)}
    module.exit_json(changed=False, lab_progress=progress, **result)


if __name__ == "__main__":
    main()
