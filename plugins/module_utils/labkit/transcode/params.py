"""Validation of the user's -e parameters, before any work: every problem is
a sentence naming the variable, the value and what is expected."""
from __future__ import annotations

import os
import re
from typing import Any

from ..params import MAX_LOCAL_WORKERS_PER_CORE, ParameterError, parse_bool, parse_float, parse_int, parse_workers
from .commands import OUTPUT_FORMATS

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
_WORD = re.compile(r"^[A-Za-z0-9._-]+$")
_BITRATE = re.compile(r"^[0-9]+(\.[0-9]+)?[kKmM]?$")


# One parameter vocabulary for every workload (labkit.params); the old name stays for callers.
ParamError = ParameterError


def check_video_path(video: Any) -> str:
    """The source: an existing, readable, non-empty regular file."""
    if video is None or str(video) == "":
        raise ParamError("video is required: pass -e video=/path/to/file.mp4")
    path = os.path.abspath(os.path.expanduser(str(video)))
    if not os.path.lexists(path):
        raise ParamError(f"video {str(video)!r} does not exist" + _cut_at_a_space(path))
    if os.path.isdir(path):
        raise ParamError(f"video {str(video)!r} is a directory, not a video file")
    if not os.path.isfile(path):
        raise ParamError(f"video {str(video)!r} is not a regular file")
    if not os.access(path, os.R_OK):
        raise ParamError(f"video {str(video)!r} is not readable")
    if os.path.getsize(path) == 0:
        raise ParamError(f"video {str(video)!r} is empty (0 bytes)")
    return path


def _cut_at_a_space(path: str) -> str:
    """Ansible splits `-e video=my clip.mp4` at the space, so a missing 'my' may be the start of a
    file name with spaces: when one there starts so, say how to pass it."""
    folder, start = os.path.split(path)
    try:
        names = sorted(n for n in os.listdir(folder or ".") if n.startswith(start + " "))
    except OSError:
        return ""
    if not names:
        return ""
    whole = os.path.join(folder, names[0])
    return (f"; did you mean {whole!r}? Ansible splits -e key=value at spaces: pass a name with spaces as JSON, "
            f"-e '{{\"video\": \"{whole}\"}}'")


def check_output_path(output: Any, source: str) -> str:
    """Where the result goes: never the source, never an existing file."""
    path = os.path.abspath(os.path.expanduser(str(output)))
    ext = os.path.splitext(path)[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise ParamError(
            f"transcode_output {str(output)!r} must end in one of {', '.join(sorted(OUTPUT_FORMATS))}"
        )
    if os.path.realpath(path) == os.path.realpath(source):
        raise ParamError(f"transcode_output {str(output)!r} is the source video itself; the source is only ever read")
    if os.path.lexists(path):
        raise ParamError(f"transcode_output {str(output)!r} already exists; choose a new name (nothing is overwritten)")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ParamError(f"transcode_output {str(output)!r}: its directory {parent!r} does not exist")
    return path


# The values validate() needs. Their defaults live in one place, the role's
# defaults/main.yml (declared in meta/argument_specs.yml); callers pass them all.
PARAMETERS = ("video", "segment_seconds", "workers", "retries", "video_codec", "preset", "crf",
              "audio_codec", "audio_bitrate", "baseline")


def validate(raw: dict[str, Any], cores: int) -> dict[str, Any]:
    """All parameters except the video's content (probed later). Returns the
    normalised values; raises ParamError on the first unusable one."""
    missing = [name for name in PARAMETERS if name not in raw]
    if missing:
        raise ParamError(f"missing transcode parameters: {', '.join(missing)} (the role passes them all)")
    out: dict[str, Any] = {}
    out["video"] = check_video_path(raw["video"])
    out["segment_seconds"] = parse_float("transcode_segment_seconds", raw["segment_seconds"],
                                         low=0.0, high=86400.0, low_open=True)
    # One rule with pi_workers (labkit.params.parse_workers): empty is the automatic choice, 0 an error.
    counts = parse_workers("transcode_workers", raw["workers"], maximum=MAX_LOCAL_WORKERS_PER_CORE * cores,
                           automatic="the controller's cores", many=False)
    out["workers"] = counts[0] if counts else cores
    out["retries"] = parse_int("transcode_retries", raw["retries"], minimum=0, maximum=100)
    codec = str(raw["video_codec"])
    if not _WORD.match(codec):
        raise ParamError(f"transcode_video_codec must be an FFmpeg encoder name, got {codec!r}")
    out["video_codec"] = codec
    preset = str(raw["preset"])
    if not _WORD.match(preset) or (codec in ("libx264", "libx265") and preset not in X264_PRESETS):
        raise ParamError(f"transcode_preset must be one of {', '.join(X264_PRESETS)}, got {preset!r}")
    out["preset"] = preset
    crf = parse_float("transcode_crf", raw["crf"], low=0.0, high=63.0)
    out["crf"] = f"{crf:g}"
    acodec = str(raw["audio_codec"])
    if not _WORD.match(acodec):
        raise ParamError(f"transcode_audio_codec must be an FFmpeg encoder name, got {acodec!r}")
    out["audio_codec"] = acodec
    abr = str(raw["audio_bitrate"])
    if not _BITRATE.match(abr):
        raise ParamError(f"transcode_audio_bitrate must look like 128k, got {abr!r}")
    out["audio_bitrate"] = abr
    out["baseline"] = parse_bool("transcode_baseline", raw["baseline"])
    return out
