"""ffprobe JSON parsing."""
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
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "12.021333"},
}


def test_streams_pick_the_real_video_not_cover_art() -> None:
    info = probe.parse_streams(json.dumps(STREAMS), "x.mp4")
    assert info.video_index == 1 and info.video_codec == "h264"
    assert info.time_base == Fraction(1, 15360) and info.frame_rate == Fraction(30)
    assert info.width == 320 and info.video_duration_s == 12.0
    assert info.audio_index == 2 and info.audio_duration_s == pytest.approx(12.021333)
    assert info.audio_streams == 2 and info.has_audio and info.has_video


def test_audio_only_has_no_video() -> None:
    data = {"streams": [STREAMS["streams"][2]], "format": {"duration": "3"}}
    info = probe.parse_streams(json.dumps(data))
    assert not info.has_video and info.has_audio


def test_frame_rate_falls_back_and_rejects_zero() -> None:
    s = dict(STREAMS["streams"][1], avg_frame_rate="0/0", r_frame_rate="25/1")
    info = probe.parse_streams(json.dumps({"streams": [s], "format": {}}))
    assert info.frame_rate == Fraction(25)


def test_packets_keep_decode_order_and_keyframes() -> None:
    text = json.dumps({"packets": [
        {"pts": 0, "dts": -1024, "duration": 512, "flags": "K__"},
        {"pts": 1536, "dts": -512, "duration": 512, "flags": "___"},
        {"pts": 512, "dts": 0, "duration": 512, "flags": "___"},
    ]})
    pk = probe.parse_packets(text)
    assert [p.pts for p in pk] == [0, 1536, 512]
    assert [p.key for p in pk] == [True, False, False]
    assert probe.video_duration_from_packets(pk, Fraction(1, 15360)) == pytest.approx(2048 / 15360)


def test_packet_without_pts_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(probe.ProbeError, match="packet 1"):
        probe.parse_packets(json.dumps({"packets": [{"pts": 0, "flags": "K"}, {"dts": 5, "flags": "_"}]}))


def test_unreadable_json_is_a_probe_error() -> None:
    with pytest.raises(probe.ProbeError, match="x.mp4"):
        probe.parse_streams("{nope", "x.mp4")


def test_commands_keep_the_path_as_one_argument_after_double_dash() -> None:
    name = "a b'$(x);é.mp4"
    cmd = probe.streams_command("ffprobe", name)
    assert cmd[-2:] == ["--", name]
    assert probe.packets_command("ffprobe", name, "1")[-1] == name
