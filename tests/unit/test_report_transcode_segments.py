"""The transcode report's segments: which node (on k3s which pod, after how many attempts, with
which phases) encoded each segment, where it lies in the source, and a chart of when.

The records are shaped like the backends' (transcode_segment.sh's RESULT line, with `slot` and
`host` added by the backend; on k3s `pod`, `attempt` and the pod's phases too): four segments
of a 7.5 s video, 2 s each but the last, whose worker reports no media_s (it runs to the end).
"""
from __future__ import annotations

import html as html_lib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from labkit.report import model, write_report

SOURCE = "/videos/clip.mp4"
WORK = "/lab/work/transcode/clip-8d5caccf2092"
T0 = 1_795_702_840_000_000_000
SVG = "{http://www.w3.org/2000/svg}"
# (index, host, slot, start s, compute s): two hosts with one slot each, two segments each in turn.
SEGMENTS = [(0, "pi-1", 0, 0.0, 2.0), (1, "pi-2", 1, 0.1, 1.8), (2, "pi-1", 0, 2.5, 2.2), (3, "pi-2", 1, 2.4, 1.1)]


def segment(index: int, host: str, slot: int, start: float, compute: float, *, k3s: bool,
            resumed: bool = False) -> dict[str, Any]:
    result = {"schema": 1, "workload": "transcode", "run_id": "r", "index": index, "count": 4, "node": host,
              "host": host, "slot": slot, "segment": f"seg_{index:04d}.mp4", "frames_in": 60, "frames_out": 60,
              "media_s": 2.0 if index < 3 else None, "bytes_out": 1000, "compute_s": compute, "resumed": resumed,
              "t_start_ns": T0 + int(start * 1e9), "t_end_ns": T0 + int((start + compute) * 1e9)}
    if k3s:
        result |= {"pod": f"transcode-r-segments-{index}-abcde", "attempt": 1 + (index == 3),
                   "scheduling_s": 0.0, "start_s": 1.0, "runtime_start_s": 0.25, "exit_s": -0.25}
    return result


def run(t_e2e: float, *, k3s: bool, resumed: tuple[int, ...] = (), workers: int = 2,
        segments: list[tuple[int, str, int, float, float]] = SEGMENTS) -> dict[str, Any]:
    return {"run_id": f"transcode-{'k3s' if k3s else 'ssh'}-strong-n{workers}-r1", "workload": "transcode",
            "mode": "strong", "workers": workers, "repetition": 1, "warmup": False, "order": 1, "work": 7.5,
            "t_e2e_s": t_e2e, "valid": not resumed, "throttled": False, "oversubscribed": False, "problems": [],
            "results": [segment(*s, k3s=k3s, resumed=s[0] in resumed) for s in segments]}


def context(backend: str, *, hosts: tuple[str, ...] = ("pi-1", "pi-2"), work: str = WORK,
            source: str = SOURCE) -> dict[str, Any]:
    # An ssh report describes the controller first, then the hosts; a k3s report the cluster's nodes.
    machines = ("ctl", *hosts) if backend != "k3s" else hosts
    return {"backend": backend, "nodes": [{"name": h, "hostname": h} for h in machines], "parameters": {},
            "source": {"path": source, "video": {"duration_s": 7.5, "frames": 225}}, "work": work}


def report(tmp_path: Path, backend: str, runs: list[dict[str, Any]], ctx: dict[str, Any] | None = None,
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out = write_report(str(tmp_path), "transcode", runs, ctx or context(backend), extra)
    folder = Path(out["path"])
    return {"folder": folder, "json": json.loads((folder / "results.json").read_text()),
            "html": (folder / "index.html").read_text(), "md": (folder / "summary.md").read_text()}


def section(page: str, title: str) -> str:
    return page.split(f"<section><h2>{title}</h2>", 1)[1].split("</section>", 1)[0]


def table_rows(part: str) -> tuple[list[str], list[dict[str, str]]]:
    """The first table of an HTML fragment: its headers and its rows as {header: cell text}."""
    def text(cell: str) -> str:
        return html_lib.unescape(re.sub(r"<[^>]+>", "", cell))
    headers = [text(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", part.split("</thead>", 1)[0])]
    body = part.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = [dict(zip(headers, map(text, re.findall(r"<td[^>]*>(.*?)</td>", row))))
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]
    return headers, rows


def svg_titles(part: str) -> list[str]:
    return [ET.fromstring(svg).findtext(f"{SVG}title") or "" for svg in re.findall(r"<svg.*?</svg>", part, re.S)]


def segments_svg(page: str) -> ET.Element | None:
    for svg in re.findall(r"<svg.*?</svg>", section(page, "Segments"), re.S):
        root = ET.fromstring(svg)
        if (root.findtext(f"{SVG}title") or "").startswith("Which node encoded which segment"):
            return root
    return None


def lanes(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if re.match(r"worker \d+ · ", t.text or "")]


def bars(root: ET.Element) -> list[str]:
    """The tooltips of the chart's bars (one per segment drawn)."""
    return [rect.findtext(f"{SVG}title") or "" for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]


def test_the_k3s_table_names_each_segments_span_node_slot_pod_attempt_and_phases(tmp_path: Path) -> None:
    written = report(tmp_path, "k3s", [run(10.0, k3s=True)])
    headers, rows = table_rows(section(written["html"], "Segments"))
    assert headers == ["#", "segment", "source span, s", "node / host", "slot", "pod", "attempt", "frames",
                       "compute, s", "scheduling, s", "start, s", "runtime start, s", "exit, s"]
    assert [r["#"] for r in rows] == ["0", "1", "2", "3"]
    # The last segment has no media_s: it ends with the video (7.5 s).
    assert [r["source span, s"] for r in rows] == ["0–2", "2–4", "4–6", "6–7.5"]
    assert rows[3] == {"#": "3", "segment": "seg_0003.mp4", "source span, s": "6–7.5", "node / host": "pi-2",
                       "slot": "1", "pod": "transcode-r-segments-3-abcde", "attempt": "2", "frames": "60",
                       "compute, s": "1.1", "scheduling, s": "0", "start, s": "1", "runtime start, s": "0.25",
                       "exit, s": "-0.25"}
    assert "one-second resolution" in section(written["html"], "Segments")
    md = written["md"].split("### Segments", 1)[1].split("###", 1)[0]
    assert "| # | segment | source span, s | node / host | slot | pod | attempt |" in md
    assert "| 3 | seg_0003.mp4 | 6–7.5 | pi-2 | 1 | transcode-r-segments-3-abcde | 2 | 60 | 1.1 | 0 | 1 | 0.25 | -0.25 |" in md


def test_an_ssh_table_has_no_pod_columns(tmp_path: Path) -> None:
    written = report(tmp_path, "ssh", [run(8.0, k3s=False)])
    headers, rows = table_rows(section(written["html"], "Segments"))
    assert headers == ["#", "segment", "source span, s", "node / host", "slot", "frames", "compute, s"]
    assert [(r["node / host"], r["slot"]) for r in rows] == [("pi-1", "0"), ("pi-2", "1"), ("pi-1", "0"), ("pi-2", "1")]
    assert "| pod |" not in written["md"] and "one-second resolution" not in written["html"]


def test_the_chart_has_a_lane_per_node_and_slot_with_each_segment_from_its_start(tmp_path: Path) -> None:
    three = [(0, "pi-1", 0, 0.0, 2.0), (1, "pi-2", 1, 0.5, 2.0), (2, "pi-3", 2, 1.0, 2.0), (3, "pi-1", 0, 2.0, 1.0)]
    written = report(tmp_path, "ssh", [run(5.0, k3s=False, workers=3, segments=three)],
                     context("ssh", hosts=("pi-1", "pi-2", "pi-3")))
    root = segments_svg(written["html"])
    assert root is not None
    assert lanes(root) == ["worker 0 · pi-1", "worker 1 · pi-2", "worker 2 · pi-3"]
    # Times from the run's earliest start (segment 0's), each bar labelled with its index.
    assert bars(root) == ["worker 0 · pi-1: seg_0000.mp4, 0–2 s (2 s)", "worker 0 · pi-1: seg_0003.mp4, 2–3 s (1 s)",
                          "worker 1 · pi-2: seg_0001.mp4, 0.5–2.5 s (2 s)", "worker 2 · pi-3: seg_0002.mp4, 1–3 s (2 s)"]
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("fill") == "#fff"]
    assert sorted(labels) == ["0", "1", "2", "3"]
    # Drawn once, in the Segments section: the Charts section has no second timeline.
    assert "Worker timeline" not in written["html"]


def test_on_k3s_the_pods_phases_are_drawn_beside_the_chart(tmp_path: Path) -> None:
    written = report(tmp_path, "k3s", [run(10.0, k3s=True)])
    assert svg_titles(section(written["html"], "Segments")) == [
        "Which node encoded which segment (N=2, transcode-k3s-strong-n2-r1)",
        "Pod phases: run transcode-k3s-strong-n2-r1 (N=2)"]
    phases = [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", section(written["html"], "Segments"), re.S)][1]
    # A long pod name loses its middle, not the end that tells the pods apart.
    assert [t.text for t in phases.iter(f"{SVG}text") if (t.text or "").startswith("#")] == [
        f"#{i} transc…r-segments-{i}-abcde" for i in range(4)]
    titles = svg_titles(written["html"])  # not drawn again under Charts
    assert sum(t.startswith("Pod phases") for t in titles) == 1 and not any(t.startswith("Worker timeline") for t in titles)


def test_a_resumed_segment_is_marked_in_the_table_and_not_drawn(tmp_path: Path) -> None:
    written = report(tmp_path, "k3s", [run(10.0, k3s=True, resumed=(2,))])
    part = section(written["html"], "Segments")
    _headers, rows = table_rows(part)
    # Its file and place in the source are facts; who made it and how long it took are an earlier run's.
    assert rows[2] == {"#": "2", "segment": "seg_0002.mp4", "source span, s": "4–6", "node / host": "resumed",
                       "slot": "–", "pod": "–", "attempt": "–", "frames": "–", "compute, s": "–",
                       "scheduling, s": "–", "start, s": "–", "runtime start, s": "–", "exit, s": "–"}
    assert [r["node / host"] for r in rows] == ["pi-1", "pi-2", "resumed", "pi-2"]
    assert part.count('<tr class="warm">') == 1
    root = segments_svg(written["html"])
    assert root is not None
    assert [tip.split(",")[0] for tip in bars(root)] == ["worker 0 · pi-1: seg_0000.mp4", "worker 1 · pi-2: seg_0001.mp4",
                                                         "worker 1 · pi-2: seg_0003.mp4"]
    assert "Not drawn: 1 segment resumed from an earlier run (2), not encoded now." in html_lib.unescape(part)
    assert "| 2 | seg_0002.mp4 | 4–6 | resumed | – |" in written["md"]


def test_a_run_that_resumed_every_segment_draws_nothing_and_says_why(tmp_path: Path) -> None:
    written = report(tmp_path, "ssh", [run(1.0, k3s=False, resumed=(0, 1, 2, 3))])
    part = section(written["html"], "Segments")
    assert "<svg" not in part and "Every segment was resumed from an earlier run" in part
    _headers, rows = table_rows(part)
    assert [r["node / host"] for r in rows] == ["resumed"] * 4
    assert [r["source span, s"] for r in rows] == ["0–2", "2–4", "4–6", "6–7.5"]


def test_a_pi_report_has_no_segments() -> None:
    assert model.segment_rows([{"run_id": "p", "workload": "pi", "mode": "strong", "workers": 1,
                                "results": [{"index": 0, "node": "pi-1"}]}]) == ([], [])


@pytest.mark.parametrize(("media", "video_s", "spans"), [
    ([2.0, 2.0, None], 5.5, {0: (0.0, 2.0), 1: (2.0, 4.0), 2: (4.0, 5.5)}),
    ([2.0, 2.0, None], None, {0: (0.0, 2.0), 1: (2.0, 4.0), 2: (4.0, None)}),  # the end unknown, not guessed
    ([2.0, 2.5, 1.0], None, {0: (0.0, 2.0), 1: (2.0, 4.5), 2: (4.5, 5.5)}),
    ([2.0, None, 1.0], 5.5, {}),  # a segment before the last without its length: nothing is guessed
])
def test_the_source_spans_follow_from_media_s_in_index_order(media: list[float | None], video_s: float | None,
                                                              spans: dict[int, tuple[float, float | None]]) -> None:
    results = [{"index": i, "media_s": m} for i, m in reversed(list(enumerate(media)))]  # any order in
    assert model.source_spans(results, video_s) == spans


def test_without_every_index_there_are_no_spans() -> None:
    assert model.source_spans([{"index": 0, "media_s": 2.0}, {"index": 2, "media_s": None}], 6.0) == {}
    assert model.source_spans([{"index": 0, "media_s": 2.0}, {"media_s": None}], 6.0) == {}
    assert model.span_text((6.0, None)) == "6–end" and model.span_text((0.0, 2.0)) == "0–2"
