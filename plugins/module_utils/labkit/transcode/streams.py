"""Which streams of the source the output keeps, and the facts to verify them by.

The output holds the source's first picture stream (re-encoded), then every
kept audio track (each encoded once, on its own), then every kept subtitle
stream (copied, or converted to the output container's text format). Any
stream that cannot be kept is named before any work, with the way to choose
(`transcode_streams`): nothing is dropped silently.

`StreamFacts` is what is measured of one stream, from ffprobe's stream view
and its packet timestamps; the same function measures the source and the
output, so the verification compares like with like.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional, Sequence

from ..text import plural
from .probe import MediaInfo, PacketTable, fraction, span, stream_kind

KINDS = ("audio", "subtitle")

# Subtitle codecs by how they can enter each output container.
TEXT_SUBTITLES = ("subrip", "ass", "ssa", "webvtt", "mov_text", "text")
MP4_SUBTITLES = {"mov_text": "copy", "dvd_subtitle": "copy"}  # the rest of the text ones: converted to mov_text
MATROSKA_SUBTITLES = ("subrip", "ass", "ssa", "webvtt", "dvd_subtitle", "hdmv_pgs_subtitle", "dvb_subtitle")

# The video side data the output carries over (the rest -- HDR mastering metadata,
# Dolby Vision, stereo 3D, spherical -- is lost by a re-encode: refused up front).
CARRIED_SIDE_DATA = ("Display Matrix",)

# Video colour fields a player uses; compared when the source sets them.
COLOUR_FIELDS = ("color_range", "color_space", "color_transfer", "color_primaries")


class StreamChoiceError(ValueError):
    """`transcode_streams` is malformed or names what is not there."""


@dataclass(frozen=True)
class StreamFacts:
    """One stream as measured (source or output)."""

    index: int
    kind: str                      # video, audio, subtitle, data, attachment, cover
    codec: Optional[str]
    language: Optional[str]
    packets: int                   # shown packets (= frames for video)
    start_s: Optional[float]       # first shown packet's time
    duration_s: Optional[float]    # from the packets' timestamps
    rotation: Optional[float] = None            # display matrix rotation, degrees (video)
    side_data: tuple[str, ...] = ()            # stream side data types (video)
    sample_aspect_ratio: Optional[str] = None   # video
    colours: dict[str, str] = field(default_factory=dict)  # video: the COLOUR_FIELDS that are set

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["side_data"] = list(self.side_data)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StreamFacts":
        values = dict(data)
        values["side_data"] = tuple(values.get("side_data") or ())
        values["colours"] = dict(values.get("colours") or {})
        return cls(**values)


def rotation_of(stream: Mapping[str, Any]) -> Optional[float]:
    """The display matrix's rotation (ffprobe's value), or the older `rotate` tag."""
    for side in stream.get("side_data_list") or []:
        if side.get("side_data_type") == "Display Matrix" and side.get("rotation") is not None:
            return float(side["rotation"])
    tag = (stream.get("tags") or {}).get("rotate")
    try:
        return float(tag) if tag is not None else None
    except ValueError:
        return None


def _sar(stream: Mapping[str, Any]) -> Optional[str]:
    value = stream.get("sample_aspect_ratio")
    return None if value in (None, "", "0:1", "1:1", "N/A") else str(value)


def facts(info: MediaInfo, table: PacketTable) -> list[StreamFacts]:
    """Every stream of a file, measured."""
    out = []
    for stream in info.streams:
        index = int(stream["index"])
        kind = stream_kind(stream)
        base = fraction(stream.get("time_base"))
        packets = table.of(index)
        if stream.get("codec_name") == "mov_text":  # a 2-byte sample is an empty cue: a gap between two
            packets = [p for p in packets if p.size > 2]
        measured = span(packets, base)
        extra: dict[str, Any] = {}
        if kind == "video":
            extra = {
                "rotation": rotation_of(stream),
                "side_data": tuple(sorted({str(s.get("side_data_type")) for s in stream.get("side_data_list") or []})),
                "sample_aspect_ratio": _sar(stream),
                "colours": {name: str(stream[name]) for name in COLOUR_FIELDS
                            if stream.get(name) not in (None, "", "unknown", "reserved")},
            }
        out.append(StreamFacts(
            index=index, kind=kind, codec=stream.get("codec_name"),
            language=(stream.get("tags") or {}).get("language"),
            packets=measured.packets, start_s=measured.start_s, duration_s=measured.duration_s, **extra,
        ))
    return out


# --- the choice ---------------------------------------------------------------


@dataclass(frozen=True)
class StreamChoice:
    """`transcode_streams` parsed: which audio and subtitle streams to keep.

    None for a kind: keep all of that kind. An empty tuple: keep none."""

    audio: Optional[tuple[int, ...]]
    subtitle: Optional[tuple[int, ...]]
    text: str

    def keeps(self, kind: str, position: int) -> bool:
        chosen = getattr(self, kind)
        return chosen is None or position in chosen


def parse_choice(text: Any) -> StreamChoice:
    """``all`` (the default), or a comma list of ``video``, ``audio``, ``audio:N``,
    ``subtitle``, ``subtitle:N`` (N counts that kind's streams from 0). A kind
    not named is left out; the video is always kept."""
    raw = "all" if text in (None, "") else str(text).strip()
    if raw == "all":
        return StreamChoice(None, None, raw)
    chosen: dict[str, Optional[list[int]]] = {"audio": [], "subtitle": []}
    for word in (w.strip() for w in raw.split(",")):
        name, _, number = word.partition(":")
        if name == "video" and not number:
            continue
        if name not in KINDS:
            raise StreamChoiceError(
                f"transcode_streams: {word!r} is not one of all, video, audio, audio:N, subtitle, subtitle:N")
        if not number:
            chosen[name] = None
        elif not number.isdigit():
            raise StreamChoiceError(f"transcode_streams: {word!r}: N must be a stream number (0, 1, ...)")
        elif chosen[name] is not None:
            chosen[name].append(int(number))  # type: ignore[union-attr]
    return StreamChoice(*(None if chosen[k] is None else tuple(sorted(set(chosen[k]))) for k in KINDS), raw)


@dataclass(frozen=True)
class Selection:
    """The streams the output keeps, in output order after the video."""

    video: int
    audio: tuple[int, ...]
    subtitles: tuple[tuple[int, str], ...]  # (source index, output codec or "copy")


def subtitle_codec(codec: Optional[str], output_format: str) -> Optional[str]:
    """How a subtitle stream enters the output container: "copy", an encoder, or None (it cannot)."""
    if output_format in ("mp4", "mov"):
        if codec in MP4_SUBTITLES:
            return MP4_SUBTITLES[codec]
        return "mov_text" if codec in TEXT_SUBTITLES else None
    if output_format == "matroska":
        if codec == "mov_text":
            return "subrip"
        return "copy" if codec in MATROSKA_SUBTITLES else None
    return None


def _describe(stream: StreamFacts, position: int) -> str:
    language = f", {stream.language}" if stream.language else ""
    return f"stream {stream.index} ({stream.kind} {position}: {stream.codec or 'unknown codec'}{language})"


def select(streams: Sequence[StreamFacts], video_index: int, choice: StreamChoice, output_format: str) -> Selection:
    """The streams to keep; StreamChoiceError naming every stream that would be
    lost without the user having chosen so, and how to choose."""
    video = next(s for s in streams if s.index == video_index)
    uncarried = [name for name in video.side_data if name not in CARRIED_SIDE_DATA]
    if uncarried:
        raise StreamChoiceError(
            f"the video carries {', '.join(uncarried)}, which a player uses and a re-encode cannot keep "
            f"(only the {', '.join(CARRIED_SIDE_DATA).lower()} is carried over). Nothing is dropped silently: "
            "convert the video first (for HDR, tone-map it to SDR) if that is what you want")
    audio: list[int] = []
    subtitles: list[tuple[int, str]] = []
    lost: list[str] = []
    positions = {"audio": 0, "subtitle": 0}
    counts = {kind: sum(1 for s in streams if s.kind == kind) for kind in KINDS}
    for kind in KINDS:
        chosen = getattr(choice, kind)
        missing = [n for n in chosen or () if n >= counts[kind]]
        if missing:
            raise StreamChoiceError(f"transcode_streams={choice.text!r}: the source has "
                                    f"{plural(counts[kind], kind + ' stream')}, so {kind}:{missing[0]} does not exist")
    for stream in streams:
        if stream.index == video_index:
            continue
        if stream.kind not in KINDS:
            if choice.text == "all":
                lost.append(f"{_describe(stream, 0)} cannot be carried into the output")
            continue
        position = positions[stream.kind]
        positions[stream.kind] += 1
        if not choice.keeps(stream.kind, position):
            continue
        if stream.kind == "audio":
            audio.append(stream.index)
            continue
        how = subtitle_codec(stream.codec, output_format)
        if how is None:
            lost.append(f"{_describe(stream, position)} cannot be stored in a {output_format} file")
        else:
            subtitles.append((stream.index, how))
    if lost:
        kept = ["video"] + [f"audio:{n}" for n in range(counts["audio"])]
        raise StreamChoiceError(
            "the output cannot keep every stream of the source: " + "; ".join(lost) + ". Nothing is dropped "
            "silently: choose the streams to keep with -e transcode_streams=... (e.g. "
            f"{','.join(kept)}), or write a .mkv output (-e transcode_output=....mkv), which holds more kinds")
    return Selection(video_index, tuple(audio), tuple(subtitles))
