#!/usr/bin/python
"""Load every core of this node until its temperature stops rising (labkit.settle)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_settle
short_description: Warm a node up to its working temperature before an experiment is measured
description:
  - Starts one busy process per usable core and reads the SoC temperature every I(interval)
    seconds until, over the last I(window) seconds, it rose less than I(rise_c) (the
    least-squares slope times the window), or until I(max_seconds). Then stops the load.
  - A node without a temperature sensor returns at once with C(settled=None) and the reason.
  - Changes nothing on the node; run it with async so that every node settles at once.
options:
  name:
    description: The node's name in the report (default, its host name).
    type: str
  interval:
    description: Seconds between two temperature readings.
    type: float
    default: 1.0
  window:
    description: Seconds over which the rise is judged.
    type: float
    default: 120
  rise_c:
    description: Settled when the temperature rose less than this over the last window.
    type: float
    default: 0.5
  max_seconds:
    description: Stop loading after this long even if the temperature still rises.
    type: float
    default: 1800
  thermal:
    description: The temperature file (millidegrees Celsius, as the kernel's thermal zones give it).
    type: path
    default: /sys/class/thermal/thermal_zone0/temp
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Settle the controller
  lab_settle:
    window: 120
  async: 2000
  poll: 0
"""

RETURN = r"""
settle:
  description: node, settled (None without a sensor), reason, seconds, start_c, end_c, rise_c (over the
    last window), window_s, cores (busy processes run), readings ([seconds, °C] pairs).
  type: dict
  returned: always
"""

import os
import platform
import signal
import subprocess
import sys
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.environment import usable_cores
from ansible.module_utils.labkit.settle import check_settings, summary, verdict

BUSY = "while True: pass"


def read_c(path: str) -> float | None:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip()) / 1000
    except (OSError, ValueError):
        return None


def main() -> None:
    module = AnsibleModule(argument_spec={
        "name": {"type": "str"},
        "interval": {"type": "float", "default": 1.0},
        "window": {"type": "float", "default": 120},
        "rise_c": {"type": "float", "default": 0.5},
        "max_seconds": {"type": "float", "default": 1800},
        "thermal": {"type": "path", "default": "/sys/class/thermal/thermal_zone0/temp"},
    })
    p = module.params
    name = p["name"] or platform.node() or "localhost"
    problem = check_settings(p["window"], p["rise_c"], p["max_seconds"])
    if problem or not p["interval"] > 0:
        module.fail_json(msg=problem or f"interval={p['interval']} must be positive")
    first = read_c(p["thermal"])
    if first is None:
        result = {"node": name, "settled": None, "reason": f"no temperature sensor ({p['thermal']}): nothing to settle on"}
        module.exit_json(changed=False, settle=result, lab_progress=summary(name, result))
    cores = usable_cores() or os.cpu_count() or 1
    load: list[subprocess.Popen] = []
    readings: list[list[float]] = []
    started = time.monotonic()
    try:
        for _ in range(cores):
            load.append(subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        state = verdict([], p["window"], p["rise_c"])
        while True:
            now = time.monotonic() - started
            value = read_c(p["thermal"])
            if value is not None:
                readings.append([round(now, 2), value])
                state = verdict([(t, c) for t, c in readings], p["window"], p["rise_c"])
            if state.settled or now >= p["max_seconds"]:
                break
            time.sleep(p["interval"])
    finally:
        for proc in load:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    result = {"node": name, "settled": state.settled, "reason": None, "seconds": round(time.monotonic() - started, 1),
              "start_c": readings[0][1] if readings else first, "end_c": readings[-1][1] if readings else first,
              "rise_c": round(state.rise_c, 3) if state.rise_c is not None else None, "window_s": p["window"],
              "cores": cores, "readings": readings}
    module.exit_json(changed=False, settle=result, lab_progress=summary(name, result))


if __name__ == "__main__":
    main()
