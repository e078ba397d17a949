"""The progress callback keeps an interrupted experiment's runs: what it gathers from task
results, and the partial report it writes from them (the Ctrl-C path itself runs for real in
tests/integration/test_user_commands.py)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from labtest import REPO


def load_callback():
    spec = importlib.util.spec_from_file_location("labkit_progress", REPO / "plugins" / "callback" / "labkit_progress.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up, as Ansible's loader registers it
    spec.loader.exec_module(module)
    return module


def run(run_id: str, workers: int = 1, warmup: bool = False) -> dict:
    results = [{"run_id": run_id, "workload": "pi", "index": i, "count": workers, "samples": 1000, "inside": 785,
                "t_start_ns": 1_000_000_000, "t_end_ns": 1_100_000_000, "host": "h", "seed": 1}
               for i in range(workers)]
    return {"run_id": run_id, "workload": "pi", "mode": "strong", "workers": workers, "repetition": 0 if warmup else 1,
            "warmup": warmup, "order": 1, "work": 1000 * workers, "t_e2e_s": 0.2, "results": results,
            "oversubscribed": False, "throttled": False, "valid": True, "problems": []}


def experiment(tmp_path: Path):
    return load_callback().Experiment.from_plan({
        "workload": "pi", "backend": "local", "reports_dir": str(tmp_path / "reports"),
        "parameters": {"workers": [1], "repetitions": 3}, "planned": 4})


def test_runs_and_the_reading_before_them_are_kept(tmp_path: Path) -> None:
    kept = experiment(tmp_path)
    node = {"node": {"hostname": "here", "cores": 2}, "changed": False}
    kept.observe(node)
    kept.observe({"run": run("a-warmup", warmup=True), "lab_progress": "x"})
    kept.observe({"run": run("a-r1")})
    kept.observe(node)  # a reading after the runs is not a reading before them
    kept.observe({"lab_progress": "something else"})
    assert [r["run_id"] for r in kept.runs] == ["a-warmup", "a-r1"]
    assert kept.nodes_before == [node]
    note = kept.partial_note()
    assert note.startswith("yes: interrupted (Ctrl-C) after 2 of 4 planned runs (1 measured")


def test_the_partial_report_says_it_is_partial(tmp_path: Path) -> None:
    kept = experiment(tmp_path)
    kept.observe({"node": {"hostname": "here", "cores": 2}})
    kept.observe({"run": run("a-r1")})
    index = Path(kept.write_partial())
    assert index.name == "index.html" and index.parent.parent == tmp_path / "reports"
    results = json.loads((index.parent / "results.json").read_text())
    assert results["partial"] == {"interrupted": True, "runs_kept": 1, "runs_planned": 4}
    assert results["context"]["partial"].startswith("yes: interrupted")
    assert [r["run_id"] for r in results["runs"]] == ["a-r1"]
    assert "interrupted (Ctrl-C) after 1 of 4 planned runs" in index.read_text()
    assert (tmp_path / "reports" / "latest-pi").resolve() == index.parent
