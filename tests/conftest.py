"""pytest configuration shared by every test directory."""
from __future__ import annotations

import shutil

import pytest

from kubetest import configured_kube, real_kube  # noqa: F401  (session fixtures: one local Kubernetes per run)


@pytest.fixture(scope="session")
def ffmpeg_available() -> None:
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("ffmpeg/ffprobe are not installed (./lab test installs them)")
