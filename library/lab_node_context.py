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
  numpy:
    description: Also read the numpy and BLAS build of the Python running this module (the π
      workers' Python on this node), for the reproducibility fingerprint.
    type: bool
    default: false
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
    and versions (python, ffmpeg, k3s where present), k3s_version; fingerprint (labkit.fingerprint:
    firmware, bootloader, config_clocks, numpy, blas, ffmpeg, ffmpeg_configuration, None where unknown).
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
from ansible.module_utils.labkit.fingerprint import (numpy_build, parse_bootloader_version, parse_ffmpeg_build,
                                                     parse_firmware_version, read_config_clocks)
from ansible.module_utils.labkit.environment import node_context, parse_throttled, version_from_line
from ansible.module_utils.labkit.text import plural

COMMAND_TIMEOUT = 20


def output_of(argv: list[str]) -> str | None:
    """What a command prints, or None when it is missing or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout or done.stderr


def first_line(text: str | None) -> str | None:
    """The first non-empty line of a command's output."""
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), None)


def main() -> None:
    module = AnsibleModule(argument_spec={"root": {"type": "path", "default": "/"},
                                          "numpy": {"type": "bool", "default": False}},
                           supports_check_mode=True)
    root = module.params["root"]
    if not os.path.isdir(root):
        module.fail_json(msg=f"root {root!r} is not a directory")
    node = node_context(root)
    node["throttled"] = parse_throttled(output_of(["vcgencmd", "get_throttled"]))
    ffmpeg = output_of(["ffmpeg", "-version"])
    # Versions, never paths or whole banner lines (labkit.environment.version_from_line).
    versions = {"python": platform.python_version(),
                "ffmpeg": version_from_line(first_line(ffmpeg)),
                "k3s": version_from_line(first_line(output_of(["k3s", "--version"])))}
    node["versions"] = {tool: version for tool, version in versions.items() if version}
    node["k3s_version"] = versions["k3s"]
    ffmpeg_version, ffmpeg_configuration = parse_ffmpeg_build(ffmpeg)
    numpy_version, blas = numpy_build() if module.params["numpy"] else (None, None)
    node["fingerprint"] = {
        "firmware": parse_firmware_version(output_of(["vcgencmd", "version"])),
        "bootloader": parse_bootloader_version(output_of(["vcgencmd", "bootloader_version"])),
        "config_clocks": read_config_clocks(root),
        "numpy": numpy_version, "blas": blas,
        "ffmpeg": ffmpeg_version, "ffmpeg_configuration": ffmpeg_configuration,
    }
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
