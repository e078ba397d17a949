"""Filters over labkit.nodes that the lab's playbooks use.

  node_objects | lab_schedulable_cores  -> the CPU cores of the Kubernetes Node objects
                                           (kubernetes.core.k8s_info's `resources`) that
                                           accept pods (not cordoned): what the π plan splits

Node descriptions for the report are built by lab_report (labkit.nodes.describe), not here.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit import nodes  # noqa: E402


def lab_schedulable_cores(node_objects: Sequence[Mapping[str, Any]] | None) -> int:
    """Sum of the capacity cores of the schedulable nodes; 0 when there are none."""
    described = (nodes.from_k8s_node(obj) for obj in node_objects or [] if isinstance(obj, Mapping))
    return sum(node.get("cores", 0) for node in described if node.get("schedulable"))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lab_schedulable_cores": lab_schedulable_cores}
