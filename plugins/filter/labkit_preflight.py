"""Filters of the preflight (preflight.yml).

  usable | lab_preflight_plan(controller_name, disk_dir, count, block, rtt_count)
      -> labkit.preflight.plan for the hosts lab_ssh_check found usable (their connection
         variables): each probe's arguments and the iperf3 links, in the order they run
  stdout | lab_iperf3_error -> '' when `iperf3 --json` printed a finished test, else why not (iperf3 exits 0
                               after an error with --json, so its exit status cannot tell)
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit.preflight import parse_iperf3, plan  # noqa: E402


def lab_preflight_plan(connections: Sequence[Mapping[str, Any]], controller_name: str, disk_dir: str, count: Any,
                       block: Any, rtt_count: Any) -> dict[str, Any]:
    nodes = [{"name": c["name"], "address": c.get("ansible_host") or c["name"], "port": c.get("ansible_port") or 22}
             for c in connections or []]
    return plan(nodes, str(controller_name or ""), disk_dir=str(disk_dir), count=int(count), block=int(block),
                rtt_count=int(rtt_count))


def lab_iperf3_error(stdout: Any) -> str:
    return str(parse_iperf3(str(stdout or ""))["error"] or "")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lab_preflight_plan": lab_preflight_plan, "lab_iperf3_error": lab_iperf3_error}
