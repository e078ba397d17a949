"""The manifest: which segments are verified on disk, so a rerun can resume.

A segment counts as done only when the manifest has it *and* the file on disk
still has the recorded size and SHA-256: a file a killed worker left behind
(a ``.part`` name, never renamed) or one damaged since is redone.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # only for annotations: the plan module does not need this one
    from .planfile import TranscodePlan

SCHEMA = 2  # 1: one audio file; 2: `audio` maps each track's file to its entry


def sha256_file(path: str, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def empty(settings: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "settings": settings, "segments": {}, "audio": None}


def load(path: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Read the manifest; a missing, unreadable or differently-configured one starts empty."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return empty(settings)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("settings") != settings:
        return empty(settings)
    data.setdefault("segments", {})
    data.setdefault("audio", None)
    return data


def save(path: str, data: dict[str, Any]) -> None:
    """Write atomically (temporary file + rename): a crash leaves the old or the new manifest."""
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def file_entry(path: str, **extra: Any) -> dict[str, Any]:
    entry = {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}
    entry.update(extra)
    return entry


def is_intact(path: str, entry: dict[str, Any] | None) -> bool:
    """The file exists with the size and checksum recorded when it was verified."""
    if not entry or not os.path.isfile(path):
        return False
    try:
        if os.path.getsize(path) != entry.get("bytes"):
            return False
        return sha256_file(path) == entry.get("sha256")
    except OSError:
        return False


def path_of(plan: "TranscodePlan") -> str:
    return os.path.join(plan.work, "manifest.json")


def load_for(plan: "TranscodePlan") -> dict[str, Any]:
    """The plan's manifest (empty when missing, unreadable or made with other settings)."""
    return load(path_of(plan), plan.encoding.to_dict())


def verified(plan: "TranscodePlan", data: dict[str, Any]) -> set[str]:
    """The plan's segments that `data` records as verified and that are intact on disk."""
    return done_segments(data, os.path.join(plan.work, "segments"), [s.name for s in plan.segments],
                         plan.frames_by_segment)


def done_segments(data: dict[str, Any], directory: str, names: Iterable[str], frames: dict[str, int]) -> set[str]:
    """Names of segments that are verified in the manifest and intact on disk
    with the frame count the current plan expects."""
    out: set[str] = set()
    for name in names:
        entry = data["segments"].get(name)
        if entry and entry.get("frames") == frames.get(name) and is_intact(os.path.join(directory, name), entry):
            out.add(name)
    return out


class Recorder:
    """Thread-safe manifest updates from the worker pool."""

    def __init__(self, path: str, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self._lock = threading.Lock()

    def segment(self, name: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self.data["segments"][name] = entry
            save(self.path, self.data)

    def forget(self, name: str) -> None:
        with self._lock:
            if self.data["segments"].pop(name, None) is not None:
                save(self.path, self.data)

    def audio(self, entry: dict[str, Any] | None) -> None:
        with self._lock:
            self.data["audio"] = entry
            save(self.path, self.data)
