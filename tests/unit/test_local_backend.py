"""The local backend's process pool: slots, makespan, failures, and the run record."""
from __future__ import annotations

import sys
import time

from labkit.local_backend import run_pool
from labkit.runs import collect_run

PY = sys.executable


def sleeper(seconds: float, text: str = "") -> list[str]:
    return [PY, "-c", f"import time; time.sleep({seconds}); print({text!r})"]


def test_slots_bound_concurrency_and_makespan_covers_the_last_item() -> None:
    # Four 0.3 s items on two slots take two rounds: ≥ 0.6 s, and well under four rounds.
    start = time.monotonic()
    outcome = run_pool([sleeper(0.3)] * 4, slots=2)
    wall = time.monotonic() - start
    assert 0.6 <= outcome.t_e2e_s <= wall
    assert [item.index for item in outcome.items] == [0, 1, 2, 3]
    assert all(item.returncode == 0 for item in outcome.items)


def test_arguments_never_pass_through_a_shell() -> None:
    hostile = "a b'$(touch /tmp/should-not-exist);é"
    outcome = run_pool([[PY, "-c", "import sys; print(sys.argv[1])", hostile]], slots=1)
    assert outcome.items[0].stdout.strip() == hostile


def test_a_timeout_kills_the_item_and_is_reported() -> None:
    outcome = run_pool([sleeper(5)], slots=1, timeout_s=0.2)
    assert outcome.failed and outcome.items[0].timed_out


def planned(run_id: str, n: int) -> dict:
    return {"run_id": run_id, "workload": "pi", "mode": "strong", "workers": n, "repetition": 1,
            "warmup": False, "order": 1, "work": 10, "seed": 3, "oversubscribed": False,
            "label": "x", "commands": []}


def result_line(run_id: str, index: int, count: int) -> str:
    return ('RESULT {"schema":1,"workload":"pi","run_id":"%s","index":%d,"count":%d,"node":"n",'
            '"t_start_ns":1,"t_end_ns":2,"compute_s":0.1,"samples":5,"inside":4,"seed":3,"kernel":"python"}'
            % (run_id, index, count))


def test_collect_run_keeps_only_this_runs_results_and_drops_plan_fields() -> None:
    outcome = run_pool([sleeper(0, result_line("r", 0, 2)), sleeper(0, result_line("r", 1, 2))], slots=2)
    record, problems = collect_run(planned("r", 2), outcome)
    assert problems == [] and record["valid"]
    assert [r["index"] for r in record["results"]] == [0, 1]
    assert "commands" not in record and "seed" not in record
    assert record["t_e2e_s"] == outcome.t_e2e_s


def test_collect_run_reports_a_missing_result_and_a_failed_worker() -> None:
    crash = [PY, "-c", "import sys; sys.exit('worker exploded')"]
    outcome = run_pool([sleeper(0, result_line("r", 0, 2)), crash], slots=2)
    record, problems = collect_run(planned("r", 2), outcome)
    assert not record["valid"]
    assert any("worker 1 exited 1: worker exploded" in p for p in problems)
    assert any("1 results for 2 workers" in p for p in problems)


def test_throttling_during_a_run_is_detected_from_vcgencmd_readings() -> None:
    from labkit.runs import throttled_during

    assert not throttled_during(None, None)  # not a Pi
    assert not throttled_during("throttled=0x0", "throttled=0x0")
    assert throttled_during("throttled=0x0", "throttled=0x4")  # bit 2: throttled now
    # Bit 18 (throttled has occurred) newly set: it happened during the run, then recovered.
    assert throttled_during("throttled=0x0", "throttled=0x40000")
    # Already set before the run: not this run's doing.
    assert not throttled_during("throttled=0x40000", "throttled=0x40000")
