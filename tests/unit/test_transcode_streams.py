"""Which streams the output keeps, and how each is measured."""
from __future__ import annotations

import json

import pytest

from labkit.transcode import probe, streams
from labkit.transcode.streams import StreamChoiceError, StreamFacts, parse_choice, select


def facts(index: int, kind: str, codec: str, language: str | None = None) -> StreamFacts:
    return StreamFacts(index=index, kind=kind, codec=codec, language=language, packets=1, start_s=0.0,
                       duration_s=1.0)


PHONE = [facts(0, "video", "h264"), facts(1, "audio", "aac", "eng"), facts(2, "audio", "ac3", "fra"),
         facts(3, "subtitle", "subrip", "eng"), facts(4, "subtitle", "hdmv_pgs_subtitle", "deu")]


def test_all_keeps_every_track_and_converts_text_subtitles_for_mp4() -> None:
    chosen = select(PHONE[:4], 0, parse_choice("all"), "mp4")
    assert chosen.audio == (1, 2) and chosen.subtitles == ((3, "mov_text"),)
    assert select(PHONE, 0, parse_choice(""), "matroska").subtitles == ((3, "copy"), (4, "copy"))
    mov_text = [facts(0, "video", "h264"), facts(1, "subtitle", "mov_text")]
    assert select(mov_text, 0, parse_choice("all"), "matroska").subtitles == ((1, "subrip"),)


def test_a_stream_the_output_cannot_hold_is_named_before_any_work_with_the_way_out() -> None:
    with pytest.raises(StreamChoiceError) as err:
        select(PHONE + [facts(5, "data", "bin_data")], 0, parse_choice("all"), "mp4")
    text = str(err.value)
    assert "stream 4 (subtitle 1: hdmv_pgs_subtitle, deu) cannot be stored in a mp4 file" in text
    assert "stream 5 (data" in text and "transcode_streams" in text and ".mkv" in text


def test_a_choice_keeps_what_it_names_and_leaves_out_the_rest() -> None:
    chosen = select(PHONE + [facts(5, "data", "bin_data")], 0, parse_choice("video,audio:1,subtitle:0"), "mp4")
    assert chosen.audio == (2,) and chosen.subtitles == ((3, "mov_text"),)
    assert select(PHONE, 0, parse_choice("video"), "mp4").audio == ()
    assert select(PHONE, 0, parse_choice("audio"), "mp4") == streams.Selection(0, (1, 2), ())


@pytest.mark.parametrize("text, message", [
    ("audio:x", "N must be a stream number"),
    ("sound", "'sound' is not one of"),
    ("audio:2", "the source has 2 audio streams, so audio:2 does not exist"),
])
def test_a_bad_choice_is_named(text: str, message: str) -> None:
    with pytest.raises(StreamChoiceError, match=message):
        select(PHONE, 0, parse_choice(text), "matroska")


def test_facts_measure_starts_rotation_and_skip_empty_mov_text_cues() -> None:
    info = probe.parse_streams(json.dumps({"streams": [
        {"index": 0, "codec_type": "video", "codec_name": "h264", "time_base": "1/30", "sample_aspect_ratio": "1:1",
         "color_primaries": "bt709", "color_transfer": "unknown",
         "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]},
        {"index": 1, "codec_type": "audio", "codec_name": "aac", "time_base": "1/1000", "tags": {"language": "eng"}},
        {"index": 2, "codec_type": "subtitle", "codec_name": "mov_text", "time_base": "1/1000"},
    ], "format": {}}))
    table = probe.parse_packet_table("0,0,0,1,9,K_\n0,1,1,1,9,__\n1,478,478,21,9,K_\n"
                                     "2,0,0,500,2,K_\n2,500,500,1500,7,K_\n2,2000,2000,1000,2,K_\n")
    video, audio, subs = streams.facts(info, table)
    assert (video.packets, video.rotation, video.side_data, video.sample_aspect_ratio) == (
        2, -90.0, ("Display Matrix",), None)
    assert video.colours == {"color_primaries": "bt709"}
    assert (audio.start_s, audio.language) == (0.478, "eng")
    assert (subs.packets, subs.start_s) == (1, 0.5)
    assert StreamFacts.from_dict(video.to_dict()) == video


def test_video_side_data_a_re_encode_would_lose_is_refused_up_front() -> None:
    hdr = [StreamFacts(index=0, kind="video", codec="hevc", language=None, packets=1, start_s=0.0, duration_s=1.0,
                       side_data=("Display Matrix", "Mastering display metadata"))]
    with pytest.raises(StreamChoiceError, match="carries Mastering display metadata, which a player uses"):
        select(hdr, 0, parse_choice("all"), "mp4")
    rotated = [StreamFacts(index=0, kind="video", codec="h264", language=None, packets=1, start_s=0.0,
                           duration_s=1.0, rotation=90.0, side_data=("Display Matrix",))]
    assert select(rotated, 0, parse_choice("all"), "mp4") == streams.Selection(0, (), ())
