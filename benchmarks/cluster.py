#!/usr/bin/env python3
"""Benchmark: both experiments across a simulated cluster of 3 hosts capped at 0.5 CPU.

Starts a sandbox (`./lab sandbox`, its own work folder and id, removed at the
end) unless --inventory names one, then, through the real playbooks:

  * π strong scaling over 1, 2 and 3 hosts (bench-pi.yml, cluster_backend=ssh):
    T(N), the speed-up T(1)/T(N) and the efficiency at N=3 from the report;
  * the transcode of a 60 s 1280x720 clip across the hosts (transcode.yml,
    the whole ansible-playbook command timed) against one plain ffmpeg with
    the same settings on one such host (over SSH, timed by the host's clock
    around ffmpeg alone), R rounds alternating which goes first.

Prints the medians and the ratios, and where the transcode's time went (the
report's phase split). Figures, not a pass/fail test. Goals (issue 9):
transcode speed-up >= 2.55 for the whole command, π efficiency >= 0.90 at 3 hosts.

    ./lab bench cluster [--rounds 1] [--seconds 60] [--hosts 3] [--cpus 0.5] [--inventory FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from transcode_vs_ffmpeg import make_video  # noqa: E402

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                PYTHONPATH=str(REPO / "tools"))


def sandbox(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "labsandbox", *args], cwd=REPO, env=env(), check=True)


def play(playbook: str, inventory: Path, extra: dict) -> tuple[float, str]:
    """Run a playbook; (wall seconds of the whole command, its output)."""
    start = time.monotonic()
    proc = subprocess.run([ANSIBLE_PLAYBOOK, playbook, "-i", str(inventory), "-e", json.dumps(extra)],
                          cwd=REPO, env=env(), capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit(f"{playbook} failed (rc={proc.returncode})")
    return wall, proc.stdout


def first_host(inventory: Path) -> dict:
    data = yaml.safe_load(inventory.read_text())
    name = sorted(data["all"]["children"]["workers"]["hosts"])[0]
    return {"name": name, **data["all"]["hosts"][name]}


def ssh(host: dict, argv: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = ["ssh", "-o", "BatchMode=yes", "-i", host["ansible_ssh_private_key_file"],
           *shlex.split(host.get("ansible_ssh_common_args", "")), f"{host['ansible_user']}@{host['ansible_host']}",
           "--", shlex.join(argv)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def plain_ffmpeg_on(host: dict, video: Path) -> float:
    """One plain ffmpeg on the host (the clip copied there first), timed by the host's clock."""
    remote = f"/var/tmp/bench-cluster-{os.getpid()}"
    subprocess.run(["rsync", "-a", "-e", shlex.join(["ssh", "-i", host["ansible_ssh_private_key_file"],
                                                       *shlex.split(host.get("ansible_ssh_common_args", ""))]),
                    str(video), f"{host['ansible_user']}@{host['ansible_host']}:{remote}.mp4"], check=True)
    script = ('t0=$(date +%s%N); ffmpeg -nostdin -v error -y -i "$1" -map 0:v:0 -map 0:a:0 -c:a aac -b:a 128k '
              '-c:v libx264 -preset veryfast -crf 28 "$2" || exit 1; t1=$(date +%s%N); rm -f "$1" "$2"; '
              'echo $((t1 - t0))')
    done = ssh(host, ["sh", "-c", script, "sh", f"{remote}.mp4", f"{remote}-out.mp4"])
    if done.returncode != 0:
        raise SystemExit(f"plain ffmpeg on {host['name']} failed: {done.stderr}")
    return int(done.stdout.split()[-1]) / 1e9


def bench_pi(inventory: Path, scratch: Path, hosts: int, samples: int) -> None:
    extra = {"pi_scaling": "strong", "pi_workers": ",".join(str(n) for n in range(1, hosts + 1)),
             "pi_samples": samples, "pi_repetitions": 3, "pi_reports_dir": str(scratch / "reports")}
    wall, _ = play("bench-pi.yml", inventory, extra)
    results = json.loads((scratch / "reports" / "latest-pi" / "results.json").read_text())
    rows = {row["workers"]: row for row in results["summary"] if row["mode"] == "strong"}
    t1 = rows[1]["t_median_s"]
    print(f"π strong scaling, {samples:.3g} samples, 3 repetitions per point ({wall:.0f} s in all):")
    for n in sorted(rows):
        t = rows[n]["t_median_s"]
        print(f"  N={n}: T = {t:6.2f} s   speed-up {t1 / t:5.2f}   efficiency {t1 / t / n:5.2f}")
    print(f"  efficiency at N={hosts}: {t1 / rows[hosts]['t_median_s'] / hosts:.2f} (goal >= 0.90)")


def bench_transcode(inventory: Path, scratch: Path, video: Path, rounds: int) -> None:
    host = first_host(inventory)
    tool, plain, phases = [], [], []
    for r in range(rounds):
        for which in (("tool", "ffmpeg") if r % 2 == 0 else ("ffmpeg", "tool")):
            if which == "ffmpeg":
                plain.append(plain_ffmpeg_on(host, video))
                print(f"round {r + 1} plain ffmpeg on {host['name']}: {plain[-1]:7.2f} s", flush=True)
                continue
            work = scratch / f"r{r}"
            wall, _ = play("transcode.yml", inventory, {"video": str(video), "transcode_work_dir": str(work / "work"),
                                                        "transcode_reports_dir": str(work / "reports")})
            results = json.loads((work / "reports" / "latest-transcode" / "results.json").read_text())
            assert results["verification"]["passed"]
            tool.append(wall)
            phases.append(results["phases"])
            strong = next(run for run in results["runs"] if run["mode"] == "strong")
            print(f"round {r + 1} transcode.yml on {strong['workers']} slots: whole command {wall:7.2f} s, "
                  f"probe→verified {strong['t_e2e_s']:7.2f} s", flush=True)
    m_tool, m_plain = statistics.median(tool), statistics.median(plain)
    print(f"transcode: plain ffmpeg on one host {m_plain:.2f} s, whole transcode.yml {m_tool:.2f} s: "
          f"speed-up {m_plain / m_tool:.2f} (goal >= 2.55)")
    print("  phases (median s): " + ", ".join(f"{k} {statistics.median(p[k] for p in phases):.2f}"
                                              for k in phases[0]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="transcode rounds (default 1)")
    parser.add_argument("--seconds", type=int, default=60, help="length of the test clip (default 60)")
    parser.add_argument("--hosts", type=int, default=3, help="sandbox hosts (default 3)")
    parser.add_argument("--cpus", default="0.5", help="CPUs per sandbox host (default 0.5)")
    parser.add_argument("--pi-samples", type=int, default=30_000_000, help="π samples per run (default 3e7)")
    parser.add_argument("--inventory", type=Path, help="use these hosts instead of starting a sandbox")
    parser.add_argument("--only", choices=["pi", "transcode"], help="run one of the two")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        scratch = Path(tmp)
        inventory = args.inventory
        box = scratch / "sandbox"
        if inventory is None:
            inventory = scratch / "sandbox.yml"
            sandbox("up", str(args.hosts), "--cpus", args.cpus, "--workdir", str(box), "--inventory",
                    str(inventory), "--id", f"bench{os.getpid() % 1000}")
        try:
            print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
            if args.only in (None, "pi"):
                bench_pi(inventory, scratch / "pi", args.hosts, args.pi_samples)
            if args.only in (None, "transcode"):
                video = scratch / "clip 720p.mp4"
                make_video(video, args.seconds, "1280x720")
                bench_transcode(inventory, scratch / "transcode", video, args.rounds)
            print(f"load average after: {os.getloadavg()[0]:.2f} (other load on this machine slows the hosts too)")
        finally:
            if args.inventory is None:
                sandbox("down", "--workdir", str(box))
    return 0


if __name__ == "__main__":
    sys.exit(main())
