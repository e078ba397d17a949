#!/usr/bin/python
"""Describe the node this runs on: hardware, OS, governor, temperature, throttling, tool versions."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_node_context
short_description: Describe the node for the experiment report
description:
  - Reads the node's environment from /proc, /sys and /etc (labkit.environment) -
    host name, board or CPU model, cores, memory, kernel, OS, CPU governor,
    SoC temperature - and, when C(vcgencmd) exists (Raspberry Pi), the decoded
    C(vcgencmd get_throttled) flags.
  - Adds the versions of python, ffmpeg and k3s where present. Commands run
    with argument lists, never through a shell. Changes nothing (check mode safe).
options:
  root:
    description: Root of the filesystem to read (tests point it at a fake tree).
    type: path
    default: /
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Describe every node before the experiment
  lab_node_context:
  register: node_before
"""

RETURN = r"""
node:
  description: hostname, model, cores (the CPUs it can keep busy, a cgroup CPU quota counted),
    cpu_quota (that quota in CPUs, or None), memory_bytes, memory_limit_bytes (a cgroup memory
    limit, or None), kernel, os, arch, governor,
    temperature_c (None where unknown), throttled (decoded vcgencmd flags or None)
    and versions (python, ffmpeg, k3s where present), k3s_version.
  type: dict
  returned: always
lab_progress:
  description: One line naming the node, its model and temperature.
  type: str
  returned: always
"""

import os
import platform
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.environment import node_context, parse_throttled, version_from_line
from ansible.module_utils.labkit.text import plural

COMMAND_TIMEOUT = 20


def first_line(argv: list[str]) -> str | None:
    """First non-empty output line of a command, or None when it is missing or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    for line in (done.stdout or done.stderr).splitlines():
        if line.strip():
            return line.strip()
    return None


def main() -> None:
    module = AnsibleModule(argument_spec={"root": {"type": "path", "default": "/"}}, supports_check_mode=True)
    root = module.params["root"]
    if not os.path.isdir(root):
        module.fail_json(msg=f"root {root!r} is not a directory")
    node = node_context(root)
    node["throttled"] = parse_throttled(first_line(["vcgencmd", "get_throttled"]))
    # Versions, never paths or whole banner lines (labkit.environment.version_from_line).
    versions = {"python": platform.python_version(),
                "ffmpeg": version_from_line(first_line(["ffmpeg", "-version"])),
                "k3s": version_from_line(first_line(["k3s", "--version"]))}
    node["versions"] = {tool: version for tool, version in versions.items() if version}
    node["k3s_version"] = versions["k3s"]
    temperature = node.get("temperature_c")
    progress = f"node {node.get('hostname')}: {node.get('model') or 'unknown model'}, "
    progress += plural(node["cores"], "core") if isinstance(node.get("cores"), int) else "unknown cores"
    if node.get("cpu_quota") is not None:
        progress += f" ({node['cpu_quota']:g} CPU quota)"
    if temperature is not None:
        progress += f", {temperature} °C"
    if node["throttled"] and node["throttled"].get("throttled_now"):
        progress += f", THROTTLING ({node['throttled']['hex']})"
    module.exit_json(changed=False, node=node, lab_progress=progress)


if __name__ == "__main__":
    main()
