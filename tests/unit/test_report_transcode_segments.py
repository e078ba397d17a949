"""The transcode report's segments (which node and pod made each) and, on k3s, what Kubernetes
cost over bare SSH against the same video's earlier ssh report on the same machines."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labkit.report import backend_cost, write_report

SOURCE = "/videos/clip.mp4"
WORK = "/lab/work/transcode/clip-8d5caccf2092"


def segment(index: int, host: str, *, k3s: bool, resumed: bool = False, compute: float = 2.0) -> dict[str, Any]:
    result = {"schema": 1, "workload": "transcode", "run_id": "r", "index": index, "count": 4, "node": host,
              "host": host, "slot": 0, "segment": f"seg_{index:04d}.mp4", "frames_in": 60, "frames_out": 60,
              "media_s": 2.0, "bytes_out": 1000, "compute_s": compute, "resumed": resumed,
              "t_start_ns": 1_000_000_000 * index, "t_end_ns": 1_000_000_000 * index + int(compute * 1e9)}
    if k3s:
        result |= {"pod": f"transcode-r-segments-{index}-abcde", "attempt": 1 + (index == 3),
                   "scheduling_s": 0.0, "start_s": 1.0, "runtime_start_s": 0.25, "exit_s": -0.25}
    return result


def run(t_e2e: float, *, k3s: bool, resumed: tuple[int, ...] = ()) -> dict[str, Any]:
    hosts = ["pi-1", "pi-2"]
    return {"run_id": f"transcode-{'k3s' if k3s else 'ssh'}", "workload": "transcode", "mode": "strong",
            "workers": 4, "repetition": 1, "warmup": False, "order": 1, "work": 8.0, "t_e2e_s": t_e2e,
            "valid": True, "throttled": False, "oversubscribed": False, "problems": [],
            "results": [segment(i, hosts[i % 2], k3s=k3s, resumed=i in resumed) for i in range(4)]}


def context(backend: str, *, hosts: tuple[str, ...] = ("pi-1", "pi-2"), work: str = WORK) -> dict[str, Any]:
    # An ssh report describes the controller too; a k3s report only the cluster's nodes.
    machines = ("ctl", *hosts) if backend != "k3s" else hosts
    return {"backend": backend, "nodes": [{"name": h, "hostname": h} for h in machines], "parameters": {},
            "source": {"path": SOURCE}, "work": work}


def report(tmp_path: Path, backend: str, runs: list[dict], ctx: dict | None = None) -> dict[str, Any]:
    out = write_report(str(tmp_path), "transcode", runs, ctx or context(backend))
    folder = Path(out["path"])
    return {"folder": folder, "json": json.loads((folder / "results.json").read_text()),
            "html": (folder / "index.html").read_text(),
            "md": (folder / "summary.md").read_text()}


def test_the_segments_table_names_node_pod_attempt_and_phases(tmp_path: Path) -> None:
    written = report(tmp_path, "k3s", [run(10.0, k3s=True, resumed=(2,))])
    html = written["html"]
    assert "<h2>Segments</h2>" in html and "transcode-r-segments-3-abcde" in html
    for label in ("node / host", "pod", "attempt", "scheduling, s", "runtime start, s", "exit, s"):
        assert label in html
    assert html.count(">resumed<") >= 3  # segment 2: its node, pod, timing columns say so
    assert "### Segments" in written["md"] and "seg_0003.mp4" in written["md"]


def test_without_pods_there_are_no_pod_columns(tmp_path: Path) -> None:
    html = report(tmp_path, "ssh", [run(8.0, k3s=False)])["html"]
    assert "<h2>Segments</h2>" in html and "node / host" in html
    assert "scheduling, s" not in html and ">pod<" not in html
    assert "Kubernetes over bare SSH" not in html  # only a k3s report compares


def test_a_k3s_report_says_how_to_get_the_comparison_when_there_is_none(tmp_path: Path) -> None:
    written = report(tmp_path, "k3s", [run(10.0, k3s=True)])
    block = written["json"]["backend_cost"]
    assert block["compared"] is False and "cluster_backend=ssh" in block["how"]
    assert "Kubernetes over bare SSH" in written["html"]


def test_the_k3s_run_is_compared_with_the_same_videos_ssh_run(tmp_path: Path) -> None:
    ssh = report(tmp_path, "ssh", [run(8.0, k3s=False)])
    written = report(tmp_path, "k3s", [run(10.0, k3s=True)])
    block = written["json"]["backend_cost"]
    assert block["compared"] is True
    assert block["ssh_report"] == ssh["folder"].name
    assert block["t_e2e_ssh_s"] == 8.0 and block["t_e2e_k3s_s"] == 10.0
    assert block["ratio"] == 1.25 and block["difference_s"] == 2.0
    assert block["difference_per_segment_s"] == 0.5 and block["segments"] == 4
    assert block["pod_overhead_mean_s"] == 1.0  # 0 + 1 + 0.25 - 0.25
    assert "1.25×" in written["html"] and "Kubernetes over bare SSH" in written["md"]


def test_only_the_same_source_settings_and_machines_are_comparable(tmp_path: Path) -> None:
    for other in (context("ssh", hosts=("pi-1", "pi-3")),   # another machine
                  context("ssh", hosts=("pi-1", "pi-2", "pi-3")),   # one more machine
                  context("ssh", work="/lab/work/transcode/clip-0000deadbeef"),  # other settings
                  dict(context("ssh"), source={"path": "/videos/other.mp4"}),
                  context("local")):
        folder = tmp_path / f"case-{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        write_report(str(folder), "transcode", [run(8.0, k3s=False)], other)
        assert backend_cost.find_ssh_twin(str(folder), context("k3s")) is None, other
    # A π report, or a run whose segments were all resumed, is never the twin either.
    assert backend_cost.timed_run([run(8.0, k3s=False, resumed=(2,))]) is None


def test_a_k3s_run_that_resumed_segments_is_no_timing_to_compare(tmp_path: Path) -> None:
    report(tmp_path, "ssh", [run(8.0, k3s=False)])
    block = report(tmp_path, "k3s", [run(10.0, k3s=True, resumed=(1,))])["json"]["backend_cost"]
    assert block["compared"] is False and "not a timing" in block["how"]
