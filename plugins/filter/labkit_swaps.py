"""Filters over a node's swap: the rpi_prerequisites role's check after its reboot.

  /proc/swaps text | lab_active_swap(dropin)  -> '' or each active area with its size and what
                                                 sets it up at boot (labkit.swaps)
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit.swaps import describe_active_swap  # noqa: E402


class FilterModule:
    """lab_active_swap: labkit.swaps.describe_active_swap as an Ansible filter."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"lab_active_swap": describe_active_swap}
