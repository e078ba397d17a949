"""Filters that read the inventory for the ssh backend.

  names | lab_ssh_connections(hostvars)  -> each host's connection variables (labkit.hosts.connection_of),
                                            what lab_ssh_check and lab_run take
"""
from __future__ import annotations

import os
import sys
from typing import Any, Iterable, Mapping

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit.hosts import connection_of  # noqa: E402


def lab_ssh_connections(names: Iterable[str], hostvars: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [connection_of(str(name), hostvars[name]) for name in names]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lab_ssh_connections": lab_ssh_connections}
