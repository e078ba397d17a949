"""The local backend: slots, one queue, retries, makespan, failures, and the run record."""
from __future__ import annotations

import json
import sys
import threading
import time

from labkit.backends import WorkFailed, WorkItem
from labkit.backends.local import LocalBackend
from labkit.runs import PlannedRun, from_backend, throttled_during

PY = sys.executable


def sleeper(seconds: float, text: str = "", name: str = "w") -> WorkItem:
    return WorkItem(name=name, argv=(PY, "-c", f"import time; time.sleep({seconds}); print({text!r})"))


def result_line(run_id: str, index: int, count: int) -> str:
    return ('RESULT {"schema":1,"workload":"pi","run_id":"%s","index":%d,"count":%d,"node":"n",'
            '"t_start_ns":1,"t_end_ns":2,"compute_s":0.1,"samples":5,"inside":4,"seed":3,"kernel":"python"}'
            % (run_id, index, count))


def worker(run_id: str, index: int, count: int, seconds: float = 0) -> WorkItem:
    return sleeper(seconds, result_line(run_id, index, count), name=f"worker {index}")


def test_slots_bound_concurrency_and_makespan_covers_the_last_item() -> None:
    # Four 0.3 s items on two slots take two rounds: ≥ 0.6 s, and well under four rounds.
    start = time.monotonic()
    outcome = LocalBackend().run([worker("r", i, 4, 0.3) for i in range(4)], slots=2)
    wall = time.monotonic() - start
    assert 0.6 <= outcome.t_e2e_s <= wall
    assert [item.name for item in outcome.items] == ["worker 0", "worker 1", "worker 2", "worker 3"]
    assert all(item.returncode == 0 and item.ok for item in outcome.items)
    assert {item.slot for item in outcome.items} == {0, 1}


def test_items_start_in_the_order_given_and_a_free_slot_takes_the_next() -> None:
    # One long item and three short ones on two slots: the short ones all run on the other slot.
    items = [worker("r", 0, 4, 0.6)] + [worker("r", i, 4, 0.05) for i in (1, 2, 3)]
    outcome = LocalBackend().run(items, slots=2)
    assert outcome.items[0].slot != outcome.items[1].slot
    assert {item.slot for item in outcome.items[1:]} == {outcome.items[1].slot}
    assert max(item.finished_s for item in outcome.items[1:]) < outcome.items[0].finished_s


def test_arguments_never_pass_through_a_shell() -> None:
    hostile = "a b'$(touch /tmp/should-not-exist);é"
    item = WorkItem(name="w", argv=(PY, "-c", "import sys; print(sys.argv[1])", hostile))
    outcome = LocalBackend().run([item], slots=1)
    assert outcome.items[0].stdout.strip() == hostile


def test_a_timeout_kills_the_item_and_is_reported() -> None:
    outcome = LocalBackend().run([sleeper(5)], slots=1, timeout_s=0.2)
    assert outcome.failed and outcome.items[0].timed_out
    assert "timed out" in (outcome.items[0].error or "")


def test_retries_are_bounded_and_each_failed_attempt_is_kept(tmp_path) -> None:
    # Fails twice (a counter file), then succeeds: with retries=2 it ends well after 3 attempts.
    counter = tmp_path / "n"
    script = (f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=int(p.read_text() or 0) if p.exists() else 0;"
              f"p.write_text(str(n+1)); sys.exit('boom') if n < 2 else print({result_line('r', 0, 1)!r})")
    item = WorkItem(name="worker 0", argv=(PY, "-c", script))
    outcome = LocalBackend().run([item], slots=1, retries=2)
    assert outcome.items[0].ok and outcome.items[0].attempts == 3
    assert [a.attempt for a in outcome.attempts] == [1, 2]
    assert all("exited 1: boom" in a.error for a in outcome.attempts)
    counter.unlink()
    outcome = LocalBackend().run([item], slots=1, retries=1)
    assert outcome.failed and outcome.items[0].attempts == 2 and "boom" in (outcome.items[0].error or "")


def test_accept_rejects_a_result_and_that_counts_as_a_failed_attempt() -> None:
    def accept(item: WorkItem, result: dict) -> None:
        raise WorkFailed(f"{item.name}: reported {result['samples']} samples, expected 6")

    outcome = LocalBackend().run([worker("r", 0, 1)], slots=1, retries=1, accept=accept)
    assert outcome.failed and len(outcome.attempts) == 2
    assert outcome.items[0].error == "worker 0: reported 5 samples, expected 6"


def test_a_missing_or_doubled_result_line_fails_the_item() -> None:
    twice = WorkItem(name="w", argv=(PY, "-c", f"print({result_line('r', 0, 1)!r}); print({result_line('r', 0, 1)!r})"))
    outcome = LocalBackend().run([sleeper(0, "no result"), twice], slots=2)
    assert [item.error for item in outcome.items] == ["0 RESULT lines, expected exactly one",
                                                      "2 RESULT lines, expected exactly one"]


def test_progress_is_called_once_per_item() -> None:
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int, item) -> None:
        with lock:
            seen.append((done, total))

    LocalBackend().run([worker("r", i, 3) for i in range(3)], slots=2, on_progress=progress)
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]


def planned(run_id: str, n: int) -> PlannedRun:
    return PlannedRun(run_id=run_id, workload="pi", mode="strong", workers=n, repetition=1,
                      warmup=False, order=1, work=10, seed=3, oversubscribed=False, label="x")


def test_the_run_record_keeps_only_this_runs_results_and_drops_plan_fields() -> None:
    outcome = LocalBackend().run([worker("r", 0, 2), worker("r", 1, 2)], slots=2)
    record = from_backend(planned("r", 2), outcome)
    assert record.problems == [] and record.valid
    assert [r["index"] for r in record.results] == [0, 1]
    as_dict = record.to_dict()
    assert "items" not in as_dict and "seed" not in as_dict and "label" not in as_dict
    assert record.t_e2e_s == outcome.t_e2e_s


def test_the_run_record_reports_a_missing_result_and_a_failed_worker() -> None:
    crash = WorkItem(name="worker 1", index=1, argv=(PY, "-c", "import sys; sys.exit('worker exploded')"))
    outcome = LocalBackend().run([worker("r", 0, 2), crash], slots=2)
    record = from_backend(planned("r", 2), outcome)
    assert not record.valid
    assert any("worker 1 exited 1: worker exploded" in p for p in record.problems)
    assert any("1 result for 2 workers" in p for p in record.problems)


def test_throttling_during_a_run_is_detected_from_vcgencmd_readings() -> None:
    assert not throttled_during(None, None)  # not a Pi
    assert not throttled_during("throttled=0x0", "throttled=0x0")
    assert throttled_during("throttled=0x0", "throttled=0x4")  # bit 2: throttled now
    # Bit 18 (throttled has occurred) newly set: it happened during the run, then recovered.
    assert throttled_during("throttled=0x0", "throttled=0x40000")
    # Already set before the run: not this run's doing.
    assert not throttled_during("throttled=0x40000", "throttled=0x40000")


def exits(code: int, message: str, final: dict[int, str]) -> WorkItem:
    """An item that prints `message` on stderr and exits `code`; `final` maps exit codes to their causes."""
    return WorkItem(name="seg", argv=(PY, "-c", f"import sys; print({message!r}, file=sys.stderr); sys.exit({code})"),
                    final_exit_codes=final)


def test_a_final_exit_status_is_attempted_once_and_its_cause_named() -> None:
    item = exits(7, "corrupt input packet in stream 0", {7: "the source is damaged around 6.40-7.90 s"})
    outcome = LocalBackend().run([item], slots=1, retries=2)
    only = outcome.items[0]
    assert only.attempts == 1 and len(outcome.attempts) == 1 and only.final
    assert only.error == ("the source is damaged around 6.40-7.90 s (exited 7, not retried): "
                          "corrupt input packet in stream 0")


def test_an_exit_status_not_listed_as_final_is_retried() -> None:
    item = exits(3, "simulated encoder crash", {7: "the source is damaged", 5: "wrong frame count"})
    outcome = LocalBackend().run([item], slots=1, retries=2)
    only = outcome.items[0]
    assert only.attempts == 3 and len(outcome.attempts) == 3 and not only.final
    assert only.error == "exited 3: simulated encoder crash"


def test_accept_can_reject_a_result_as_final_and_it_is_not_retried() -> None:
    calls: list[str] = []

    def accept(item: WorkItem, result: dict) -> None:
        calls.append(item.name)
        raise WorkFailed(f"{item.name}: reported {result['samples']} samples, expected 6", final=True)

    outcome = LocalBackend().run([worker("r", 0, 1)], slots=1, retries=3, accept=accept)
    assert calls == ["worker 0"] and outcome.items[0].attempts == 1 and outcome.items[0].final
    assert outcome.items[0].error == "worker 0: reported 5 samples, expected 6"


def test_final_exit_codes_survive_to_dict_and_items_without_them_serialise_as_before() -> None:
    plain = WorkItem(name="w", argv=("a",))
    assert "final_exit_codes" not in plain.to_dict()  # plans saved before still read the same
    assert WorkItem.from_dict(plain.to_dict()) == plain
    marked = WorkItem(name="w", argv=("a",), final_exit_codes={5: "wrong frame count", 7: "damaged"})
    as_dict = marked.to_dict()
    assert as_dict["final_exit_codes"] == {"5": "wrong frame count", "7": "damaged"}  # JSON keys are strings
    assert WorkItem.from_dict(json.loads(json.dumps(as_dict))) == marked
