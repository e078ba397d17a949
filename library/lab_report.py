#!/usr/bin/python
"""Write an experiment's report folder (thin wrapper over labkit.report.write_report)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_report
short_description: Write the report folder of an experiment
description:
  - Analyses the run records (labkit.metrics) and writes a new folder
    C(<reports_dir>/<workload>-<YYYYmmdd-HHMMSS>/) with index.html (one self-contained
    page with inline SVG charts), summary.md, runs.csv, summary.csv and results.json.
  - Never overwrites an existing report (a second report in the same second gets a
    C(-2) suffix); repoints the relative symlink C(<reports_dir>/latest-<workload>) atomically.
  - Runs on the controller (delegate_to localhost).
options:
  reports_dir:
    description: Folder that holds the report folders; created when missing.
    type: path
    required: true
  workload:
    description: Which experiment the runs belong to.
    type: str
    required: true
    choices: [pi, transcode]
  runs:
    description: The run records (docs/ARCHITECTURE.md), each with its worker C(results).
    type: list
    elements: dict
    required: true
  context:
    description: Environment (C(nodes) per-node dicts, C(tools), C(parameters), anything else shown as run context).
    type: dict
    required: true
  extra:
    description: Workload blocks written at the top level of results.json (C(legacy), C(verification), C(phases)).
    type: dict
    default: {}
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Write the report
  lab_report:
    reports_dir: "{{ playbook_dir }}/reports"
    workload: pi
    runs: "{{ pi_runs }}"
    context: {nodes: "{{ node_contexts }}", parameters: "{{ pi_parameters }}", tools: {}}
  delegate_to: localhost
  register: report
"""

RETURN = r"""
path:
  description: The new report folder (absent in check mode).
  type: str
  returned: success
files:
  description: File name to path for the five files.
  type: dict
  returned: success
headline:
  description: Best N, its speed-up with the bootstrap interval, efficiency, T(1) and which T(1),
    throughput, the index.html path and C(text), a one-line summary.
  type: dict
  returned: success
lab_progress:
  description: One line naming the report page.
  type: str
  returned: success
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.report import validate, write_report
from ansible.module_utils.labkit.report.paths import check_latest


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "reports_dir": {"type": "path", "required": True},
            "workload": {"type": "str", "required": True, "choices": ["pi", "transcode"]},
            "runs": {"type": "list", "elements": "dict", "required": True},
            "context": {"type": "dict", "required": True},
            "extra": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    reports_dir = p["reports_dir"]
    try:
        validate(p["workload"], p["runs"], p["context"], p["extra"])
    except ValueError as err:
        module.fail_json(msg=f"Cannot write the report: {err}")
    if os.path.exists(reports_dir) and not os.path.isdir(reports_dir):
        module.fail_json(msg=f"reports_dir {reports_dir!r} exists and is not a directory")
    try:
        check_latest(reports_dir, p["workload"])
    except ValueError as err:
        module.fail_json(msg=f"Cannot write the report: {err}")
    if module.check_mode:
        module.exit_json(
            changed=True,
            path=None,
            files={},
            headline={},
            lab_progress=f"report: would write {len(p['runs'])} runs to a new folder in {reports_dir}",
        )
    try:
        result = write_report(reports_dir, p["workload"], p["runs"], p["context"], p["extra"])
    except (ValueError, OSError) as err:
        module.fail_json(msg=f"Cannot write the report in {reports_dir!r}: {err}")
    index = result["files"]["index.html"]
    shown = os.path.relpath(index) if not os.path.relpath(index).startswith("..") else index
    module.exit_json(
        changed=True,
        path=result["path"],
        files=result["files"],
        headline=result["headline"],
        lab_progress=f"report: {shown} — {result['headline']['summary']}",
    )


if __name__ == "__main__":
    main()
