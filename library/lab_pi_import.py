#!/usr/bin/python
"""Read a saved worker log for analysis (thin wrapper over labkit.pi_import)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_pi_import
short_description: Turn a saved kubectl log of π workers into run records
description:
  - Reads RESULT lines and seed 001's C(Node <host>: π ≈ <estimate>, Time: <s>s) lines.
  - Malformed lines are counted and reported, never fatal unless nothing is usable.
options:
  path:
    description: The log file.
    type: path
    required: true
  reference_seconds:
    description: Seed 001's single-machine reference time T_S, for the legacy comparison.
    type: float
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
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.params import ParameterError
from ansible.module_utils.labkit.pi_import import import_logs


def main() -> None:
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True},
                       "reference_seconds": {"type": "float"}},
        supports_check_mode=True,
    )
    reference = module.params["reference_seconds"]
    if reference is not None and not reference > 0:
        module.fail_json(msg=f"Invalid parameter: pi_reference_seconds={reference!r} must be a positive number")
    try:
        imported = import_logs(module.params["path"], reference)
    except ParameterError as err:
        module.fail_json(msg=f"Invalid parameter: {err}")
    progress = (f"import: {imported['result_lines']} RESULT lines, {imported['legacy_lines']} legacy lines, "
                f"{imported['malformed']} malformed, {imported['other_lines']} other")
    module.exit_json(changed=False, lab_progress=progress, **imported)


if __name__ == "__main__":
    main()
