#!/usr/bin/env python3
"""Benchmark: transcode.yml on the local backend against one plain ffmpeg encode.

Generates a 60 s 1280x720 30 fps test video with lavfi (testsrc2 + sine,
libx264 with B-frames and a 2 s keyframe interval, AAC), then alternates R
rounds of (a) `ansible-playbook transcode.yml -e video=...` (a fresh work folder
each round: nothing is resumed) and (b) one plain ffmpeg with the same settings
(libx264 -preset veryfast -crf 28, AAC 128k). Prints each round, both medians
and the ratios tool/ffmpeg (plus the CPU seconds each side used, which other
load on the machine does not distort) for:

  * t_e2e   -- the tool's own wall time from probe to verified output (the strong
               run's t_e2e_s in the report; includes the Ansible task hand-offs
               between probe, segments and join);
  * whole   -- the whole ansible-playbook process (interpreter start-up, node
               context, report writing included).

On one machine ffmpeg already uses every core, so the goal is to lose little: the whole
command within 1.15 x plain ffmpeg on the 60 s 720p clip, and at most 2.5 s of fixed cost
(whole command minus plain ffmpeg) on a 2 s clip. Figures, not a pass/fail test.
--repo runs the tool from another checkout, to time a commit before and after a change:

    ./lab bench transcode [--rounds 3] [--seconds 60] [--size 1280x720] [--workers N]
    git worktree add /tmp/before <commit> && ln -s $PWD/.venv /tmp/before/.venv
    ./lab bench transcode --seconds 2 --rounds 5 --repo /tmp/before
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_video(path: Path, seconds: int, size: str) -> None:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
           "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", "60", "-bf", "3", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "128k", str(path)]
    subprocess.run(cmd, check=True)


def cpu_children() -> float:
    """User + system CPU seconds of all waited-for descendants so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_tool(video: Path, scratch: Path, workers: int | None, repo: Path = REPO) -> tuple[float, float, dict]:
    extra: dict[str, object] = {"video": str(video), "transcode_reports_dir": str(scratch / "reports"),
                                "transcode_work_dir": str(scratch / "work")}
    if workers:
        extra["transcode_workers"] = workers
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "transcode.yml", "-e", json.dumps(extra)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=False)
    whole = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit(f"transcode.yml failed (rc={proc.returncode})")
    results = json.loads((scratch / "reports" / "latest-transcode" / "results.json").read_text())
    strong = next(r for r in results["runs"] if r["mode"] == "strong")
    assert results["verification"]["passed"], results["verification"]
    return strong["t_e2e_s"], whole, results


def run_ffmpeg(video: Path, scratch: Path) -> float:
    out = scratch / "plain.mp4"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video), "-map", "0:v:0", "-map", "0:a:0",
           "-c:a", "aac", "-b:a", "128k", "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", str(out)]
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    elapsed = time.monotonic() - start
    out.unlink()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds R (default 3)")
    parser.add_argument("--seconds", type=int, default=60, help="length of the test video (default 60)")
    parser.add_argument("--size", default="1280x720", help="frame size (default 1280x720)")
    parser.add_argument("--workers", type=int, default=0, help="transcode_workers (default: the tool's, = cores)")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="run the tool from this checkout (e.g. a git worktree of an older commit, to "
                             "compare before and after; default: this one)")
    parser.add_argument("--keep", type=Path, help="keep/reuse the generated video at this path")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg is not installed")

    with tempfile.TemporaryDirectory(prefix="bench-transcode-") as tmp:
        video = args.keep or Path(tmp) / "bench 720p.mp4"
        if not video.exists():
            print(f"generating {args.seconds} s {args.size} test video ...", flush=True)
            make_video(video, args.seconds, args.size)
        tool_e2e: list[float] = []
        tool_whole: list[float] = []
        plain: list[float] = []
        phases: list[dict] = []
        tool_cpu: list[float] = []
        plain_cpu: list[float] = []
        print(f"cores: {len(os.sched_getaffinity(0))}, load average before: {os.getloadavg()[0]:.2f}", flush=True)
        for r in range(args.rounds):
            order = ("tool", "ffmpeg") if r % 2 == 0 else ("ffmpeg", "tool")
            for which in order:
                scratch = Path(tempfile.mkdtemp(dir=tmp, prefix=f"r{r}-{which}-"))
                cpu0 = cpu_children()
                if which == "tool":
                    e2e, whole, results = run_tool(video, scratch, args.workers or None, args.repo.resolve())
                    tool_e2e.append(e2e)
                    tool_whole.append(whole)
                    phases.append(results["phases"])
                    tool_cpu.append(cpu_children() - cpu0)
                    print(f"round {r + 1} tool:   t_e2e {e2e:7.2f} s   whole playbook {whole:7.2f} s   "
                          f"CPU {tool_cpu[-1]:7.2f} s   workers {results['runs'][0]['workers']}", flush=True)
                else:
                    t = run_ffmpeg(video, scratch)
                    plain.append(t)
                    plain_cpu.append(cpu_children() - cpu0)
                    print(f"round {r + 1} ffmpeg: {t:7.2f} s   CPU {plain_cpu[-1]:7.2f} s", flush=True)
                shutil.rmtree(scratch, ignore_errors=True)
        m_e2e, m_whole, m_plain = (statistics.median(x) for x in (tool_e2e, tool_whole, plain))
        print()
        print(f"median plain ffmpeg            : {m_plain:7.2f} s")
        print(f"median tool t_e2e (probe->verified output): {m_e2e:7.2f} s   ratio tool/ffmpeg {m_e2e / m_plain:5.3f}")
        print(f"median whole ansible-playbook  : {m_whole:7.2f} s   ratio tool/ffmpeg {m_whole / m_plain:5.3f}")
        print(f"fixed cost (whole - plain ffmpeg, median of the rounds' differences): "
              f"{statistics.median(w - p for w, p in zip(tool_whole, plain)):.2f} s")
        m_tcpu, m_pcpu = statistics.median(tool_cpu), statistics.median(plain_cpu)
        print(f"median CPU seconds (user+sys, waited-for processes): tool {m_tcpu:.2f}, ffmpeg {m_pcpu:.2f} "
              "(the tool's segment workers run in a detached async job, which this does not count)")
        keys = phases[0].keys() if phases else []
        print("median phases: " + ", ".join(f"{k} {statistics.median(p[k] for p in phases):.2f}" for k in keys))
        print(f"goals (issue 13): whole/ffmpeg <= 1.15 on the 60 s 720p clip; fixed cost <= 2.5 s on a 2 s clip; "
              f"load average after: {os.getloadavg()[0]:.2f} "
              "(other processes on this machine add noise to both sides)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
