"""Planning of segments: keyframe boundaries, exact frame sets with open GOPs, names, order."""
from __future__ import annotations

from fractions import Fraction

import pytest

from labkit.transcode import commands, plan
from labkit.transcode.probe import Packet, ProbeError

TB = Fraction(1, 30)  # one tick per frame keeps the arithmetic readable


def open_gop_stream(gops: int, gop: int = 6) -> list[Packet]:
    """Decode-order packets like x264 with open GOPs: after every keyframe but
    the first come two leading B-frames displayed *before* it."""
    packets: list[Packet] = []
    for g in range(gops):
        k = g * gop
        packets.append(Packet(pts=k, dts=None, duration=1, key=True))
        if g > 0:  # leading B-frames of an open GOP: belong to the previous GOP's time span
            packets += [Packet(pts=k - 2, dts=None, duration=1, key=False), Packet(pts=k - 1, dts=None, duration=1, key=False)]
        last = k + gop - 3 if g < gops - 1 else k + gop - 1
        packets += [Packet(pts=t, dts=None, duration=1, key=False) for t in range(k + 1, last + 1)]
    return packets


def test_every_frame_lands_in_exactly_one_segment_with_open_gops() -> None:
    pk = open_gop_stream(5)
    assert len(pk) == 30 and sorted(p.pts for p in pk) == list(range(30))
    segs = plan.plan_segments(pk, TB, segment_seconds=0.4)  # 12 ticks -> every second keyframe
    assert [s.start_pts for s in segs] == [0, 12, 24]
    assert [s.frames for s in segs] == [12, 12, 6]
    assert sum(s.frames for s in segs) == 30
    # chunk of segment 0: keyframe 0 ... through the leading B-frames after keyframe 12
    assert segs[0].seek_s is None
    assert segs[0].chunk_packets == pk.index(Packet(11, None, 1, False)) + 1
    assert segs[1].seek_s == pytest.approx(12 / 30 - 1 / 60)


def test_boundaries_wait_for_the_next_keyframe() -> None:
    pk = open_gop_stream(4, gop=10)
    assert plan.choose_boundaries(pk, TB, 0.5) == [0, 20]  # 15 ticks -> keyframe 20
    assert plan.choose_boundaries(pk, TB, 100) == [0]


def test_one_segment_when_the_video_is_shorter_than_a_segment() -> None:
    pk = open_gop_stream(2)
    segs = plan.plan_segments(pk, TB, 10)
    assert len(segs) == 1 and segs[0].frames == len(pk) and segs[0].end_pts is None
    assert segs[0].duration_s == pytest.approx(len(pk) / 30)


def test_names_are_zero_padded_and_sort_numerically() -> None:
    names = [plan.segment_name(i, 12000) for i in range(0, 12000, 997)]
    assert names == sorted(names)
    assert plan.segment_name(3, 10) == "seg_0003.mp4"
    assert plan.segment_name(3, 123456) == "seg_000003.mp4"


def test_longest_first_then_by_index() -> None:
    pk = open_gop_stream(5)
    segs = plan.plan_segments(pk, TB, 0.2)  # boundaries every keyframe: 6,6,6,6,6 frames
    order = plan.longest_first(segs)
    assert [s.index for s in order] == sorted(s.index for s in segs)
    segs2 = plan.plan_segments(pk, TB, 0.4)
    assert [s.frames for s in plan.longest_first(segs2)] == [12, 12, 6]


def test_stream_not_starting_with_a_keyframe_is_refused() -> None:
    pk = [Packet(0, None, 1, False), Packet(1, None, 1, True)]
    with pytest.raises(ProbeError, match="keyframe"):
        plan.plan_segments(pk, TB, 1)


def test_bad_segment_seconds() -> None:
    with pytest.raises(ValueError, match="segment_seconds"):
        plan.plan_segments(open_gop_stream(2), TB, 0)


def test_thread_budget_and_worker_count() -> None:
    assert plan.thread_budget(8, 2) == 4
    assert plan.thread_budget(2, 4) == 1
    assert plan.worker_count(8, 3) == 3
    assert plan.worker_count(1, 3) == 1


def test_tolerance_is_half_the_smallest_frame_gap() -> None:
    pk = [Packet(0, None, 512, True), Packet(512, None, 512, False), Packet(1024, None, 512, False)]
    assert plan.frame_tolerance(pk, Fraction(1, 15360)) == Fraction(256, 15360)


def test_pieces_and_chunks_give_each_segment_the_next_first_gop() -> None:
    pk = open_gop_stream(5)
    segs = plan.plan_segments(pk, TB, 0.4)
    keys = [p.pts for p in pk if p.key]
    cuts = commands.piece_cuts(segs, keys)
    assert cuts == [12, 18, 24]
    chunks = commands.chunk_pieces(segs, cuts)
    # pieces: 0=[0,12) 1=[12,18) 2=[18,24) 3=[24,end)
    assert chunks == {0: [0, 1], 1: [1, 2, 3], 2: [3]}
    times = commands.cut_times(cuts, TB, Fraction(1, 60))
    assert times[0] == pytest.approx(12 / 30 - 1 / 60)


def test_concat_list_is_in_numeric_order_with_exact_durations() -> None:
    segs = plan.plan_segments(open_gop_stream(5), TB, 0.4)
    text = commands.concat_list(list(reversed(segs)))
    lines = text.splitlines()
    assert lines[0] == "ffconcat version 1.0"
    assert lines[1] == "file 'seg_0000.mp4'" and lines[2] == "duration 0.400000"
    assert lines[-2] == "file 'seg_0002.mp4'"


def test_a_clip_trimmed_by_an_edit_list_plans_only_the_frames_a_player_shows() -> None:
    """`ffmpeg -ss 0.3 -i in.mp4 -c copy`: the GOP's first 9 frames are kept but hidden."""
    pk = [Packet(pts=t - 9, dts=None, duration=1, key=t % 15 == 0, shown=t >= 9) for t in range(45)]
    segs = plan.plan_segments(pk, TB, segment_seconds=0.5)
    assert sum(s.frames for s in segs) == 36  # 45 stored, 36 shown
    assert [s.start_pts for s in segs] == [0, 21]  # the first shown frame, then a shown keyframe
    assert [s.frames for s in segs] == [21, 15]
    # segment 0's chunk still starts at the hidden keyframe: the worker skips 9 frames' time into it
    assert segs[0].chunk_packets == 30 and segs[0].lead_s == pytest.approx(9 / 30)
    assert segs[1].lead_s == 0.0


def test_psnr_is_read_from_ffmpeg_s_log_and_infinity_is_a_number() -> None:
    log = "[Parsed_psnr_4 @ 0x1] PSNR y:40.1 u:44.0 v:44.2 average:41.62 min:41.62 max:41.62\n"
    assert commands.psnr_of(log) == 41.62
    assert commands.psnr_of("PSNR y:inf u:inf v:inf average:inf min:inf max:inf") == 100.0
    assert commands.psnr_of("no psnr here") is None


def test_the_mux_places_each_track_at_its_source_offset_without_negative_times() -> None:
    inputs = commands.MuxInputs(audio=[("/w/audio_0.mka", 0.478), ("/w/audio_1.mka", -0.3)],
                                subtitles=[(4, "mov_text")], subtitle_source="/v/a b.mp4", subtitle_origin_s=-1.4,
                                rotation=-90.0, rotation_option=False)
    cmd = commands.mux_command("ffmpeg", "/w/list", inputs, "/o.mp4", "mp4")
    # audio 1 starts 0.3 s before the video: the video moves 0.3 s later instead of cutting the audio
    assert cmd[cmd.index("concat") - 3:cmd.index("concat")] == ["-itsoffset", "0.300000", "-f"]
    assert cmd[cmd.index("/w/audio_0.mka") - 3:cmd.index("/w/audio_0.mka")] == ["-itsoffset", "0.778000", "-i"]
    assert cmd[cmd.index("/w/audio_1.mka") - 1] == "-i"  # 0 s: no offset needed
    assert cmd[cmd.index("/v/a b.mp4") - 3:cmd.index("/v/a b.mp4")] == ["-itsoffset", "-1.100000", "-i"]
    maps = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-map"]
    assert maps == ["0:v:0", "1:a:0", "2:a:0", "3:4"]
    assert cmd[cmd.index("-c:s:0") + 1] == "mov_text" and "rotate=270" in cmd
    with_option = commands.mux_command("ffmpeg", "/w/list", commands.MuxInputs(rotation=90.0, rotation_option=True),
                                       "/o.mp4", "mp4")
    assert with_option[with_option.index("-display_rotation:v:0") + 1] == "90" and "-metadata:s:v:0" not in with_option


def test_every_audio_track_is_encoded_by_one_ffmpeg_reading_the_source_once() -> None:
    cmd = commands.audio_command("ffmpeg", "/v/in.mkv", [(1, "/w/audio_0.mka.part"), (3, "/w/audio_1.mka.part")],
                                 "aac", "128k")
    assert cmd.count("-i") == 1 and cmd.count("/v/in.mkv") == 1
    assert [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-map"] == ["0:1", "0:3"]
    assert cmd[-1] == "/w/audio_1.mka.part" and cmd.count("matroska") == 2
