#!/usr/bin/python
"""Build the preflight's results and write its report folder (thin wrapper over labkit.preflight)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_preflight_report
short_description: Write the report folder of a preflight (network, disk, names)
description:
  - Parses what the preflight measured (preflight_probe.py's JSON from the controller and every
    node, iperf3's JSON for every link) with labkit.preflight, finds what is poor (a link far below
    the others, an MTU mismatch, synchronous writes too slow for the K3s datastore, names that do
    not resolve) and writes a new folder C(<reports_dir>/preflight-<YYYYmmdd-HHMMSS>/) with
    results.json, index.html and summary.md; repoints C(<reports_dir>/latest-preflight).
  - Runs on the controller.
options:
  reports_dir:
    description: Folder that holds the report folders; created when missing.
    type: path
    required: true
  backend:
    description: The backend whose machines were measured (local, ssh, k3s).
    type: str
    required: true
  nodes:
    description: The nodes, each a dict of C(name), C(address) and C(port), as labkit.preflight.plan took them.
    type: list
    elements: dict
    default: []
  controller:
    description: The controller's probe (a registered command result); empty on the local backend.
    type: raw
    default: null
  controller_disk:
    description: On the local backend, the controller's probe with its disk part (a registered result).
    type: raw
    default: null
  probes:
    description: Registered results of the probe on every node (a loop's C(results), each with
      C(item.name)), or a dict of node name to result.
    type: raw
    default: []
  links:
    description: Each planned link (C(from), C(to), C(server)) with C(stdout), iperf3's JSON, and
      C(server_error) when its server did not start.
    type: list
    elements: dict
    default: []
  unusable:
    description: Hosts left out (lab_ssh_check's C(unusable)), named in the warnings.
    type: dict
    default: {}
  parameters:
    description: The preflight's parameters, written into results.json.
    type: dict
    default: {}
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Write the preflight report
  lab_preflight_report:
    reports_dir: "{{ lab_reports_dir }}"
    backend: ssh
    nodes: "{{ preflight_plan.nodes }}"
    controller: "{{ preflight_controller_probe }}"
    probes: "{{ preflight_node_probes.results }}"
    links: "{{ preflight_links_measured }}"
"""

RETURN = r"""
path:
  description: The new report folder.
  type: str
  returned: success
files:
  description: File name to path for results.json, index.html and summary.md.
  type: dict
  returned: success
summary:
  description: One line, the links' range, the slowest synchronous writes and how many findings.
  type: str
  returned: success
warnings_text:
  description: Every finding as one line that starts with its level (bad, warning or note), worst first.
  type: list
  elements: str
  returned: success
lab_progress:
  description: One line naming the report page.
  type: str
  returned: success
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.preflight import build_results
from ansible.module_utils.labkit.report.paths import check_latest
from ansible.module_utils.labkit.report.preflight import write_preflight_report


def node_probes(probes: object) -> dict:
    """Node name -> its registered probe result, from a loop's results or a dict."""
    if isinstance(probes, dict):
        return probes
    out = {}
    for result in probes or []:
        if isinstance(result, dict):
            item = result.get("item")
            name = item.get("name") if isinstance(item, dict) else item
            if name is not None:
                out[str(name)] = result
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "reports_dir": {"type": "path", "required": True},
            "backend": {"type": "str", "required": True},
            "nodes": {"type": "list", "elements": "dict", "default": []},
            "controller": {"type": "raw", "default": None},
            "controller_disk": {"type": "raw", "default": None},
            "probes": {"type": "raw", "default": []},
            "links": {"type": "list", "elements": "dict", "default": []},
            "unusable": {"type": "dict", "default": {}},
            "parameters": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    reports_dir = p["reports_dir"]
    if os.path.exists(reports_dir) and not os.path.isdir(reports_dir):
        module.fail_json(msg=f"reports_dir {reports_dir!r} exists and is not a directory")
    try:
        check_latest(reports_dir, "preflight")
        results = build_results(p["backend"], p["nodes"], p["controller"], node_probes(p["probes"]), p["links"],
                                parameters=p["parameters"], unusable=p["unusable"],
                                controller_disk=p["controller_disk"])
    except ValueError as err:
        module.fail_json(msg=f"Cannot write the preflight report: {err}")
    order = {"bad": 0, "warning": 1, "note": 2}
    findings = [f"{w['level']}: {w['text']}" for w in sorted(results["warnings"], key=lambda w: order[w["level"]])]
    if module.check_mode:
        module.exit_json(changed=False, path=None, files={}, summary=results["summary"], warnings_text=findings,
                         lab_progress=f"preflight: would write a report in {reports_dir}")
    try:
        written = write_preflight_report(reports_dir, results)
    except (ValueError, OSError) as err:
        module.fail_json(msg=f"Cannot write the preflight report in {reports_dir!r}: {err}")
    index = written["files"]["index.html"]
    shown = os.path.relpath(index) if not os.path.relpath(index).startswith("..") else index
    module.exit_json(changed=True, path=written["path"], files=written["files"], summary=results["summary"],
                     warnings_text=findings, lab_progress=f"preflight: {shown} — {results['summary']}")


if __name__ == "__main__":
    main()
