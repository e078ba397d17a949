"""What Kubernetes costs over bare SSH, for one transcode (DESIGN §6): a k3s report against the
newest earlier ssh report of the same video, settings and machines in the same reports folder.

Comparable means: both transcode reports, complete (not partial), the same source path, the
same work folder name (a digest of the source and of the settings that change the output),
and the same machines (`same_machines`). Pure: reads the earlier reports' results.json, writes
nothing.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .. import compare
from . import model, paths

PHASES = ("scheduling_s", "start_s", "runtime_start_s", "exit_s")
HOW = ("Run the same command with -e cluster_backend=ssh first, on the same machines (the inventory's workers "
       "group listing the cluster's nodes); the next k3s report of this video then shows what Kubernetes costs "
       "over bare SSH.")


def timed_run(runs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The transcode run that was timed: the strong run, unless it resumed any segment (then it
    is not a timing, as metrics.analyse says too)."""
    for run in runs:
        results = run.get("results") or []
        if run.get("mode") == "strong" and results and not any(r.get("resumed") for r in results):
            return run if isinstance(run.get("t_e2e_s"), (int, float)) else None
    return None


def machine_name(node: Mapping[str, Any]) -> str | None:
    """The name a machine gives itself. Inventory names (ssh) and Kubernetes node names (k3s)
    are two namings of the same Pis, chosen by different people; the host name is what the
    machine itself says to both backends. The machine's own reading (`after`) comes first: on
    k3s the top-level hostname is the API's kubernetes.io/hostname label, which follows a
    renamed node (k3s_node_name) rather than the machine."""
    own = node.get("after") if isinstance(node.get("after"), Mapping) else {}
    name = own.get("hostname") or node.get("hostname") or node.get("name")
    return str(name) if name else None


def machines(context: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(name for name in (machine_name(n) for n in context.get("nodes") or [] if isinstance(n, Mapping))
                     if name)


def same_machines(k3s: Mapping[str, Any], ssh: Mapping[str, Any]) -> bool:
    """The k3s report describes the cluster's nodes; the ssh report the controller (its first
    reading, roles/transcode/tasks/report.yml) and then the hosts. Same machines: the nodes are
    the hosts, with or without the controller (which may be a node itself)."""
    nodes, hosts = machines(k3s), machines(ssh)
    described = [n for n in ssh.get("nodes") or [] if isinstance(n, Mapping)]
    controller = machine_name(described[0]) if described else None
    return bool(nodes) and (nodes == hosts or nodes == hosts - {controller})


def comparable(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Whether an earlier report (`theirs`, a results.json) is the ssh twin of this k3s context."""
    other = theirs.get("context") or {}
    if theirs.get("workload") != "transcode" or other.get("backend") != "ssh" or model.partial_note(theirs):
        return False
    same_source = (other.get("source") or {}).get("path") == (mine.get("source") or {}).get("path")
    work = [os.path.basename(str(c.get("work") or "").rstrip("/")) for c in (mine, other)]
    return same_source and work[0] != "" and work[0] == work[1] and same_machines(mine, other)


def find_ssh_twin(reports_dir: str, context: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The newest comparable ssh report in `reports_dir` with a timed run, as (folder name, results)."""
    try:
        names = sorted((n for n in os.listdir(reports_dir) if n.startswith("transcode-") and paths.FOLDER_RE.match(n)),
                       key=paths.folder_order, reverse=True)
    except OSError:
        return None
    for name in names:
        try:
            data = compare.read_results(os.path.join(reports_dir, name, "results.json"))
        except (OSError, ValueError):
            continue
        if isinstance(data, Mapping) and comparable(context, data) and timed_run(data.get("runs") or []):
            return name, data
    return None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def pod_overhead(results: Sequence[Mapping[str, Any]]) -> float | None:
    """Mean per segment of the pod phases around the work: scheduling, start, runtime start, exit."""
    sums = []
    for result in results:
        parts = [result.get(key) for key in PHASES]
        if all(isinstance(p, (int, float)) for p in parts):
            sums.append(float(sum(parts)))  # type: ignore[arg-type]
    return _mean(sums)


def per_slot_segment(difference_s: float, segments: int, workers: Any) -> float | None:
    """The difference per segment that one worker slot ran in turn: difference × N / segments."""
    if not segments or not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        return None
    return difference_s * min(workers, segments) / segments


def backend_cost(reports_dir: str, runs: Sequence[Mapping[str, Any]], context: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison block of a k3s transcode report (`compared` false, with `how`, when there is none)."""
    mine = timed_run(runs)
    if mine is None:
        return {"compared": False, "how": "This run resumed segments an earlier run had made, so it is not a "
                                          "timing: there is nothing to compare."}
    twin = find_ssh_twin(reports_dir, context)
    if twin is None:
        return {"compared": False, "how": HOW}
    folder, data = twin
    theirs = timed_run(data.get("runs") or [])
    assert theirs is not None  # find_ssh_twin only returns reports with one
    t_k3s, t_ssh = float(mine["t_e2e_s"]), float(theirs["t_e2e_s"])
    segments = len(mine.get("results") or [])
    compute = {name: _mean([float(r["compute_s"]) for r in run.get("results") or []
                            if isinstance(r.get("compute_s"), (int, float))])
               for name, run in (("k3s", mine), ("ssh", theirs))}
    return {
        "compared": True,
        "ssh_report": folder,
        "ssh_run_id": theirs.get("run_id"),
        "segments": segments,
        "t_e2e_k3s_s": t_k3s,
        "t_e2e_ssh_s": t_ssh,
        "ratio": t_k3s / t_ssh if t_ssh > 0 else None,
        "difference_s": t_k3s - t_ssh,
        "difference_per_segment_s": (t_k3s - t_ssh) / segments if segments else None,
        # N slots run the segments side by side, so a cost paid once per pod adds to T_e2e once
        # per segment of a slot (segments / N of them), not once per segment: this is the figure
        # to hold against the pods' phases.
        "difference_per_slot_segment_s": per_slot_segment(t_k3s - t_ssh, segments, mine.get("workers")),
        "pod_overhead_mean_s": pod_overhead(mine.get("results") or []),
        "compute_mean_k3s_s": compute["k3s"],
        "compute_mean_ssh_s": compute["ssh"],
        "workers_k3s": mine.get("workers"),
        "workers_ssh": theirs.get("workers"),
    }
