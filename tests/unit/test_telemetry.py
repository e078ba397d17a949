"""labkit.telemetry: the sampler's readings, energy, throttle events and stragglers in words."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import telemetry
from labkit.report import charts

REPO = Path(__file__).resolve().parents[2]
SAMPLER = REPO / "plugins" / "workers" / "node_sampler.py"
S = 1_000_000_000  # nanoseconds in a second

# As a Raspberry Pi 5 prints it (firmware 2024), shortened to four rails.
PMIC = """\
     VDD_CORE_A current(7)=2.50000000A
      3V3_SYS_A current(1)=0.50000000A
      DDR_VDD2_A current(2)=0.02000000A
     VDD_CORE_V volt(15)=0.80000000V
      3V3_SYS_V volt(9)=3.30000000V
       HDMI_V volt(23)=5.10000000V
       EXT5V_V volt(24)=5.12000000V
"""


def sample(t_s: float, **values: object) -> dict:
    row = {key: None for key in telemetry.FIELDS}
    row.update(values, t_ns=int(t_s * S))
    return row


def trace(node: str, samples: list[dict], interval: float = 1.0) -> telemetry.NodeTrace:
    return telemetry.NodeTrace(node=node, samples=samples, interval_s=interval)


def run(run_id: str, workers: list[tuple[str, float, float, int]], mode: str = "strong", repetition: int = 1,
        **extra: object) -> dict:
    """A run record whose workers are (host, start s, end s, samples)."""
    return {"run_id": run_id, "mode": mode, "workers": len(workers), "repetition": repetition, "warmup": False,
            "valid": True, "work": sum(w[3] for w in workers), **extra,
            "results": [{"host": host, "t_start_ns": int(a * S), "t_end_ns": int(b * S), "samples": n, "index": i}
                        for i, (host, a, b, n) in enumerate(workers)]}


# ---- readings -------------------------------------------------------------------------------------

def test_pmic_power_sums_every_rail_with_a_current_and_a_voltage() -> None:
    total, cpu = telemetry.parse_pmic(PMIC)
    assert total == pytest.approx(2.5 * 0.8 + 0.5 * 3.3)  # DDR_VDD2 has no voltage line, HDMI and EXT5V no current
    assert cpu == pytest.approx(2.0)
    assert telemetry.parse_pmic("") == (None, None)
    assert telemetry.parse_pmic("error=1 error_msg=\"Command not registered\"") == (None, None)


def test_arm_clock_in_mhz() -> None:
    assert telemetry.parse_arm_mhz("frequency(0)=1500345728") == pytest.approx(1500.345728)
    assert telemetry.parse_arm_mhz("frequency(48)=2400000000\n") == 2400.0
    assert telemetry.parse_arm_mhz(None) is None and telemetry.parse_arm_mhz("nonsense") is None


def test_the_sampler_output_becomes_samples_of_one_shape() -> None:
    lines = [
        {"start": {"t_ns": 10 * S, "interval_s": 0.5, "cores": 4, "cpu_s": 0.05}},
        {"t_ns": 10 * S, "temp_mc": 51234, "cpufreq_khz": 1500000, "cpu": [100, 1000],
         "throttled": "throttled=0x0", "arm": "frequency(0)=1800000000", "pmic": PMIC},
        {"t_ns": 11 * S, "temp_mc": None, "cpufreq_khz": None, "cpuinfo_mhz": 2994.5, "cpu": [250, 1200],
         "throttled": "throttled=0x50005", "arm": None, "pmic": None},
        {"end": {"t_ns": 12 * S, "cpu_s": 0.07, "samples": 2, "wall_s": 2.0}},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + '\n{"t_ns": 12000000000, "temp_m'  # cut short
    parsed = telemetry.parse_sampler_output(text, "pi-1")
    first, second = parsed.samples
    assert first == {"t_ns": 10 * S, "temp_c": 51.234, "arm_mhz": 1800.0, "throttled": 0, "load": None,
                     "power_w": pytest.approx(3.65), "cpu_power_w": pytest.approx(2.0)}
    # Load: 150 of 200 jiffies busy on 4 cores; the clock from /proc/cpuinfo without vcgencmd or cpufreq.
    assert second == {"t_ns": 11 * S, "temp_c": None, "arm_mhz": 2994.5, "throttled": 0x50005, "load": 3.0,
                      "power_w": None, "cpu_power_w": None}
    assert parsed.interval_s == 0.5 and parsed.cores == 4
    assert parsed.cpu_s == pytest.approx(0.02) and parsed.cost == pytest.approx(0.01)  # start-up not counted
    assert parsed.readings == ["temp_c", "arm_mhz", "throttled", "load", "power_w", "cpu_power_w"]


def test_the_sampler_samples_until_stopped_and_says_what_it_cost(tmp_path: Path) -> None:
    stub = tmp_path / "vcgencmd"
    stub.write_text("#!/bin/sh\ncase \"$1\" in get_throttled) echo throttled=0x0 ;; measure_clock) "
                    "echo 'frequency(0)=1500000000' ;; *) exit 1 ;; esac\n")
    stub.chmod(0o755)
    out = tmp_path / "samples.jsonl"
    proc = subprocess.Popen([sys.executable, str(SAMPLER), "--out", str(out), "--interval", "0.1",
                             "--vcgencmd", str(stub)])
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["start"]["vcgencmd"] == ["throttled", "arm"]  # no pmic_read_adc in the stub
    assert "end" in lines[-1] and lines[-1]["end"]["samples"] == len(lines) - 2 >= 5
    parsed = telemetry.parse_sampler_output(out.read_text(), "here")
    assert {s["arm_mhz"] for s in parsed.samples} == {1500.0} and {s["throttled"] for s in parsed.samples} == {0}
    assert parsed.cost is not None and 0 <= parsed.cost < 0.5
    # The last sample is taken at the stop, after the schedule's last tick.
    assert lines[-1]["end"]["t_ns"] - lines[-2]["t_ns"] < 0.1 * S


def test_the_throttle_bits_come_from_the_kernels_file_without_vcgencmd(tmp_path: Path) -> None:
    bits = tmp_path / "get_throttled"
    bits.write_text("50005\n")  # as the Raspberry Pi firmware driver prints it: hex, no 0x
    out = tmp_path / "samples.jsonl"
    done = subprocess.run([sys.executable, str(SAMPLER), "--out", str(out), "--interval", "0.1", "--max-seconds", "0.25",
                           "--vcgencmd", str(tmp_path / "none"), "--throttled-file", str(bits)], timeout=10)
    assert done.returncode == 0
    assert json.loads(out.read_text().splitlines()[0])["start"]["throttled_file"] == str(bits)
    parsed = telemetry.parse_sampler_output(out.read_text(), "pi")
    assert parsed.samples and {s["throttled"] for s in parsed.samples} == {0x50005}


def test_the_sampler_stops_by_itself(tmp_path: Path) -> None:
    out = tmp_path / "samples.jsonl"
    done = subprocess.run([sys.executable, str(SAMPLER), "--out", str(out), "--interval", "0.1", "--max-seconds", "0.35",
                           "--vcgencmd", str(tmp_path / "none")], timeout=10)
    assert done.returncode == 0 and "end" in out.read_text().splitlines()[-1]


# ---- energy -----------------------------------------------------------------------------------------

def test_energy_is_the_trapezoid_rule_with_the_ends_interpolated() -> None:
    constant = [sample(t, power_w=4.0) for t in range(0, 11)]
    assert telemetry.energy_j(constant, 2 * S, int(5.5 * S)) == pytest.approx(14.0)
    ramp = [sample(t, power_w=float(t)) for t in range(0, 11)]  # P = t: the integral from 1 to 3.5 is 5.625
    assert telemetry.energy_j(ramp, S, int(3.5 * S)) == pytest.approx(5.625)
    # Outside the sampled time: no energy, not a guess; within the allowed gap the nearest value holds.
    assert telemetry.energy_j(constant, 9 * S, 13 * S) is None
    assert telemetry.energy_j(constant, 9 * S, int(10.8 * S), max_gap_s=1.0) == pytest.approx(7.2)
    assert telemetry.energy_j([sample(1, power_w=None)], 0, S) is None


def test_a_runs_energy_counts_every_node_of_the_run_or_none_at_all() -> None:
    a = trace("a", [sample(t, power_w=3.0, cpu_power_w=1.0) for t in range(0, 10)])
    b = trace("b", [sample(t, power_w=5.0, cpu_power_w=None) for t in range(0, 10)])
    r = run("r1", [("a", 1, 4, 100), ("b", 1, 3, 100)])
    energy = telemetry.run_energy(r, [a, b], calibration=1.5)
    assert energy["joules"] == pytest.approx(1.5 * (3 * 3 + 5 * 3))  # both nodes over the whole run, 1 s to 4 s
    assert energy["cpu_joules"] is None  # b has no CPU rail: no partial sum
    assert energy["mean_w"] == pytest.approx(1.5 * 8) and energy["nodes"] == ["a", "b"]
    assert telemetry.run_energy(r, [a]) is None  # b not sampled


def test_the_analysis_gives_energy_per_point_and_per_unit_or_says_why_not() -> None:
    a = trace("a", [sample(t, power_w=2.0, cpu_power_w=1.0) for t in range(0, 20)])
    runs = [run("w", [("a", 0.5, 1.5, 10**6)], repetition=0, warmup=True),
            run("r1", [("a", 1, 3, 4 * 10**6)]), run("r2", [("a", 4, 7, 4 * 10**6)])]
    done = telemetry.analyse(runs, [a], workload="pi")
    assert [r["energy_j"] for r in done["runs"]] == [pytest.approx(2.0), pytest.approx(4.0), pytest.approx(6.0)]
    assert done["runs"][1]["energy_per_unit_j"] == pytest.approx(1.0)  # 4 J for 4·10⁶ samples
    (point,) = done["energy"]["points"]  # the warm-up is not counted
    assert point == {"mode": "strong", "workers": 1, "runs": 2, "joules_median": pytest.approx(5.0),
                     "cpu_joules_median": pytest.approx(2.5), "mean_power_w_median": pytest.approx(2.0),
                     "per_unit_median": pytest.approx(1.25)}
    assert done["telemetry"] == {"a": a.samples} and done["sampling"]["origin_ns"] == 0
    plain = trace("a", [sample(t, arm_mhz=1500.0) for t in range(0, 20)])
    without = telemetry.analyse(runs, [plain], workload="transcode")
    assert without["energy"]["available"] is False and "Raspberry Pi 5" in without["energy"]["why_not"]
    assert without["energy"]["unit"] == "frame" and all(r["energy_j"] is None for r in without["runs"])
    assert telemetry.energy_lines(without["energy"])[0].startswith("Energy: n/a")
    assert telemetry.analyse(runs, [], workload="pi")["sampling"] is None


# ---- throttling and stragglers ---------------------------------------------------------------------------

def test_throttle_onsets_are_events_and_flag_the_runs_they_fall_in() -> None:
    values = [0, 0, 0x80008, 0x80008, 0x80000, 0x80002, None, 0x80002]
    b = trace("pi-2", [sample(t, throttled=v) for t, v in enumerate(values)])
    assert telemetry.throttle_events(b) == [(2 * S, 0x8), (5 * S, 0x2)]
    runs = [run("r1", [("pi-1", 0, 1.5, 10), ("pi-2", 0, 1.5, 10)]),
            run("r2", [("pi-1", 1.8, 3.5, 10), ("pi-2", 1.8, 3.5, 10)], repetition=2),
            run("r3", [("pi-1", 3.8, 4.5, 10)], repetition=3)]
    assert telemetry.throttled_runs(runs, [b]) == {"r2"}  # r3 ran on pi-1 only
    words = telemetry.events_in_words(runs, [b])
    assert words == ["node pi-2 throttled at t = 2 s (soft temperature limit), during strong N=2 rep 2",
                     "node pi-2 throttled at t = 5 s (ARM frequency capped), between runs"]
    flagged = telemetry.analyse(runs, [b], workload="pi")["runs"]
    assert [r["throttled"] for r in flagged] == [False, True, False]


def test_a_straggler_is_attributed_to_what_its_node_read() -> None:
    fast = trace("pi-1", [sample(t, arm_mhz=2400.0, temp_c=50.0, load=1.0) for t in range(0, 30)])
    throttled = trace("pi-3", [sample(t, arm_mhz=2400.0 if t < 41 else 1500.0, temp_c=70.0,
                                      throttled=0 if t < 41 else 0x8, load=1.0) for t in range(0, 60)])
    runs = [run("r", [("pi-1", 40, 50, 100), ("pi-2", 40, 50, 100), ("pi-3", 40, 53, 100)], mode="strong",
                repetition=2)]
    lines = telemetry.stragglers(runs, [fast, throttled])
    assert lines == ["node pi-3 throttled at t = 41 s (soft temperature limit); its time was 1.3× the median of "
                     "strong N=3 rep 2 (13 s where the others' pace gives 10 s)"]
    # A worker that started after the onset, the node still throttled: since when.
    later = [run("r2", [("pi-1", 50, 55, 100), ("pi-2", 50, 55, 100), ("pi-3", 50, 58, 100)], repetition=3)]
    assert telemetry.stragglers(later, [fast, throttled]) == [
        "node pi-3 was throttled (since t = 41 s: soft temperature limit); its time was 1.6× the median of "
        "strong N=3 rep 3 (8 s where the others' pace gives 5 s)"]
    clocked = trace("pi-3", [sample(t, arm_mhz=2400.0 if t < 45 else 1200.0) for t in range(0, 60)])
    assert telemetry.stragglers(runs, [clocked]) == [
        "node pi-3's ARM clock fell to 1200 MHz at t = 45 s (from 2400); its time was 1.3× the median of strong N=3 rep 2"
        " (13 s where the others' pace gives 10 s)"]
    busy = trace("pi-3", [sample(t, load=3.0) for t in range(0, 60)])
    assert "busier than its workers (load 3.0 cores, 1 of them its workers')" in telemetry.stragglers(runs, [busy])[0]
    quiet = trace("pi-3", [sample(t, load=1.0) for t in range(0, 60)])
    assert telemetry.stragglers(runs, [quiet])[0].startswith("nothing in node pi-3's readings explains it")
    assert telemetry.stragglers(runs, [])[0].startswith("node pi-3 has no readings for it")


def test_stragglers_are_nodes_and_a_single_nodes_workers_only_with_equal_shares() -> None:
    # pi-1 ran two workers of 100 samples in 10 s each, pi-2 one of 200 in 20 s: the same rate.
    even = [run("r", [("pi-1", 0, 10, 100), ("pi-1", 0, 10, 100), ("pi-2", 0, 20, 200)])]
    assert telemetry.stragglers(even, []) == []
    one_node = [run("r", [("vm", 0, 10, 100), ("vm", 0, 13, 100)])]
    assert len(telemetry.stragglers(one_node, [], by_worker=True)) == 1
    assert telemetry.stragglers(one_node, [], by_worker=False) == []  # a video's segments differ in content


# ---- settings and words -------------------------------------------------------------------------------

def test_settings_are_checked_with_their_names() -> None:
    assert telemetry.check_settings(1.0, 7200, 1.0) == ""
    assert telemetry.check_settings("0.5", "60", "1.18") == ""
    assert "lab_telemetry_interval=0.01" in telemetry.check_settings(0.01, 7200, 1)
    assert "lab_telemetry_max_seconds=0" in telemetry.check_settings(1, 0, 1)
    assert telemetry.check_settings(1, 7200, "abc") == "lab_power_calibration='abc' is not a number"


def test_the_sampling_lines_say_what_each_node_could_read_and_cost() -> None:
    sampling = {"interval_s": 1.0, "events": [], "stragglers": [], "nodes": [
        {"node": "pi-1", "readings": ["temp_c", "arm_mhz", "load"], "cost": 0.0042, "samples": 30, "error": None},
        {"node": "pi-2", "readings": [], "cost": None, "samples": 0, "error": "unreachable: ssh: timed out"}]}
    lines = telemetry.sampling_lines(sampling)
    assert lines[0] == ("Sampled every 1 s: pi-1 (temperature, ARM clock, CPUs busy; the sampler used 0.42 % of one "
                        "core); pi-2: no timeline (unreachable: ssh: timed out).")
    assert lines[1].startswith("No node reported throttling")
    assert telemetry.sampling_lines(None) == []


def test_failed_samplers_keep_their_reason() -> None:
    results = [{"item": "pi-1", "trace": {"node": "pi-1", "samples": [sample(1, load=0.5)], "interval_s": 1.0}},
               {"item": "pi-2", "unreachable": True, "msg": "Failed to connect\nmore"},
               {"item": "pi-3", "failed": True, "msg": "the node sampler stopped at once (exit 1)"}]
    found = telemetry.traces_from_results(results)
    assert [(t.node, t.error) for t in found] == [("pi-1", None), ("pi-2", "unreachable: Failed to connect"),
                                                   ("pi-3", "the node sampler stopped at once (exit 1)")]


def test_the_chart_draws_a_lane_per_node_with_its_readings_and_throttle_ticks() -> None:
    a = [sample(t, temp_c=50.0 + t, arm_mhz=2400.0, load=1.0) for t in range(0, 10)]
    b = [sample(t, arm_mhz=1500.0, throttled=0x8 if t >= 4 else 0) for t in range(0, 10)]
    runs = [run("r", [("pi-1", 1, 6, 10), ("pi-2", 1, 8, 10)])]
    svg = charts.telemetry_chart({"pi-1": a, "pi-2": b}, {"origin_ns": 0, "interval_s": 1.0, "nodes": []}, runs)
    assert svg.count('fill-opacity="0.16"') == 2  # each node's worker
    assert "temperature, °C" in svg and svg.count("ARM clock, MHz") == 2 and "CPUs busy" in svg
    assert "pi-2 throttled at t = 4 s (soft temperature limit)" in svg and 'stroke="#C00000"' in svg
    assert charts.telemetry_chart({}, None, runs) is None
