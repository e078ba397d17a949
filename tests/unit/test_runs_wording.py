"""labkit.runs counts results and workers in words that agree with the number (issue 8, item 15)."""
from __future__ import annotations

from labkit.runs import check_results


def result(run_id: str, index: int) -> dict:
    return {"run_id": run_id, "index": index}


def test_one_result_for_two_workers_and_none_for_one() -> None:
    _, problems = check_results("r", 2, [result("r", 0), result("other", 1)])
    assert problems == ["1 result for 2 workers"]
    _, problems = check_results("r", 1, [])
    assert problems == ["0 results for 1 worker"]
    _, problems = check_results("r", 1, [result("r", 0), result("r", 0)])
    assert problems == ["2 results for 1 worker", "duplicate worker indices [0, 0]"]
    assert check_results("r", 1, [result("r", 0)])[1] == []
