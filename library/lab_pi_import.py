#!/usr/bin/python
"""Read a saved worker log for analysis (thin wrapper over labkit.pi_import)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_pi_import
short_description: Turn a saved kubectl log of π workers into run records
description:
  - Reads RESULT lines and seed 001's C(Node <host>: π ≈ <estimate>, Time: <s>s) lines.
  - Malformed and unrecognised lines are skipped, never fatal unless nothing is usable; the
    report lists them (C(extra.skipped_lines)) with line numbers and reasons.
  - Lines with C(kubectl logs --prefix) and C(--timestamps) prefixes are read.
options:
  path:
    description: The log file.
    type: path
    required: true
  reference_seconds:
    description: Seed 001's single-machine reference time T_S (pi_reference_seconds), for the legacy
      comparison; a positive number of seconds.
    type: raw
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Import a saved log
  lab_pi_import:
    path: pods.log
    reference_seconds: 1.52
"""

RETURN = r"""
runs:
  description: Run records (docs/ARCHITECTURE.md).
  type: list
  returned: success
legacy:
  description: DESIGN §5's legacy block, or null when the log has no legacy lines.
  type: dict
  returned: success
malformed:
  description: Number of malformed lines.
  type: int
  returned: success
skipped_lines:
  description: The lines left out (file, total, malformed, unrecognised, and the first lines with
    line_no, line, reason, kind).
  type: dict
  returned: success
extra:
  description: The report's extra blocks, to pass to M(lab_report) as they are (legacy, skipped_lines).
  type: dict
  returned: success
parameters:
  description: The user's values, for the report's exact parameters.
  type: dict
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.params import ParameterError, parse_positive_float
from ansible.module_utils.labkit.pi_import import import_logs
from ansible.module_utils.labkit.text import plural


def main() -> None:
    module = AnsibleModule(
        # raw, not float: Ansible's own conversion error would name this option, not pi_reference_seconds
        argument_spec={"path": {"type": "path", "required": True},
                       "reference_seconds": {"type": "raw"}},
        supports_check_mode=True,
    )
    raw = module.params["reference_seconds"]
    try:
        reference = None if raw is None else parse_positive_float("pi_reference_seconds", raw)
        imported = import_logs(module.params["path"], reference)
    except ParameterError as err:
        module.fail_json(msg=f"Invalid parameter: {err}")
    progress = (f"import: {plural(imported['result_lines'], 'RESULT line')}, {plural(imported['legacy_lines'], 'legacy line')}, "
                f"{imported['malformed']} malformed, {imported['other_lines']} not recognised")
    module.exit_json(changed=False, lab_progress=progress, **imported)


if __name__ == "__main__":
    main()
