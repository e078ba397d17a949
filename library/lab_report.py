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
  backend:
    description: The backend that ran the work (local, ssh, k3s), or C(imported log).
    type: str
    required: true
  parameters:
    description: The exact, validated parameters of the experiment.
    type: dict
    required: true
  nodes_before:
    description: Registered results of M(lab_node_context) before the runs (one result, or a loop's
      C(results)); entries without a reading (an unreachable host) are skipped.
    type: list
    elements: raw
    default: []
  nodes_after:
    description: The same, after the runs.
    type: list
    elements: raw
    default: []
  cluster_nodes:
    description: Node objects from the Kubernetes API (k3s backend); each is matched to a reading by
      name or host name.
    type: list
    elements: dict
    default: []
  context:
    description: Workload-specific context blocks shown as run context (e.g. the transcode's C(source)).
    type: dict
    default: {}
  extra:
    description: Workload blocks written at the top level of results.json (C(legacy), C(verification), C(phases)).
    type: dict
    default: {}
  cooling:
    description: How the nodes were cooled, in the user's words (C(lab_cooling)); part of the
      reproducibility fingerprint. Empty when not given.
    type: str
    default: ""
  ambient_c:
    description: The room's temperature in °C (C(lab_ambient_c)); empty when not given.
    type: raw
    default: ""
  compare_to:
    description: An earlier report to compare this run with (its folder, its results.json or a C(latest-*)
      link; -e lab_compare_to), as an absolute path; empty for none. The comparison (labkit.compare) goes
      into results.json's C(comparison), index.html and summary.md; a refused comparison or an unreadable
      report says why there and does not stop the report.
    type: str
    default: ""
  telemetry:
    description: Every node's timeline - the registered results of lab_telemetry state=stopped (or their
      C(trace)s); a node whose sampler failed keeps the reason. Omitted, nothing was sampled. Gives
      results.json's C(telemetry), C(sampling) and C(energy), each run's energy, and flags a run during
      which one of its nodes throttled.
    type: list
    elements: raw
  power_calibration:
    description: Scales the PMIC's board-rail energy to a meter's (-e lab_power_calibration).
    type: float
    default: 1.0
  settle:
    description: Each node's settling before the first run - the registered results of lab_common's
      settle.yml (lab_settle_results); results.json's C(settle). Omitted, the nodes were not settled.
    type: list
    elements: raw
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Write the report
  lab_report:
    reports_dir: "{{ playbook_dir }}/reports"
    workload: pi
    backend: local
    runs: "{{ pi_runs }}"
    parameters: "{{ pi_plan.parameters }}"
    nodes_before: ["{{ node_before }}"]
    nodes_after: ["{{ node_after }}"]
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
comparison:
  description: The comparison block with I(compare_to) (its C(summary) is one line, a refusal's reason
    included), else null.
  type: dict
  returned: success
lab_progress:
  description: One line naming the report page.
  type: str
  returned: success
"""

import os
import platform

from ansible.module_utils.ansible_release import __version__ as ansible_version
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.fingerprint import conditions
from ansible.module_utils.labkit.report import build_context, validate, write_report
from ansible.module_utils.labkit.report.paths import check_latest
from ansible.module_utils.labkit.text import plural


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "reports_dir": {"type": "path", "required": True},
            "workload": {"type": "str", "required": True, "choices": ["pi", "transcode"]},
            "runs": {"type": "list", "elements": "dict", "required": True},
            "backend": {"type": "str", "required": True},
            "parameters": {"type": "dict", "required": True},
            "nodes_before": {"type": "list", "elements": "raw", "default": []},
            "nodes_after": {"type": "list", "elements": "raw", "default": []},
            "cluster_nodes": {"type": "list", "elements": "dict", "default": []},
            "context": {"type": "dict", "default": {}},
            "extra": {"type": "dict", "default": {}},
            "cooling": {"type": "str", "default": ""},
            "ambient_c": {"type": "raw", "default": ""},
            "compare_to": {"type": "str", "default": ""},
            "telemetry": {"type": "list", "elements": "raw"},
            "power_calibration": {"type": "float", "default": 1.0},
            "settle": {"type": "list", "elements": "raw"},
        },
        supports_check_mode=True,
    )
    p = module.params
    reports_dir = p["reports_dir"]
    try:
        context = build_context(
            p["backend"], p["parameters"], nodes_before=p["nodes_before"], nodes_after=p["nodes_after"],
            cluster_nodes=p["cluster_nodes"], more=p["context"],
            tools={"ansible": ansible_version, "python": platform.python_version()},
            conditions=conditions(p["cooling"], p["ambient_c"]),
        )
        validate(p["workload"], p["runs"], context, p["extra"])
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
            comparison=None,
            lab_progress=f"report: would write {plural(len(p['runs']), 'run')} to a new folder in {reports_dir}",
        )
    try:
        result = write_report(reports_dir, p["workload"], p["runs"], context, p["extra"],
                              compare_to=p["compare_to"] or None, telemetry_traces=p["telemetry"],
                              power_calibration=p["power_calibration"], settle_results=p["settle"])
    except (ValueError, OSError) as err:
        module.fail_json(msg=f"Cannot write the report in {reports_dir!r}: {err}")
    index = result["files"]["index.html"]
    shown = os.path.relpath(index) if not os.path.relpath(index).startswith("..") else index
    module.exit_json(
        changed=True,
        path=result["path"],
        files=result["files"],
        headline=result["headline"],
        comparison=result["comparison"],
        lab_progress=f"report: {shown} — {result['headline']['summary']}",
    )


if __name__ == "__main__":
    main()
