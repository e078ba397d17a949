"""pytest fixtures for sandbox hosts (register with ``pytest_plugins = ["sandbox.fixtures"]``)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxUnavailable, unavailable_reason


@pytest.fixture
def sandbox_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Sandbox]]:
    """Make sandboxes (skipping with the reason when this machine cannot); all are closed afterwards."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    made: list[Sandbox] = []

    def make() -> Sandbox:
        try:
            box = Sandbox(Path(tmp_path_factory.mktemp("sandbox")))
        except SandboxUnavailable as exc:
            pytest.skip(str(exc))
        made.append(box)
        return box

    try:
        yield make
    finally:
        for box in made:
            box.close()


@pytest.fixture
def sandbox(sandbox_factory: Callable[[], Sandbox]) -> Sandbox:
    """One empty sandbox: add hosts, prepare their files, then call start()."""
    return sandbox_factory()
