"""Put the labkit core (plugins/module_utils) on sys.path for the filter plugins.

Modules reach the core as ansible.module_utils.labkit (AnsiballZ ships it);
controller-side plugins import it as plain `labkit`. Not a filter itself.
"""
from __future__ import annotations

import os
import sys

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if MODULE_UTILS not in sys.path:
    sys.path.insert(0, MODULE_UTILS)


class FilterModule:
    """Ansible loads every file here as a filter plugin; this one has no filters."""

    def filters(self) -> dict:
        return {}
