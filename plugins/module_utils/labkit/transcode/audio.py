"""The audio tracks, each encoded once, on its own, while the segments run (never cut, so no join can shift them).

One ffmpeg reads the source once and writes every kept track to its own file
(`AudioTrack.file`); the manifest records them together, so a rerun keeps
them only when every one is intact.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any, Optional, Sequence

from ..backends import tail
from ..supervise import Children
from . import commands, manifest
from .planfile import AudioTrack, TranscodePlan

class AudioEncode:
    """Start with start(), collect with finish(); both record the result in the manifest."""

    def __init__(self, plan: TranscodePlan, ffmpeg: str, children: Children, recorder: manifest.Recorder) -> None:
        self.plan = plan
        self.ffmpeg = ffmpeg
        self.children = children
        self.recorder = recorder
        self.paths = [os.path.join(plan.work, track.file) for track in plan.audio]
        self.resumed = False          # an earlier run's audio, intact: nothing to do
        self.seconds = 0.0
        self.error: Optional[str] = None
        self._proc: Optional[subprocess.Popen] = None
        self._thread: Optional[threading.Thread] = None
        self._state: dict[str, Any] = {}

    def start(self) -> None:
        if not self.plan.audio:
            return
        if intact(self.plan.work, self.plan.audio, self.recorder.data.get("audio")):
            self.resumed = True
            return
        self.recorder.audio(None)
        enc = self.plan.encoding
        self._t0 = time.monotonic()
        tracks = [(track.index, path + ".part") for track, path in zip(self.plan.audio, self.paths)]
        self._proc = self.children.popen(
            commands.audio_command(self.ffmpeg, self.plan.source, tracks, enc.audio_codec, enc.audio_bitrate),
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
        for path in self.paths:
            os.replace(path + ".part", path)
        self.recorder.audio({track.file: manifest.file_entry(path) for track, path in zip(self.plan.audio, self.paths)})


def intact(work: str, tracks: Sequence[AudioTrack], entries: Optional[dict[str, Any]]) -> bool:
    """Every track's file is there with the size and checksum recorded when it was encoded."""
    return bool(entries) and all(manifest.is_intact(os.path.join(work, t.file), entries.get(t.file))
                                 for t in tracks)
