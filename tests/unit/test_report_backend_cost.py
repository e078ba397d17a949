"""A k3s transcode report compares itself with the newest earlier ssh report of the same video,
settings and machines in the same reports folder (labkit.report.backend_cost), and says how to
get that comparison when there is none."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from labkit.report import backend_cost, paths, write_report
from test_report_transcode_segments import SEGMENTS, context, report, run, section, table_rows

T = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.timezone.utc)


def ssh_report(reports: Path, t_e2e: float, *, at: dt.datetime = T, ctx: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None, resumed: tuple[int, ...] = ()) -> str:
    out = write_report(str(reports), "transcode", [run(t_e2e, k3s=False, resumed=resumed)], ctx or context("ssh"),
                       extra, now=at)
    return Path(out["path"]).name


def test_the_k3s_run_is_compared_with_the_same_videos_ssh_run(tmp_path: Path) -> None:
    folder = ssh_report(tmp_path, 8.0)
    written = report(tmp_path, "k3s", [run(10.0, k3s=True)])
    block = written["json"]["backend_cost"]
    assert block["compared"] is True and block["ssh_report"] == folder
    assert (block["t_e2e_k3s_s"], block["t_e2e_ssh_s"]) == (10.0, 8.0)
    assert block["ratio"] == pytest.approx(1.25) and block["difference_s"] == pytest.approx(2.0)
    assert block["segments"] == 4 and block["difference_per_segment_s"] == pytest.approx(0.5)
    # 2 slots ran the 4 segments, 2 each in turn: 2 s over 2 segments of a slot.
    assert block["difference_per_slot_segment_s"] == pytest.approx(1.0)
    assert block["pod_overhead_mean_s"] == pytest.approx(1.0)  # 0 + 1 + 0.25 - 0.25
    compute = sum(s[4] for s in SEGMENTS) / 4
    assert block["compute_mean_k3s_s"] == pytest.approx(compute) == block["compute_mean_ssh_s"]
    _headers, rows = table_rows(section(written["html"], "Kubernetes over bare SSH"))
    shown = {row[""]: row["value"] for row in rows}
    assert shown["k3s run, T_e2e"] == "10 s (N=2)" and shown["ssh run, T_e2e"] == f"8 s (N=2, report {folder})"
    assert shown["k3s / ssh"] == "1.25×" and shown["difference"] == "2 s"
    assert shown["difference per segment"] == "0.5 s (4 segments)"
    assert shown["pod phases around the work, mean per segment"] == "1 s"
    assert "different N" not in written["html"]
    md = written["md"].split("### Kubernetes over bare SSH", 1)[1]
    assert (f"k3s 10 s against ssh 8 s (report {folder}): 1.25×, difference 2 s, 0.5 s per segment, "
            "1 s per segment of a worker slot; pod phases around the work 1 s per segment.") in md


def test_the_newest_comparable_report_is_the_one_compared(tmp_path: Path) -> None:
    ssh_report(tmp_path, 9.0, at=T)
    newest = ssh_report(tmp_path, 8.0, at=T)  # the same second: transcode-…-2
    ssh_report(tmp_path, 7.0, at=T + dt.timedelta(hours=1), ctx=context("ssh", hosts=("pi-1", "pi-3")))
    block = report(tmp_path, "k3s", [run(10.0, k3s=True)])["json"]["backend_cost"]
    assert newest.endswith("-2") and block["ssh_report"] == newest and block["t_e2e_ssh_s"] == 8.0


def test_different_worker_counts_are_said(tmp_path: Path) -> None:
    ssh_report(tmp_path, 8.0)
    written = report(tmp_path, "k3s", [run(10.0, k3s=True, workers=4)])
    assert written["json"]["backend_cost"]["difference_per_slot_segment_s"] == pytest.approx(2.0)  # 2 s × 4 / 4
    assert "The runs had different N" in written["html"]


def test_without_an_ssh_report_the_k3s_report_says_how_to_get_one(tmp_path: Path) -> None:
    written = report(tmp_path, "k3s", [run(10.0, k3s=True)])
    block = written["json"]["backend_cost"]
    assert block == {"compared": False, "how": backend_cost.HOW} and "-e cluster_backend=ssh" in block["how"]
    assert "-e cluster_backend=ssh" in section(written["html"], "Kubernetes over bare SSH")
    assert "-e cluster_backend=ssh" in written["md"].split("### Kubernetes over bare SSH", 1)[1]


def test_only_a_k3s_report_compares(tmp_path: Path) -> None:
    ssh_report(tmp_path, 8.0)
    written = report(tmp_path, "ssh", [run(7.0, k3s=False)])
    assert written["json"]["backend_cost"] is None
    assert "Kubernetes over bare SSH" not in written["html"] and "Kubernetes over bare SSH" not in written["md"]
    pi = write_report(str(tmp_path), "pi", [], {"backend": "k3s", "nodes": []})
    assert "backend_cost" not in json.loads(Path(pi["files"]["results.json"]).read_text())


@pytest.mark.parametrize("other", [
    context("ssh", hosts=("pi-1", "pi-3")),  # another machine
    context("ssh", hosts=("pi-1", "pi-2", "pi-3")),  # one more machine
    context("ssh", hosts=("pi-1",)),  # one fewer
    context("ssh", work="/lab/work/transcode/clip-0000deadbeef"),  # other settings, the same video
    context("ssh", source="/videos/other.mp4"),  # another video in a work folder of the same name
    context("local"),
    context("k3s"),  # a k3s report is not the ssh twin
], ids=["other-host", "more-hosts", "fewer-hosts", "other-settings", "other-source", "local", "k3s"])
def test_only_the_same_source_settings_and_machines_on_ssh_are_comparable(tmp_path: Path, other: dict[str, Any]) -> None:
    write_report(str(tmp_path), "transcode", [run(8.0, k3s=False)], other, now=T)
    assert backend_cost.find_ssh_twin(str(tmp_path), context("k3s")) is None
    assert report(tmp_path, "k3s", [run(10.0, k3s=True)])["json"]["backend_cost"]["compared"] is False


def test_a_partial_report_or_a_resumed_run_is_no_twin(tmp_path: Path) -> None:
    ssh_report(tmp_path, 8.0, extra={"partial": {"interrupted": True, "runs_kept": 1, "runs_planned": 2}})
    ssh_report(tmp_path, 3.0, resumed=(1,))
    assert backend_cost.find_ssh_twin(str(tmp_path), context("k3s")) is None
    # The same reports, complete and timed, are twins (the test can tell them apart).
    ssh_report(tmp_path, 8.0, extra={"partial": {"interrupted": False, "runs_kept": 1, "runs_planned": 1}})
    assert backend_cost.find_ssh_twin(str(tmp_path), context("k3s")) is not None


def test_a_pi_report_is_no_twin() -> None:
    ssh = json.loads(json.dumps({"workload": "transcode", "context": context("ssh"), "runs": [run(8.0, k3s=False)]}))
    assert backend_cost.comparable(context("k3s"), ssh)
    assert not backend_cost.comparable(context("k3s"), dict(ssh, workload="pi"))


def test_machines_are_compared_by_the_host_name_they_give_themselves() -> None:
    ssh = {"workload": "transcode", "context": context("ssh")}
    # Kubernetes named the nodes otherwise (k3s_node_name): the API's hostname label follows the
    # node's name; the machine's own reading after the run says who it is.
    renamed = dict(context("k3s"), nodes=[{"name": f"node-{h}", "hostname": f"node-{h}", "after": {"hostname": h}}
                                          for h in ("pi-1", "pi-2")])
    assert backend_cost.comparable(renamed, ssh)
    unread = dict(context("k3s"), nodes=[{"name": f"node-{h}", "hostname": f"node-{h}"} for h in ("pi-1", "pi-2")])
    assert not backend_cost.comparable(unread, ssh)
    # The controller (the ssh report's first reading) may be a node itself.
    assert backend_cost.comparable(context("k3s", hosts=("ctl", "pi-1", "pi-2")), ssh)
    # But the one extra machine allowed is the controller, not any host.
    first_is_a_host = {"workload": "transcode", "context": dict(context("ssh"), nodes=[
        {"hostname": h} for h in ("pi-1", "ctl", "pi-2")])}
    assert not backend_cost.comparable(context("k3s"), first_is_a_host)


def test_a_k3s_run_that_resumed_segments_is_no_timing_to_compare(tmp_path: Path) -> None:
    ssh_report(tmp_path, 8.0)
    block = report(tmp_path, "k3s", [run(10.0, k3s=True, resumed=(1,))])["json"]["backend_cost"]
    assert block["compared"] is False and "not a timing" in block["how"]


def test_report_folders_sort_by_time_then_suffix() -> None:
    names = ["transcode-20261127-090000-10", "transcode-20261127-090001", "transcode-20261127-090000",
             "transcode-20261127-090000-9"]
    assert sorted(names, key=paths.folder_order) == [
        "transcode-20261127-090000", "transcode-20261127-090000-9", "transcode-20261127-090000-10",
        "transcode-20261127-090001"]
