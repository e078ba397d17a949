"""labkit.results: RESULT lines, seed 001's legacy lines, the legacy block and legacy runs."""
from __future__ import annotations

import json

import pytest

from labkit import metrics, results


def pi_record(index=0, count=2, **changes):
    record = {
        "schema": 1, "workload": "pi", "run_id": "pi-r1", "index": index, "count": count,
        "node": "raspi-2025-gray", "t_start_ns": 1_700_000_000_000_000_000,
        "t_end_ns": 1_700_000_002_500_000_000, "compute_s": 2.5,
        "samples": 1_000_000, "inside": 785_398, "seed": 1, "kernel": "python",
    }
    record.update(changes)
    return record


def transcode_record(**changes):
    record = {
        "schema": 1, "workload": "transcode", "run_id": "tc-r1", "index": 3, "count": 8,
        "node": "local", "t_start_ns": 10, "t_end_ns": 20, "compute_s": 1.0e-8,
        "segment": "seg_0003.mkv", "frames_in": 250, "frames_out": 250, "media_s": 10.0, "bytes_out": 12345,
    }
    record.update(changes)
    return record


def test_format_and_parse_round_trip():
    line = results.format_result_line(pi_record())
    assert line.startswith('RESULT {"schema":1,"workload":"pi",')
    assert "\n" not in line and ", " not in line  # compact: no spaces after separators
    outcome = results.parse_result_lines(line + "\n")
    assert outcome.records == [pi_record()]
    assert outcome.malformed == 0 and outcome.other == 0 and outcome.legacy == []


def test_mixed_output_with_kubectl_prefixes_and_malformed_lines():
    good_pi = results.format_result_line(pi_record(index=1))
    good_tc = results.format_result_line(transcode_record())
    text = "\n".join([
        "Starting worker...",                                   # other
        f"[pod/pi-job-0-abc/pi] {good_pi}",                     # prefixed, good
        good_tc,                                                # good transcode
        "RESULT {not json",                                     # malformed: bad JSON
        "RESULT " + json.dumps(pi_record(schema=2)),            # malformed: schema
        "RESULT " + json.dumps({k: v for k, v in pi_record().items() if k != "inside"}),  # missing pi field
        "RESULT " + json.dumps(pi_record(index="0")),           # wrong type
        "RESULT " + json.dumps(pi_record(index=2, count=2)),    # index out of range
        "RESULT " + json.dumps(pi_record(t_end_ns=True)),       # bool is not an int
        "RESULTS are printed below",                            # other (not the RESULT token)
        "",                                                     # blank: ignored, not counted
        "[pod/x/y] plain log line",                             # other
    ])
    outcome = results.parse_result_lines(text)
    assert [r["workload"] for r in outcome.records] == ["pi", "transcode"]
    assert outcome.records[0]["index"] == 1
    assert outcome.malformed == 6
    # only the first five are kept as examples, with line numbers and reasons
    assert len(outcome.malformed_examples) == 5
    assert outcome.malformed_examples[0]["line_no"] == 4
    assert "bad JSON" in outcome.malformed_examples[0]["reason"]
    assert "schema" in outcome.malformed_examples[1]["reason"]
    assert "inside" in outcome.malformed_examples[2]["reason"]
    assert "index" in outcome.malformed_examples[3]["reason"]
    assert outcome.other == 3
    as_dict = outcome.as_dict()
    assert as_dict["malformed"] == 6 and as_dict["other"] == 3
    json.dumps(as_dict)


def test_transcode_specific_fields_required():
    bad = {k: v for k, v in transcode_record().items() if k != "frames_out"}
    outcome = results.parse_result_lines("RESULT " + json.dumps(bad))
    assert outcome.records == [] and outcome.malformed == 1
    assert "frames_out" in outcome.malformed_examples[0]["reason"]


def test_transcode_last_segment_may_have_unknown_media_duration():
    # the last segment runs to the end of its chunk: the worker prints "media_s":null
    outcome = results.parse_result_lines(results.format_result_line(transcode_record(media_s=None)))
    assert outcome.malformed == 0 and outcome.records[0]["media_s"] is None
    # but other fields stay required and typed
    outcome = results.parse_result_lines(results.format_result_line(transcode_record(frames_in=None)))
    assert outcome.malformed == 1 and "frames_in" in outcome.malformed_examples[0]["reason"]


def test_pi_inside_cannot_exceed_samples():
    outcome = results.parse_result_lines("RESULT " + json.dumps(pi_record(inside=2_000_000)))
    assert outcome.malformed == 1


SEED_LOG = """\
Node raspi-2025-gray: π ≈ 3.141764, Time: 5.61s
[pod/pi-calculation-job-abcde/pi-calculator] Node raspi-2025-black: π ≈ 3.141122, Time: 5.72s
Node raspi-2025-blue: π ≈ 3.142010, Time: 5.77s
Node raspi-2025-red: π ≈ 3.14x, Time: 5.70s
Node raspi-2025-white: pi = 3.1, Time: fast
"""


def test_legacy_lines_parsed_and_flagged():
    outcome = results.parse_result_lines(SEED_LOG)
    assert outcome.records == []
    assert outcome.legacy == [
        {"node": "raspi-2025-gray", "estimate": 3.141764, "time_s": 5.61, "legacy": True},
        {"node": "raspi-2025-black", "estimate": 3.141122, "time_s": 5.72, "legacy": True},
        {"node": "raspi-2025-blue", "estimate": 3.142010, "time_s": 5.77, "legacy": True},
    ]
    # two legacy-looking lines with numbers that do not parse
    assert outcome.malformed == 2
    assert outcome.malformed_examples[0]["line_no"] == 4
    assert outcome.other == 0


def test_legacy_block_seed_001_example():
    # seed 001: 3 pods at about 5.7 s, T_S = 1.52 s on the Mac
    records = [{"node": n, "estimate": 3.14, "time_s": 5.7} for n in ("gray", "black", "blue")]
    block = results.legacy_block(records, 1.52)
    assert block["nodes"] == 3
    assert block["mean_time_s"] == pytest.approx(5.7)
    # seed speed-up 1.52/5.7 = 0.26667 ; efficiency 0.26667/3 = 0.08889
    assert block["seed_speedup"] == pytest.approx(0.266667, rel=1e-5)
    assert block["seed_efficiency"] == pytest.approx(0.088889, rel=1e-5)
    # the seed's "linear ratio" N*T_P/T_S = 3*5.7/1.52 = 17.1/1.52 = 11.25
    assert block["seed_linear_ratio"] == pytest.approx(11.25)
    # honest: N*T_ref/T(N) = 3*1.52/5.7 = 4.56/5.7 = 0.8
    assert block["throughput_vs_reference"] == pytest.approx(0.8)
    assert "0.8" in block["explanation"] and "11.25" in block["explanation"]
    json.dumps(block)


def test_legacy_block_uses_slowest_pod_for_throughput():
    # times 5.61, 5.72, 5.77: mean 17.1/3 = 5.7 ; slowest 5.77
    records = results.parse_result_lines(SEED_LOG).legacy
    block = results.legacy_block(records, 1.52)
    assert block["mean_time_s"] == pytest.approx(5.7)
    assert block["seed_linear_ratio"] == pytest.approx(11.25)
    # 3*1.52/5.77 = 4.56/5.77 = 0.790295
    assert block["throughput_vs_reference"] == pytest.approx(0.790295, rel=1e-5)
    assert block["throughput_vs_reference"] == pytest.approx(metrics.throughput_vs_reference(3, 1.52, 5.77))


def test_legacy_block_without_reference():
    block = results.legacy_block([{"node": "a", "estimate": 3.1, "time_s": 2.0}], None)
    assert block["nodes"] == 1 and block["mean_time_s"] == 2.0
    assert block["reference_s"] is None
    for name in ("seed_speedup", "seed_efficiency", "seed_linear_ratio", "throughput_vs_reference"):
        assert block[name] is None
    assert "No reference time" in block["explanation"]
    empty = results.legacy_block([], 1.52)
    assert empty["nodes"] == 0 and empty["mean_time_s"] is None and empty["throughput_vs_reference"] is None


def test_legacy_runs_feed_analyse():
    records = results.parse_result_lines(SEED_LOG).legacy
    runs = results.legacy_runs(records, "pi-legacy-import")
    assert len(runs) == 1
    run = runs[0]
    assert run["mode"] == "legacy" and run["workers"] == 3 and run["work"] is None
    assert run["t_e2e_s"] == 5.77
    assert [r["compute_s"] for r in run["results"]] == [5.61, 5.72, 5.77]
    analysis = metrics.analyse(runs)
    row = analysis["summary"][0]
    assert row["mode"] == "legacy" and row["workers"] == 3 and row["runs"] == 1
    assert row["t_median_s"] == 5.77
    assert row["speedup"] is None and row["throughput"] is None
    # LB = mean/max = 5.7/5.77 = 0.987868
    assert row["load_balance"] == pytest.approx(5.7 / 5.77)
    assert results.legacy_runs([], "x") == []


def test_kubectl_timestamps_and_prefix_are_read():
    line = results.format_result_line(pi_record(index=1))
    text = "\n".join([
        f"2026-11-26T12:00:00.123456789Z {line}",                     # kubectl logs --timestamps
        f"[pod/pi-job-1-x/pi] 2026-11-26T12:00:01.5+01:00 {line}",      # --prefix --timestamps
        "2026-11-26T12:00:02Z Node raspi-1: π ≈ 3.1415, Time: 5.6s",   # a seed line with a time
    ])
    outcome = results.parse_result_lines(text)
    assert len(outcome.records) == 2 and len(outcome.legacy) == 1
    assert outcome.malformed == 0 and outcome.other == 0


def test_every_skipped_line_is_kept_with_its_number_and_reason():
    text = "\n".join([
        'Error from server (NotFound): pods "pi-job-2-abc" not found',
        "RESULT {not json",
        "Starting worker...",
    ])
    outcome = results.parse_result_lines(text)
    assert [(s["line_no"], s["kind"]) for s in outcome.skipped] == [
        (1, "not recognised"), (2, "malformed"), (3, "not recognised")]
    assert "kubectl error" in outcome.skipped[0]["reason"]
    assert "bad JSON" in outcome.skipped[1]["reason"]
    assert "not a RESULT line" in outcome.skipped[2]["reason"]
    assert outcome.as_dict()["skipped"] == outcome.skipped


def test_the_legacy_explanation_counts_one_pod_in_the_singular():
    one = results.legacy_block([{"node": "a", "estimate": 3.1, "time_s": 2.0}], 1.52)["explanation"]
    assert one.startswith("The one pod ran the full workload on its own; nothing was split. It took 2 s.")
    assert "1 pods" not in one and "finished 1× the reference's work when its pod finished" in one
    two = results.legacy_block([{"node": n, "estimate": 3.1, "time_s": 2.0} for n in "ab"], None)["explanation"]
    assert two.startswith("Each of the 2 pods ran the full workload on its own, concurrently")
