"""labkit.settle: when a node's temperature has stopped rising, and how that is said."""
from __future__ import annotations

import pytest

from labkit import settle


def warming(seconds: int, rate_per_s: float, start: float = 45.0, noise: float = 0.0) -> list[tuple[float, float]]:
    return [(float(t), start + rate_per_s * t + (noise if t % 2 else -noise)) for t in range(seconds + 1)]


def test_a_rising_temperature_is_not_settled_a_flat_one_is() -> None:
    assert settle.verdict(warming(200, 0.02), 120, 0.5) == settle.Verdict(False, rise_c=pytest.approx(2.4))
    flat = warming(60, 0.2) + [(60.0 + t, 57.0) for t in range(1, 130)]
    assert settle.verdict(flat, 120, 0.5).settled
    # One noisy reading either way neither stops nor prolongs it: the slope is fitted.
    assert settle.verdict(warming(200, 0.0, noise=0.8), 120, 0.5).settled


def test_no_verdict_before_a_whole_window() -> None:
    assert settle.verdict(warming(100, 0.0), 120, 0.5) == settle.Verdict(False, rise_c=None)
    assert settle.rise_over_window([], 120) is None
    assert settle.rise_over_window([(0.0, 40.0), (200.0, 41.0)], 120) is None  # one reading in the window


def test_settings_name_the_bad_value() -> None:
    assert settle.check_settings(120, 0.5, 1800) == ""
    assert "lab_settle_window=0" in settle.check_settings(0, 0.5, 1800)
    assert "lab_settle_rise_c='warm'" in settle.check_settings(120, "warm", 1800)
    assert "lab_settle_max_seconds=60" in settle.check_settings(120, 0.5, 60)  # shorter than one window


def test_each_nodes_settling_in_words_and_from_the_registered_results() -> None:
    done = {"node": "pi-1", "settled": True, "seconds": 570, "start_c": 47.2, "end_c": 61.8, "rise_c": 0.3,
            "window_s": 120}
    assert settle.summary("pi-1", done) == "pi-1: 47.2 → 61.8 °C in 9.5 min, settled (+0.3 °C over the last 120 s)"
    late = dict(done, settled=False, rise_c=0.9)
    assert "still rising when the time ran out (+0.9 °C" in settle.summary("pi-1", late)
    entries = [{"item": "pi-1", "ansible_job_id": "1.1", "started": 1},
               {"item": "pi-2", "unreachable": True, "msg": "Failed to connect to the host via ssh\nmore"},
               {"item": "pi-3", "ansible_job_id": "1.3", "started": 1},
               {"item": {"item": "pi-1", "ansible_job_id": "1.1"}, "finished": 1, "settle": done},
               {"item": {"item": "pi-3", "ansible_job_id": "1.3"}, "failed": True, "msg": "timed out"}]
    found = {n["node"]: n for n in settle.from_results(entries)}
    assert found["pi-1"] == done
    assert found["pi-2"]["error"] == "unreachable: Failed to connect to the host via ssh"
    assert found["pi-3"]["error"] == "timed out"
    assert settle.summary("pi-2", found["pi-2"]) == "pi-2: not settled (unreachable: Failed to connect to the host via ssh)"
    assert settle.summary("vm", {"settled": None, "reason": "no temperature sensor"}) == "vm: no temperature sensor"

