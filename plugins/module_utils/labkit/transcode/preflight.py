"""Checks before any work: the FFmpeg programs, the encoders with their exact
settings, the folders the run writes to, and whether the source is intact.

Each check raises ParamError (labkit.params.ParameterError) with a sentence
that names the variable, the value and the cause, so that a setting that can
never work is refused before the video is split, not after every segment has
been encoded. `prepare` calls them before it writes anything: `preflight()`
for the settings, programs and folders, `damage_of()` / `unopenable_damage()`
on its own probes of the source (`check_source()` runs those probes itself).
"""
from __future__ import annotations

import concurrent.futures
import difflib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

from ..backends import tail
from .params import ParamError
from .probe import MediaInfo, PacketTable, ProbeError, fraction, probe, probe_packet_table, span

# One short encode must finish well within this; a hung program is a finding too.
PROBE_TIMEOUT_S = 30.0


class EncodingSettings(Protocol):
    """The encoder settings preflight tests (planfile.Encoding has them)."""

    video_codec: str
    preset: str
    crf: str
    audio_codec: str
    audio_bitrate: str


@dataclass(frozen=True)
class Ran:
    """One finished program run: its status and its output."""

    returncode: int
    stdout: str
    stderr: str


def run(cmd: Sequence[str]) -> Ran:
    """Run a short program (never through a shell); OSError and timeouts become a non-zero status."""
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, errors="replace", check=False,
                              stdin=subprocess.DEVNULL, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Ran(124, "", f"did not finish within {PROBE_TIMEOUT_S:g} s")
    except OSError as err:
        return Ran(126, "", err.strerror or str(err))
    return Ran(done.returncode, done.stdout, done.stderr)


# --- the programs -----------------------------------------------------------------------------


def find_program(variable: str, program: str, expected: str) -> str:
    """The program's path; ParamError when it is missing or not executable."""
    path = shutil.which(program)
    if path is None:
        if os.sep in program and os.path.exists(program):
            raise ParamError(f"{variable} {program!r} is not an executable program (check its permissions)")
        where = "does not exist" if os.sep in program else "was not found on PATH"
        raise ParamError(f"{variable} {program!r} {where}: install FFmpeg (apt-get install ffmpeg) "
                         f"or set {variable} to the path of {expected}")
    return path


def version_command(path: str) -> list[str]:
    return [path, "-version"]


def judge_version(variable: str, program: str, expected: str, ran: Ran) -> None:
    """ParamError unless `program -version` says it is `expected` (ffmpeg, ffprobe)."""
    first = ran.stdout.strip().splitlines()[0] if ran.stdout.strip() else ""
    if ran.returncode != 0 or not first.startswith(f"{expected} version"):
        said = first or tail(ran.stderr, 1) or f"nothing (exit status {ran.returncode})"
        raise ParamError(f"{variable} {program!r} is not {expected}: '{program} -version' said {said!r}")


def check_program(variable: str, program: str, expected: str) -> str:
    """The program's path; ParamError when it is missing, not executable, or not `expected` (ffmpeg, ffprobe)."""
    path = find_program(variable, program, expected)
    judge_version(variable, program, expected, run(version_command(path)))
    return path


def run_all(cmds: Sequence[Sequence[str]]) -> list[Ran]:
    """Run short programs at once (each ffmpeg start costs ~50 ms, mostly waiting for its libraries), in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(cmds))) as pool:
        return list(pool.map(run, cmds))


# --- the encoders -----------------------------------------------------------------------------

KINDS = {"V": "video", "A": "audio", "S": "subtitle"}
_ENCODER_LINE = re.compile(r"^\s*([VAS])[A-Z.]{5}\s+(\S+)")


def parse_encoders(text: str) -> dict[str, str]:
    """`ffmpeg -encoders` output -> {encoder name: "video" | "audio" | "subtitle"}."""
    listed = text.split(" ------", 1)[-1]  # the legend above the rule has the same shape
    return {m.group(2): KINDS[m.group(1)] for m in map(_ENCODER_LINE.match, listed.splitlines()) if m}


def encoders_command(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-hide_banner", "-encoders"]


def judge_encoders(ffmpeg: str, ran: Ran) -> dict[str, str]:
    encoders = parse_encoders(ran.stdout)
    if ran.returncode != 0 or not encoders:
        raise ParamError(f"transcode_ffmpeg {ffmpeg!r} does not list its encoders "
                         f"('-encoders' said {tail(ran.stderr, 1) or 'nothing'!r})")
    return encoders


def check_encoder(variable: str, name: str, kind: str, encoders: dict[str, str]) -> None:
    """The encoder exists in this ffmpeg and encodes `kind` ("video" or "audio")."""
    have = encoders.get(name)
    if have == kind:
        return
    if have is not None:
        raise ParamError(f"{variable} {name!r} is {'an' if have == 'audio' else 'a'} {have} encoder, "
                         f"not {'an' if kind == 'audio' else 'a'} {kind} encoder")
    same_kind = sorted(n for n, k in encoders.items() if k == kind)
    close = difflib.get_close_matches(name, same_kind, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else \
        " ('ffmpeg -encoders' lists the ones it has)"
    raise ParamError(f"{variable} {name!r} is not {'an' if kind == 'audio' else 'a'} {kind} encoder "
                     f"this ffmpeg has{hint}")


def video_test_command(ffmpeg: str, enc: EncodingSettings) -> list[str]:
    """Three small frames through the video encoder with the segment worker's exact settings."""
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", "3",
            "-c:v", enc.video_codec, "-preset", enc.preset, "-crf", enc.crf, "-threads", "1", "-f", "null", "-"]


def audio_test_command(ffmpeg: str, enc: EncodingSettings) -> list[str]:
    """A tenth of a second of silence through the audio encoder with the run's exact settings."""
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "0.1",
            "-c:a", enc.audio_codec, "-b:a", enc.audio_bitrate, "-f", "null", "-"]


def first_errors(stderr: str, lines: int = 2) -> str:
    """ffmpeg's first error lines (the cause comes first, the generic "Error initializing" after it),
    without the context addresses that differ on every run ("[libx264 @ 0x55…]" -> "[libx264]")."""
    kept = [re.sub(r" @ 0x[0-9a-f]+\]", "]", line.strip()) for line in stderr.splitlines() if line.strip()]
    return " | ".join(kept[:lines])[:400]


def check_test_encode(cmd: Sequence[str], settings: str, ran: Optional[Ran] = None) -> None:
    """ParamError quoting ffmpeg's own errors when it refuses `settings` (e.g. a preset the encoder lacks)."""
    ran = ran if ran is not None else run(cmd)
    if ran.returncode != 0:
        said = first_errors(ran.stderr) or f"exit status {ran.returncode}"
        raise ParamError(f"{settings}: a test encode with these settings failed, so the run would too "
                         f"(ffmpeg: {said})")


# --- the folders ------------------------------------------------------------------------------


def nearest_existing(path: str) -> str:
    """The path itself if it exists, else its closest existing ancestor (what makedirs will write in)."""
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_writable(label: str, folder: str) -> None:
    """`folder` exists and takes a new file, or can be created: os.access and a real temporary file,
    since access() alone misses some cases (ACLs, a full or read-only file system)."""
    existing = nearest_existing(folder)
    what = f"{label} {folder!r}" if existing == os.path.abspath(folder) else \
        f"{label} {folder!r} cannot be created: its parent {existing!r}"
    if not os.path.isdir(existing):
        raise ParamError(f"{what} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ParamError(f"{what} is not writable")
    try:
        fd, probe_file = tempfile.mkstemp(prefix=".lab-write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe_file)
    except OSError as err:
        raise ParamError(f"{what} is not writable ({err.strerror or err})") from None


# --- everything but the source ----------------------------------------------------------------


def program_runs(ffmpeg: str, ffprobe: str, encoding: EncodingSettings) -> Optional[list[Ran]]:
    """The five programs preflight judges, run at once (about 0.1 s instead of 0.3 s): both
    -version, -encoders, the video and the audio test encode. None when a program is missing
    (preflight names it)."""
    try:
        ffmpeg_path = find_program("transcode_ffmpeg", ffmpeg, "ffmpeg")
        ffprobe_path = find_program("transcode_ffprobe", ffprobe, "ffprobe")
    except ParamError:
        return None
    return run_all([version_command(ffmpeg_path), version_command(ffprobe_path), encoders_command(ffmpeg_path),
                    video_test_command(ffmpeg_path, encoding), audio_test_command(ffmpeg_path, encoding)])


def preflight(ffmpeg: str, ffprobe: str, encoding: EncodingSettings, *, work_dir: str,
              output_dir: Optional[str] = None, has_audio: bool = True, runs: Optional[list[Ran]] = None) -> None:
    """Every check that needs no source: the programs, the folders, the encoders with their settings.

    output_dir: the folder of a given transcode_output (None when the output goes into the work folder).
    runs: program_runs' results, when the caller started them early (prepare does, beside the probe);
    the verdicts are judged in this order, so the first problem named is always the same."""
    ffmpeg_path = find_program("transcode_ffmpeg", ffmpeg, "ffmpeg")
    find_program("transcode_ffprobe", ffprobe, "ffprobe")
    version, probe_version, listed, video_ran, audio_ran = runs or program_runs(ffmpeg, ffprobe, encoding) or []
    judge_version("transcode_ffmpeg", ffmpeg, "ffmpeg", version)
    judge_version("transcode_ffprobe", ffprobe, "ffprobe", probe_version)
    check_writable("transcode_work_dir", work_dir)
    if output_dir is not None:
        check_writable("transcode_output folder", output_dir)
    encoders = judge_encoders(ffmpeg_path, listed)
    check_encoder("transcode_video_codec", encoding.video_codec, "video", encoders)
    if has_audio:
        check_encoder("transcode_audio_codec", encoding.audio_codec, "audio", encoders)
    check_test_encode(video_test_command(ffmpeg_path, encoding),
                      f"transcode_video_codec={encoding.video_codec} with transcode_preset={encoding.preset} "
                      f"and transcode_crf={encoding.crf}", video_ran)
    if has_audio:
        check_test_encode(audio_test_command(ffmpeg_path, encoding),
                          f"transcode_audio_codec={encoding.audio_codec} with "
                          f"transcode_audio_bitrate={encoding.audio_bitrate}", audio_ran)


# --- the source -------------------------------------------------------------------------------

# ffprobe's words (reading packets, not decoding) for data that is cut short or
# unreadable, most telling first: the reason the message gives is the first one found.
TRUNCATION = ("partial file", "file ended prematurely")
BAD_DATA = ("invalid nal unit size", "missing picture in access unit", "invalid data found when processing input",
            "error while decoding")


def damage_reason(stderr: str) -> Optional[str]:
    """The words in ffprobe's errors that show damaged data, or None when there are none."""
    lines = [re.sub(r"^\[[^]]*\]\s*", "", line.strip()) for line in stderr.splitlines() if line.strip()]
    for pattern in TRUNCATION:
        if any(pattern in line.lower() for line in lines):
            return pattern
    for pattern in BAD_DATA:
        for line in lines:
            if pattern in line.lower():
                return line
    return None


def is_mp4_family(path: str) -> bool:
    """An ISO/QuickTime file by its first box (ftyp), not by its name."""
    try:
        with open(path, "rb") as fh:
            return fh.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


def read_end_s(info: MediaInfo, table: PacketTable) -> Optional[float]:
    """How far into the file ffprobe read: the latest end of any stream's packets, from the file's start."""
    ends = []
    for stream in info.streams:
        measured = span(table.of(int(stream["index"])), fraction(stream.get("time_base")))
        if measured.start_s is not None and measured.duration_s is not None:
            ends.append(measured.start_s + measured.duration_s)
    return max(ends) - (info.start_time_s or 0.0) if ends else None


def damage_of(info: MediaInfo, table: PacketTable) -> Optional[str]:
    """Why the source is damaged, in words, or None when ffprobe read every packet without an error.

    Uses the planner's own packet read (no second pass over the file)."""
    reason = damage_reason(table.errors)
    if reason is None:
        return None
    read_s, declared_s = read_end_s(info, table), info.duration_s
    if read_s is not None and declared_s and read_s < declared_s - 0.05 * declared_s:
        return f"ffprobe could not read past {read_s:.1f} s of {declared_s:.1f} s ({reason})"
    return f"ffprobe reports {reason!r} while reading its packets"


def unopenable_damage(source: str, error: str) -> Optional[str]:
    """When FFmpeg cannot open the source at all: the damage, if it is an MP4/MOV whose index is missing.

    A text file named .mp4 gets the same "moov atom not found": it is not called damaged."""
    if "moov atom not found" in error and is_mp4_family(source):
        return ("its index (the moov atom) is missing, so it was cut short while being recorded or copied "
                "and no player can read it")
    return None


def check_source(source: str, named: str, ffprobe: str) -> None:
    """ParamError naming the video and the damage when the source is truncated or has unreadable data.

    (prepare runs the same checks on the probes it makes anyway.)"""
    try:
        info = probe(source, ffprobe)
        table = probe_packet_table(source, ffprobe)
    except ProbeError as exc:
        damage = unopenable_damage(source, exc.stderr)
        if damage is None:
            return
    else:
        damage = damage_of(info, table)
    if damage is not None:
        raise ParamError(f"video {named!r} is damaged: {damage}; repair or re-export it")
