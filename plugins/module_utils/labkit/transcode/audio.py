"""The audio, encoded once, on its own, while the segments run (never cut, so no join can shift it)."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any, Optional

from ..backends import tail
from ..supervise import Children
from . import commands, manifest
from .planfile import TranscodePlan

AUDIO_FILE = "audio.m4a"


class AudioEncode:
    """Start with start(), collect with finish(); both record the result in the manifest."""

    def __init__(self, plan: TranscodePlan, ffmpeg: str, children: Children, recorder: manifest.Recorder) -> None:
        self.plan = plan
        self.ffmpeg = ffmpeg
        self.children = children
        self.recorder = recorder
        self.path = os.path.join(plan.work, AUDIO_FILE)
        self.resumed = False          # an earlier run's audio, intact: nothing to do
        self.seconds = 0.0
        self.error: Optional[str] = None
        self._proc: Optional[subprocess.Popen] = None
        self._thread: Optional[threading.Thread] = None
        self._state: dict[str, Any] = {}

    def start(self) -> None:
        if self.plan.audio is None:
            return
        if manifest.is_intact(self.path, self.recorder.data.get("audio")):
            self.resumed = True
            return
        self.recorder.audio(None)
        enc = self.plan.encoding
        self._t0 = time.monotonic()
        self._proc = self.children.popen(
            commands.audio_command(self.ffmpeg, self.plan.source, self.plan.audio.index, enc.audio_codec,
                                   enc.audio_bitrate, self.path + ".part"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )

        def wait(proc: subprocess.Popen = self._proc) -> None:
            # A thread drains stderr, so the encoder never blocks on a full pipe.
            self._state["err"] = proc.communicate()[1]
            self._state["end"] = time.monotonic()

        self._thread = threading.Thread(target=wait, daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Wait for the encoder; keep its file (renamed into place) only when it succeeded."""
        if self._proc is None or self._thread is None:
            return
        self._thread.join()
        self.seconds = self._state["end"] - self._t0
        if self._proc.returncode != 0:
            self.error = f"encoding the audio failed: {tail(self._state.get('err', ''), 1)}"
            return
        os.replace(self.path + ".part", self.path)
        self.recorder.audio(manifest.file_entry(self.path))
