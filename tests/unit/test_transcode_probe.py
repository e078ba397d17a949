"""ffprobe output parsing: the stream view (JSON) and the packet table (CSV)."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

from labkit.transcode import probe

STREAMS = {
    "streams": [
        {"index": 0, "codec_type": "video", "codec_name": "mjpeg", "disposition": {"attached_pic": 1}},
        {"index": 1, "codec_type": "video", "codec_name": "h264", "width": 320, "height": 240,
         "time_base": "1/15360", "avg_frame_rate": "30/1", "r_frame_rate": "30/1", "duration": "12.000000",
         "disposition": {"attached_pic": 0}},
        {"index": 2, "codec_type": "audio", "codec_name": "aac", "duration": "12.021333"},
        {"index": 3, "codec_type": "audio", "codec_name": "ac3", "duration": "12.0"},
    ],
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "12.021333", "start_time": "1.400000"},
}


def test_streams_pick_the_real_video_not_cover_art() -> None:
    info = probe.parse_streams(json.dumps(STREAMS), "x.mp4")
    assert info.video_index == 1 and info.video_codec == "h264"
    assert info.time_base == Fraction(1, 15360) and info.frame_rate == Fraction(30)
    assert info.width == 320 and info.start_time_s == 1.4 and info.has_video
    assert [probe.stream_kind(s) for s in info.streams] == ["cover", "video", "audio", "audio"]


def test_audio_only_has_no_video() -> None:
    data = {"streams": [STREAMS["streams"][2]], "format": {"duration": "3"}}
    assert not probe.parse_streams(json.dumps(data)).has_video


def test_frame_rate_falls_back_and_rejects_zero() -> None:
    s = dict(STREAMS["streams"][1], avg_frame_rate="0/0", r_frame_rate="25/1")
    info = probe.parse_streams(json.dumps({"streams": [s], "format": {}}))
    assert info.frame_rate == Fraction(25)


# stream_index,pts,dts,duration,size,flags -- as ffprobe writes them (a trailing
# comma where a packet has side data; a side-data line that is not a packet).
TABLE = """\
0,0,-1024,512,900,K__
1,-1024,-1024,1024,6,KD,
0,1536,-512,512,40,___
0,512,0,512,41,___
1,0,0,1024,300,K_
side_data,Skip Samples,
1,1024,1024,N/A,310,K_
"""


def test_the_packet_table_keeps_decode_order_keyframes_and_hidden_packets() -> None:
    table = probe.parse_packet_table(TABLE)
    video, audio = table.video(0), table.of(1)
    assert [p.pts for p in video] == [0, 1536, 512] and [p.key for p in video] == [True, False, False]
    assert [p.shown for p in audio] == [False, True, True] and audio[2].duration == 0
    assert probe.video_duration_from_packets(video, Fraction(1, 15360)) == pytest.approx(2048 / 15360)


def test_a_span_counts_only_shown_packets_and_fills_a_missing_last_duration() -> None:
    audio = probe.parse_packet_table(TABLE).of(1)
    span = probe.span(audio, Fraction(1, 48000))
    # the hidden priming packet is not counted; the last lasts as long as the gap before it
    assert span.packets == 2 and span.start_s == 0.0 and span.duration_s == pytest.approx(2048 / 48000)


def test_a_clip_trimmed_by_an_edit_list_is_measured_from_its_first_shown_frame() -> None:
    rows = [f"0,{pts},{pts},256,10,{'K' if pts == -512 else '_'}{'D' if pts < 0 else '_'}"
            for pts in range(-512, 512, 256)]
    span = probe.span(probe.parse_packet_table("\n".join(rows)).of(0), Fraction(1, 256))
    assert (span.packets, span.start_s, span.duration_s) == (2, 0.0, 2.0)


def test_a_video_packet_without_pts_is_an_error_not_a_silent_drop() -> None:
    table = probe.parse_packet_table("0,0,0,1,9,K_\n0,N/A,5,1,9,__\n1,N/A,0,1,9,K_\n")
    with pytest.raises(probe.ProbeError, match="no presentation timestamp"):
        table.video(0)
    assert table.of(1) == []


def test_unreadable_json_is_a_probe_error() -> None:
    with pytest.raises(probe.ProbeError, match="x.mp4"):
        probe.parse_streams("{nope", "x.mp4")


def test_commands_keep_the_path_as_one_argument_after_double_dash() -> None:
    name = "a b'$(x);é.mp4"
    assert probe.streams_command("ffprobe", name)[-2:] == ["--", name]
    assert probe.packet_table_command("ffprobe", name)[-2:] == ["--", name]
