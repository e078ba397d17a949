#!/usr/bin/env python3
"""What a node did during a run: one JSON line per sample, until stopped.

Runs beside the workers on every node (the controller, an ssh host, a K3s node over SSH),
started and stopped by the lab_telemetry module. Standard library only, like pi_worker.py.
It records readings as the node gives them; labkit.telemetry on the controller side turns
them into numbers (one parser for each reading, shared with the rest of the kit):

    {"start": {"t_ns": ..., "interval_s": 1.0, "cores": 4, "vcgencmd": [...], ...}}
    {"t_ns": ..., "temp_mc": 51234, "cpufreq_khz": 1500000, "cpu": [busy, total],
     "cpuinfo_mhz": 2994.4 (only without cpufreq),
     "throttled": "throttled=0x0", "arm": "frequency(0)=1500000000", "pmic": "..."}
    {"end": {"t_ns": ..., "cpu_s": 0.41, "samples": 120}}

Sysfs is read directly (no process per reading): the thermal zone, cpufreq, /proc/stat, and the
throttle bits from the Raspberry Pi kernel's get_throttled file where it has one. `vcgencmd`
(get_throttled without that file, measure_clock arm, pmic_read_adc) only where it answered when
the sampler started, one short process per reading.
`cpu_s` in the start and end lines is the sampler's own CPU time so far, its vcgencmd calls
included: the difference over the time between them is the cost the report states (Python's own
start, before the first line, is not part of it). It stops on SIGTERM or SIGINT, when the --owner process is gone (on the controller: a run stopped
with Ctrl-C), or by itself after --max-seconds, so that a stopped run leaves nothing sampling for
long.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import signal
import subprocess
import sys
import time

THERMAL = "/sys/class/thermal/thermal_zone0/temp"
# The Raspberry Pi kernel's copy of get_throttled (hex, no 0x), where the firmware driver has it:
# read without starting vcgencmd. Its place differs between boards (soc/ on the Pi 4, soc@… on the Pi 5).
THROTTLED_FILES = ("/sys/devices/platform/soc/soc:firmware/get_throttled",
                   "/sys/devices/platform/*/*firmware/get_throttled", "/sys/devices/platform/*firmware/get_throttled")
CPUFREQ = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"
# One reading per command; each is asked for only when it answered at the start.
VCGENCMD_READINGS = (("throttled", ("get_throttled",)), ("arm", ("measure_clock", "arm")),
                     ("pmic", ("pmic_read_adc",)))


def read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def cpuinfo_mhz() -> float | None:
    """The first core's clock as /proc/cpuinfo gives it (x86 and others without cpufreq in sysfs)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def throttled_file() -> str | None:
    """The first readable get_throttled file of THROTTLED_FILES, or None."""
    for pattern in THROTTLED_FILES:
        for path in sorted(glob.glob(pattern)):
            if read_text(path) is not None:
                return path
    return None


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def cpu_jiffies() -> list[int] | None:
    """[busy, total] jiffies of all CPUs since boot (/proc/stat's first line); idle and iowait are not busy."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    total = sum(fields[:8])  # guest time is already counted in user
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return [total - idle, total]


def cpu_seconds() -> float:
    """This process's CPU time so far, its finished children's (the vcgencmd calls) included."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(used.ru_utime + used.ru_stime + children.ru_utime + children.ru_stime, 4)


def gencmd(vcgencmd: str, args: tuple[str, ...]) -> str | None:
    try:
        done = subprocess.run([vcgencmd, *args], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


class Stop(Exception):
    pass


def stop(signum: int, frame: object) -> None:
    raise Stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", required=True, help="the file to append the JSON lines to")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--max-seconds", type=float, default=7200.0, help="stop by itself after this long")
    parser.add_argument("--vcgencmd", default="vcgencmd", help="the vcgencmd program (a name on PATH or a path)")
    parser.add_argument("--throttled-file", help="the kernel's get_throttled file (default: found in /sys)")
    parser.add_argument("--owner", type=int, help="stop when this process (the controller's ansible-playbook) is gone")
    args = parser.parse_args(argv)
    if not args.interval > 0 or not args.max_seconds > 0:
        parser.error("--interval and --max-seconds must be positive")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sysfs_throttled = args.throttled_file or throttled_file()
    if sysfs_throttled and read_text(sysfs_throttled) is None:
        sysfs_throttled = None
    readings = [(key, command) for key, command in VCGENCMD_READINGS
                if not (key == "throttled" and sysfs_throttled) and gencmd(args.vcgencmd, command)]
    count = 0
    with open(args.out, "a", encoding="utf-8") as out:
        def write(record: dict) -> None:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            out.flush()

        write({"start": {"t_ns": time.time_ns(), "pid": os.getpid(), "interval_s": args.interval,
                         "cpu_s": cpu_seconds(),
                         "cores": os.cpu_count(), "node": os.uname().nodename,
                         "thermal": read_int(THERMAL) is not None, "cpufreq": read_int(CPUFREQ) is not None,
                         "vcgencmd": [key for key, _ in readings], "throttled_file": sysfs_throttled}})
        started = time.monotonic()
        tick = started

        def sample() -> dict:
            record: dict = {"t_ns": time.time_ns(), "temp_mc": read_int(THERMAL), "cpufreq_khz": read_int(CPUFREQ),
                            "cpu": cpu_jiffies()}
            if record["cpufreq_khz"] is None:
                record["cpuinfo_mhz"] = cpuinfo_mhz()
            if sysfs_throttled:  # as vcgencmd prints it, so that one parser reads both
                value = read_text(sysfs_throttled)
                record["throttled"] = f"throttled=0x{value}" if value else None
            for key, command in readings:
                record[key] = gencmd(args.vcgencmd, command)
            return record

        try:
            while tick - started < args.max_seconds:
                if args.owner and not os.path.exists(f"/proc/{args.owner}"):
                    raise Stop()  # the run was stopped (Ctrl-C): nobody will stop this sampler
                write(sample())
                count += 1
                # A fixed schedule, not sleep(interval) after each sample: the rate does not drift
                # with the time a sample takes; a late sample skips the ticks it missed.
                tick += args.interval * max(1, int((time.monotonic() - tick) // args.interval) + 1)
                time.sleep(max(0.0, tick - time.monotonic()))
        except Stop:
            # One last sample at the stop, so that the timeline reaches the end of the last run.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            write(sample())
            count += 1
        write({"end": {"t_ns": time.time_ns(), "cpu_s": cpu_seconds(), "samples": count,
                       "wall_s": round(time.monotonic() - started, 3)}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
