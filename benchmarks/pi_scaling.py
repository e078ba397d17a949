#!/usr/bin/env python3
"""Benchmark: strong scaling of the π experiment at N=1 and N=cores, through the real playbook.

Prints T(1), T(N), the efficiency by makespan with its bootstrap interval, and the
orchestration overhead share (T_e2e − max tᵢ)/T_e2e, read from the report that
bench-pi.yml writes. Side by side, the same workers started bare (subprocess,
no Ansible) give the machine's own ceiling, so the tool's cost is told apart
from what the hardware allows. Figures, not a pass/fail test.

    ./lab bench pi [--samples 400000000] [--repetitions 5] [--kernel numpy]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "plugins" / "workers" / "pi_worker.py"


def bare_makespan(workers: int, samples: int, kernel: str) -> float:
    """Start `workers` worker processes at once, no orchestration; seconds until the last exits."""
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, str(WORKER), "--index", str(i), "--count", str(workers),
                               "--samples", str(samples), "--kernel", kernel], stdout=subprocess.DEVNULL)
             for i in range(workers)]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"bare worker exited {proc.returncode}")
    return time.monotonic() - started


def bare_efficiency(workers: int, samples: int, kernel: str, rounds: int) -> tuple[float, float, float]:
    """Median bare T(1), T(N) over alternating rounds, and their efficiency."""
    ones, manys = [], []
    for _ in range(rounds):
        ones.append(bare_makespan(1, samples, kernel))
        manys.append(bare_makespan(workers, samples, kernel))
    t1, tn = statistics.median(ones), statistics.median(manys)
    return t1, tn, t1 / (workers * tn)


def main() -> int:
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400_000_000,
                        help="total samples W (default: a few seconds per point with numpy)")
    parser.add_argument("--workers", type=int, default=cores, help=f"N to compare with 1 (default: cores = {cores})")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--kernel", choices=("numpy", "python"), default="numpy")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-pi-") as reports:
        extra = {"pi_workers": [1, args.workers], "pi_scaling": "strong", "pi_samples": args.samples,
                 "pi_repetitions": args.repetitions, "pi_kernel": args.kernel, "pi_reports_dir": reports}
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "bench-pi.yml", "-e", json.dumps(extra)]
        print(f"$ {' '.join(cmd[:2])} -e '{json.dumps(extra)}'", flush=True)
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
                              capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        if proc.returncode != 0:
            print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
            return proc.returncode
        results = json.loads((Path(reports) / "latest-pi" / "results.json").read_text())

    rows = {row["workers"]: row for row in results["summary"] if row["mode"] == "strong"}
    one, many = rows[1], rows[args.workers]
    print(f"\nstrong scaling, W = {args.samples:,} samples, kernel {args.kernel}, "
          f"{args.repetitions} repetitions per point, {cores} cores, playbook wall time {wall:.1f} s")
    print(f"{'N':>3} {'T median (s)':>13} {'MAD (s)':>8} {'speed-up':>9} {'95% CI':>15} "
          f"{'efficiency':>10} {'overhead':>9} {'balance':>8}")
    for row in (one, many):
        ci = (f"[{row['speedup_ci_low']:.3f}, {row['speedup_ci_high']:.3f}]"
              if row["speedup_ci_low"] is not None else "")
        print(f"{row['workers']:>3} {row['t_median_s']:>13.3f} {row['t_mad_s']:>8.3f} {row['speedup']:>9.3f} "
              f"{ci:>15} {row['efficiency']:>10.3f} {row['overhead_share']:>9.1%} {row['load_balance']:>8.3f}")
    print(f"\nefficiency at N={args.workers} by makespan: {many['efficiency']:.3f}; "
          f"orchestration overhead share: {many['overhead_share']:.1%} (N={args.workers}), "
          f"{one['overhead_share']:.1%} (N=1)")
    for warning in results.get("warnings", []):
        print(f"warning: {warning}")

    print(f"\nbaseline: the same workers started bare (no Ansible), {args.repetitions} alternating rounds")
    t1, tn, bare = bare_efficiency(args.workers, args.samples, args.kernel, args.repetitions)
    print(f"bare T(1) = {t1:.3f} s, T({args.workers}) = {tn:.3f} s, efficiency {bare:.3f}")
    print(f"tool efficiency / bare efficiency = {many['efficiency'] / bare:.3f} "
          "(1.0: the tool costs nothing beyond what the machine allows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
