"""Quality at the seams: the stats files of ffmpeg's psnr and ssim filters, where the seams are,
the penalty there, the keyframes the seams forced, and the chart."""
from __future__ import annotations

import pytest

from labkit.report import charts
from labkit.transcode import seams

PSNR_LOG = """n:1 mse_avg:2.03 mse_y:2.50 mse_u:1.10 mse_v:1.07 psnr_avg:45.06 psnr_y:44.15 psnr_u:47.71 psnr_v:47.84
n:2 mse_avg:0.00 mse_y:0.00 mse_u:0.00 mse_v:0.00 psnr_avg:inf psnr_y:inf psnr_u:inf psnr_v:inf
n:3 mse_avg:3.10 mse_y:3.20 mse_u:2.90 mse_v:3.00 psnr_avg:43.22 psnr_y:43.08 psnr_u:43.50 psnr_v:43.36
"""
SSIM_LOG = """n:1 Y:0.991 U:0.993 V:0.994 All:0.992000 (20.969)
n:2 Y:1.000 U:1.000 V:1.000 All:1.000000 (inf)
n:3 Y:0.980 U:0.985 V:0.986 All:0.983000 (17.696)
"""


def test_the_stats_files_give_one_value_per_frame_in_order() -> None:
    assert seams.parse_psnr_log(PSNR_LOG) == [45.06, seams.IDENTICAL_DB, 43.22]
    assert seams.parse_ssim_log(SSIM_LOG) == [0.992, 1.0, 0.983]
    shuffled = "\n".join(reversed(PSNR_LOG.strip().splitlines()))
    assert seams.parse_psnr_log(shuffled) == [45.06, seams.IDENTICAL_DB, 43.22]
    assert seams.parse_psnr_log("") == []


def test_the_seams_are_where_the_plan_starts_each_segment_after_the_first() -> None:
    assert seams.boundaries([25, 25, 25, 10]) == [25, 50, 75]
    assert seams.boundaries([100]) == []
    assert seams.seam_frames([2, 8], total=10, width=3) == {2, 3, 4, 8, 9}


def test_the_penalty_is_the_seams_mean_minus_the_rest() -> None:
    values = [40.0] * 20
    values[10:12] = [34.0, 36.0]  # a dip right after the seam at 10
    assert seams.penalty(values, [10], width=2) == pytest.approx(35.0 - 40.0)
    assert seams.penalty(values, [], width=2) is None


def test_forced_keyframes_are_weighed_against_the_encoders_own() -> None:
    packets = [(True, 9000), (False, 1000), (True, 7000), (False, 1000), (True, 12000), (False, 1000)]
    found = seams.keyframe_bytes(packets, [4])
    assert found == {"forced_keyframe_bytes": 12000, "other_keyframe_bytes": 8000, "frame_bytes": 31000 / 6}


def test_the_block_and_its_sentence() -> None:
    psnr = [40.0] * 50
    psnr[25:30] = [38.0] * 5
    block = seams.analyse(psnr, [0.99] * 50, [25, 25], [(i in (0, 25), 5000 if i in (0, 25) else 800)
                                                        for i in range(50)])
    assert block["boundaries"] == [25] and block["frames"] == 50
    assert block["psnr_penalty_db"] == pytest.approx(-2.0) and block["ssim_penalty"] == pytest.approx(0.0)
    text = seams.summary(block)
    assert text.startswith("1 seam. The first 5 frames") and "PSNR -2.00 dB" in text
    assert "5.0 kB against 5.0 kB" in text
    assert "no seam" in seams.summary(seams.analyse([40.0] * 5, [0.99] * 5, [5]))


def test_the_chart_marks_every_seam_and_keeps_a_long_videos_dips() -> None:
    psnr = [40.0] * 5000
    psnr[2501] = 20.0
    block = {"psnr_db": psnr, "boundaries": [2500], "ssim": []}
    svg = charts.seams_chart(block, "psnr_db")
    assert svg and "first frame after a seam" in svg and "lowest of each run of frames" in svg
    points = charts._lowest_per_bucket(psnr)
    assert len(points) <= charts.MAX_QUALITY_POINTS and (2501.0, 20.0) in points
    assert charts.seams_chart(block, "ssim") is None
