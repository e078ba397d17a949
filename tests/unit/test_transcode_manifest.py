"""The manifest: only verified, intact segments count as done."""
from __future__ import annotations

import json
from pathlib import Path

from labkit.transcode import manifest

SETTINGS = {"segment_seconds": 10.0, "video_codec": "libx264", "preset": "veryfast", "crf": "28"}


def recorded_segment(tmp_path: Path) -> tuple[Path, dict]:
    """One 100-byte segment of 30 frames, recorded in a new manifest; the manifest as read back."""
    seg = tmp_path / "seg_0000.mp4"
    seg.write_bytes(b"x" * 100)
    path = str(tmp_path / "manifest.json")
    rec = manifest.Recorder(path, manifest.load(path, SETTINGS))
    rec.segment("seg_0000.mp4", manifest.file_entry(str(seg), frames=30))
    return seg, manifest.load(path, SETTINGS)


def test_round_trip_and_done_segments(tmp_path: Path) -> None:
    _, data = recorded_segment(tmp_path)
    assert manifest.done_segments(data, str(tmp_path), ["seg_0000.mp4", "seg_0001.mp4"], {"seg_0000.mp4": 30}) == {"seg_0000.mp4"}


def test_damaged_missing_or_replanned_segments_are_not_done(tmp_path: Path) -> None:
    seg, data = recorded_segment(tmp_path)
    assert manifest.done_segments(data, str(tmp_path), ["seg_0000.mp4"], {"seg_0000.mp4": 31}) == set()
    seg.write_bytes(b"y" * 100)  # same size, different content
    assert manifest.done_segments(data, str(tmp_path), ["seg_0000.mp4"], {"seg_0000.mp4": 30}) == set()
    seg.unlink()
    assert manifest.done_segments(data, str(tmp_path), ["seg_0000.mp4"], {"seg_0000.mp4": 30}) == set()


def test_other_settings_or_garbage_start_empty(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    manifest.save(str(path), manifest.empty(SETTINGS) | {"segments": {"a": {}}})
    assert manifest.load(str(path), dict(SETTINGS, crf="23"))["segments"] == {}
    assert manifest.load(str(path), SETTINGS)["segments"] == {"a": {}}
    path.write_text("{half")
    assert manifest.load(str(path), SETTINGS)["segments"] == {}


def test_save_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    manifest.save(str(path), manifest.empty(SETTINGS))
    assert json.loads(path.read_text())["schema"] == manifest.SCHEMA
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
