"""Messages that count things say '1 run', not '1 runs' (issue 8, item 15): the report's pages,
its headline and validity notes, with counts of one and of more than one."""
from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from pathlib import Path
from typing import Any

from labkit import results
from labkit.report import write_report
from test_report_claims import baseline_run, html_of, section, text_of, transcode_run, vm_context

NOW = dt.datetime(2026, 11, 26, 13, 0, 0, tzinfo=dt.timezone.utc)
T0 = 1_795_700_000_000_000_000
# Counting words that must never follow a 1 ("1 runs", "1 pods", "1 line(s)").
WRONG_ONE = re.compile(r"\b1 (runs|results|workers|pods|points|repetitions|cores|lines|samples|segments|outliers)\b"
                       r"|\(s\)")


def pi_run(run_id: str, workers: int, *, repetition: int = 1, warmup: bool = False, t_e2e_s: float = 2.0,
           throttled: bool = False, oversubscribed: bool = False, samples: int = 1000) -> dict[str, Any]:
    per = samples // workers
    return {"run_id": run_id, "workload": "pi", "mode": "strong", "workers": workers, "repetition": repetition,
            "warmup": warmup, "order": repetition, "work": samples, "t_e2e_s": t_e2e_s,
            "oversubscribed": oversubscribed, "throttled": throttled, "valid": not throttled,
            "results": [{"schema": 1, "workload": "pi", "run_id": run_id, "index": i, "count": workers, "node": "pi",
                         "t_start_ns": T0, "t_end_ns": T0 + int(t_e2e_s * 1e9), "compute_s": t_e2e_s,
                         "samples": per, "inside": int(per * 0.785), "seed": 1, "kernel": "python"}
                        for i in range(workers)]}


def one_core_context() -> dict[str, Any]:
    context = vm_context()
    context["nodes"][0]["cores"] = 1
    return context


def write(tmp_path: Path, workload: str, runs: list[dict[str, Any]], context: dict[str, Any] | None = None,
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return write_report(str(tmp_path / "reports"), workload, runs, context or vm_context(), extra, now=NOW)


def no_wrong_plural(out: dict[str, Any]) -> None:
    # The charts' text is tick labels and axis titles side by side ("1" then "workers N"): left out.
    html = html_lib.unescape(text_of(re.sub(r"<svg.*?</svg>", " ", html_of(out), flags=re.S)))
    md = Path(out["files"]["summary.md"]).read_text(encoding="utf-8")
    for where, text in (("index.html", html), ("summary.md", md), ("headline", out["headline"]["summary"])):
        wrong = WRONG_ONE.search(text)
        assert wrong is None, f"{where}: {text[max(0, wrong.start() - 80):wrong.end() + 80]!r}"


def test_one_run_at_one_point_is_counted_in_the_singular(tmp_path: Path) -> None:
    out = write(tmp_path, "pi", [pi_run("r1", 1, samples=1)])
    method = section(html_of(out), "Method")
    assert "1 run: 1 measured over 1 point (1 repetition per point)." in method
    assert "Pooled over 1 sample of the measured runs" in html_of(out)
    md = Path(out["files"]["summary.md"]).read_text(encoding="utf-8")
    assert "\n1 run (1 measured, 0 warm-up excluded)" in md and "from 1 sample, " in md
    no_wrong_plural(out)


def test_more_than_one_keeps_the_plural(tmp_path: Path) -> None:
    runs = [pi_run("w", 1, repetition=0, warmup=True)] + [pi_run(f"r{r}", n, repetition=r, t_e2e_s=2.0 / n + r / 100)
                                                          for n in (1, 2) for r in (1, 2)]
    out = write(tmp_path, "pi", runs)
    method = section(html_of(out), "Method")
    assert "5 runs: 4 measured over 2 points (2 repetitions per point); 1 warm-up run kept" in method
    md = Path(out["files"]["summary.md"]).read_text(encoding="utf-8")
    assert "\n5 runs (4 measured, 1 warm-up excluded)" in md
    no_wrong_plural(out)


def test_one_throttled_run_on_the_one_core(tmp_path: Path) -> None:
    runs = [pi_run("r1", 1, t_e2e_s=2.0), pi_run("r2", 1, repetition=2, t_e2e_s=2.1),
            pi_run("r3", 2, t_e2e_s=1.9, oversubscribed=True, throttled=True)]
    out = write(tmp_path, "pi", runs, one_core_context())
    validity = section(html_of(out), "Validity")
    assert "1 run ran while a node throttled" in validity
    assert "ran more workers than the 1 core available" in validity
    no_wrong_plural(out)


def test_one_resumed_run_in_the_scaling_table(tmp_path: Path) -> None:
    runs = [baseline_run("base", 30.0), transcode_run("t1", 9.0), transcode_run("t2", 0.4, resumed_from="t1")]
    out = write(tmp_path, "transcode", runs)
    scaling = section(html_of(out), "Scaling")
    assert "1 resumed run left out: not a timing" in scaling
    assert "1 run that resumed an earlier run's work left out" in html_lib.unescape(section(html_of(out), "Method"))
    no_wrong_plural(out)


def test_a_legacy_import_of_one_pod_and_one_skipped_line(tmp_path: Path) -> None:
    records = [{"node": "raspi-1", "estimate": 3.141592, "time_s": 5.62}]
    block = results.legacy_block(records, 1.52)
    runs = results.legacy_runs(records, "imp")
    skipped = {"file": "pods.log", "total": 1, "malformed": 1, "unrecognised": 0,
               "lines": [{"file": "pods.log", "line_no": 2, "kind": "malformed", "reason": "no time",
                          "line": "Node x: π ≈ 3.1, Time: s"}]}
    out = write(tmp_path, "pi", runs, {"nodes": [], "parameters": {}}, {"legacy": block, "skipped_lines": skipped})
    assert "legacy log import: 1 pod, mean" in out["headline"]["summary"]
    assert "The one pod ran the full workload on its own" in html_of(out)
    assert "1 line of pods.log was left out: 1 malformed" in section(html_of(out), "Skipped input lines")
    no_wrong_plural(out)
