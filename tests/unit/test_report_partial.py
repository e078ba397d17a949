"""A partial report (bench-pi interrupted with Ctrl-C, the runs already measured kept) says so
where a reader looks first: a red note at the top of the page, the headline, summary.md and the
validity notes, not only as a row in the run-context table."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from labkit.report import write_report
from test_report_wording import pi_run
from test_user_partial_report import experiment, run

NOW = dt.datetime(2026, 11, 26, 14, 0, 0, tzinfo=dt.timezone.utc)
NOTE = "Partial: interrupted after 3 of 9 planned runs; the figures cover only the runs kept"


def runs() -> list[dict[str, Any]]:
    return [pi_run("w", 1, repetition=0, warmup=True), pi_run("r1", 1, t_e2e_s=2.0), pi_run("r2", 2, t_e2e_s=1.1)]


def context(partial: bool) -> dict[str, Any]:
    more = {"partial": "yes: interrupted (Ctrl-C) after 3 of 9 planned runs"} if partial else {}
    return {"backend": "local", "nodes": [{"hostname": "pi", "cores": 4}], "parameters": {}, "tools": {}, **more}


def write(tmp_path: Path, extra: dict[str, Any] | None) -> dict[str, Any]:
    return write_report(str(tmp_path / "reports"), "pi", runs(), context(extra is not None), extra, now=NOW)


def test_the_partial_report_says_so_at_the_top_in_red(tmp_path: Path) -> None:
    out = write(tmp_path, {"partial": {"interrupted": True, "runs_kept": 3, "runs_planned": 9}})
    html = Path(out["files"]["index.html"]).read_text(encoding="utf-8")
    box = f'<div class="box bad partial" role="alert"><strong>{NOTE}.</strong></div>'
    assert html.count(box) == 1
    # Before the headline and before any figure, right under the title.
    assert html.index("<h1>") < html.index(box) < html.index("<h2>Headline</h2>") < html.index("<h2>Scaling</h2>")
    # The headline (the playbook's line, the page's bold summary) and the validity notes say it too.
    head = out["headline"]
    assert head["partial"] == NOTE and head["summary"].startswith(f"pi — {NOTE} — strong: best N=2")
    validity = html.split("<h2>Validity</h2>", 1)[1].split("</section>", 1)[0]
    assert NOTE in validity and "No validity warnings" not in validity
    md = Path(out["files"]["summary.md"]).read_text(encoding="utf-8")
    top = md.split("### Validity warnings", 1)[0]
    assert f"> **{NOTE}.**" in top and f"**pi — {NOTE} — " in top
    assert f"- {NOTE}" in md
    data = json.loads(Path(out["files"]["results.json"]).read_text(encoding="utf-8"))
    assert data["headline"]["partial"] == NOTE and data["notes"][0] == NOTE
    assert data["partial"] == {"interrupted": True, "runs_kept": 3, "runs_planned": 9}


def test_a_complete_report_has_no_partial_note(tmp_path: Path) -> None:
    out = write(tmp_path, None)
    html = Path(out["files"]["index.html"]).read_text(encoding="utf-8")
    md = Path(out["files"]["summary.md"]).read_text(encoding="utf-8")
    assert "Partial" not in html and "Partial" not in md and 'class="box bad partial"' not in html
    assert out["headline"]["partial"] is None and "Partial" not in out["headline"]["summary"]


def test_one_planned_run_and_an_incomplete_block(tmp_path: Path) -> None:
    out = write(tmp_path, {"partial": {"interrupted": True, "runs_kept": 1, "runs_planned": 1}})
    assert out["headline"]["partial"] == ("Partial: interrupted after 1 of 1 planned run; "
                                          "the figures cover only the runs kept")
    out = write(tmp_path, {"partial": {"interrupted": True}})
    assert out["headline"]["partial"].startswith("Partial: interrupted before every planned run had run")
    out = write(tmp_path, {"partial": {"interrupted": False, "runs_kept": 3, "runs_planned": 3}})
    assert out["headline"]["partial"] is None


def test_the_callbacks_partial_report_carries_the_red_note(tmp_path: Path) -> None:
    """The report the Ctrl-C path writes (labkit_progress's Experiment.write_partial)."""
    kept = experiment(tmp_path)  # 4 planned runs
    kept.observe({"node": {"hostname": "here", "cores": 2}})
    kept.observe({"run": run("a-r1")})
    index = Path(kept.write_partial())
    html = index.read_text(encoding="utf-8")
    note = "Partial: interrupted after 1 of 4 planned runs; the figures cover only the runs kept"
    assert f'<div class="box bad partial" role="alert"><strong>{note}.</strong></div>' in html
    assert html.index(note) < html.index("<h2>Headline</h2>")
    assert f"> **{note}.**" in (index.parent / "summary.md").read_text(encoding="utf-8")
