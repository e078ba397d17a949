"""Sandbox hosts for the tests: the lab's own simulated cluster (``tools/labsandbox``), re-exported.

One implementation: ``labsandbox`` (``./lab sandbox``) is what the tests use, under the name
they have always imported (``from sandbox import Sandbox``); ``sandbox.fixtures`` holds the
pytest fixtures.
"""
from __future__ import annotations

from labsandbox import (  # noqa: F401 - re-exported
    SSHD,
    HostLimits,
    Sandbox,
    SandboxHost,
    SandboxUnavailable,
    teardown,
    unavailable_reason,
)

__all__ = ["SSHD", "HostLimits", "Sandbox", "SandboxHost", "SandboxUnavailable", "teardown", "unavailable_reason"]
