"""Importing saved logs: RESULT lines grouped into runs, seed 001 lines, bad files."""
from __future__ import annotations

from pathlib import Path

import pytest

from labkit.params import ParameterError
from labkit.pi_import import import_logs

SEED_LOG = """\
Node raspi-2025-gray: π ≈ 3.141592, Time: 5.62s
Node raspi-2025-black: π ≈ 3.141013, Time: 5.70s
[pod/pi-calculation-job-x/pi-calculator] Node raspi-2025-blue: π ≈ 3.142301, Time: 5.78s
Node raspi-2025-red: π ≈ oops, Time: 5.1s
some unrelated warning
"""


def result(run_id: str, index: int, count: int, samples: int, start: int, end: int) -> str:
    return ('RESULT {"schema":1,"workload":"pi","run_id":"%s","index":%d,"count":%d,"node":"n%d",'
            '"t_start_ns":%d,"t_end_ns":%d,"compute_s":1.0,"samples":%d,"inside":%d,"seed":1,"kernel":"numpy"}'
            % (run_id, index, count, index, start, end, samples, int(samples * 0.785)))


def test_seed_log_gives_one_legacy_run_and_the_legacy_block(tmp_path: Path) -> None:
    log = tmp_path / "pods.log"
    log.write_text(SEED_LOG, encoding="utf-8")
    imported = import_logs(str(log), reference_s=1.52)
    assert imported["legacy_lines"] == 3 and imported["malformed"] == 1 and imported["other_lines"] == 1
    (run,) = imported["runs"]
    assert run["mode"] == "legacy" and run["workers"] == 3 and run["t_e2e_s"] == pytest.approx(5.78)
    legacy = imported["legacy"]
    # Seed 001's arithmetic: T_P = (5.62+5.70+5.78)/3 = 5.70; linear ratio = 3·5.70/1.52 = 11.25.
    assert legacy["seed_linear_ratio"] == pytest.approx(11.25)
    # The honest figure: 3·1.52 / 5.78 (slowest pod) = 0.789.
    assert legacy["throughput_vs_reference"] == pytest.approx(3 * 1.52 / 5.78)


def test_result_lines_are_grouped_into_runs_with_their_span(tmp_path: Path) -> None:
    lines = [result("a", 0, 1, 100, 0, 2_000_000_000),
             result("b", 0, 2, 50, 10, 1_000_000_010), result("b", 1, 2, 50, 20, 1_100_000_000)]
    log = tmp_path / "results.log"
    log.write_text("\n".join(lines) + "\nRESULT {not json\n", encoding="utf-8")
    imported = import_logs(str(log), reference_s=None)
    runs = {r["run_id"]: r for r in imported["runs"]}
    assert runs["a"]["t_e2e_s"] == pytest.approx(2.0) and runs["a"]["workers"] == 1
    # Span of b: 1.1e9 − 10 ns.
    assert runs["b"]["t_e2e_s"] == pytest.approx(1.09999999) and runs["b"]["valid"]
    assert {r["mode"] for r in runs.values()} == {"strong"}  # same total, 100 samples, in both
    assert imported["malformed"] == 1 and imported["legacy"] is None


@pytest.mark.parametrize("content,message", [(None, "no such file"), ("", "holds no usable result"),
                                             ("hello\nRESULT {}\n", "holds no usable result")])
def test_unusable_logs_are_named(tmp_path: Path, content: str | None, message: str) -> None:
    log = tmp_path / "odd name $(x).log"
    if content is not None:
        log.write_text(content, encoding="utf-8")
    with pytest.raises(ParameterError, match=message):
        import_logs(str(log), None)


def test_a_directory_is_not_a_log(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="is not a regular file"):
        import_logs(str(tmp_path), None)


def test_skipped_lines_are_a_report_block_not_parameters(tmp_path: Path) -> None:
    log = tmp_path / "pods.log"
    log.write_text(SEED_LOG + 'Error from server (BadRequest): container "pi" in pod "p" is waiting to start\n',
                   encoding="utf-8")
    imported = import_logs(str(log), reference_s=1.52)
    assert imported["parameters"] == {"pi_import_logs": str(log), "pi_reference_seconds": 1.52}
    skipped = imported["extra"]["skipped_lines"]
    assert imported["extra"]["legacy"] is imported["legacy"]
    assert (skipped["file"], skipped["total"], skipped["malformed"], skipped["unrecognised"]) == (str(log), 3, 1, 2)
    assert [(s["line_no"], s["file"]) for s in skipped["lines"]] == [(4, str(log)), (5, str(log)), (6, str(log))]
    assert "unparsable number" in skipped["lines"][0]["reason"]
    assert "kubectl error" in skipped["lines"][2]["reason"]


def test_a_clean_log_has_no_skipped_block(tmp_path: Path) -> None:
    log = tmp_path / "pods.log"
    log.write_text(result("a", 0, 1, 100, 0, 10) + "\n", encoding="utf-8")
    assert "skipped_lines" not in import_logs(str(log), None)["extra"]
