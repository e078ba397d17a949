"""What every node did during a run: its sampled timeline, the energy of each run, stragglers in words.

The sampler (`plugins/workers/node_sampler.py`) runs on each node from before the first measured
run to after the last and writes its readings as the node gives them; `parse_sampler_output`
turns them into samples of one shape, the `telemetry` of results.json (DESIGN §12):

    {"t_ns": ..., "temp_c": 51.2, "arm_mhz": 1500.0, "throttled": 0, "load": 1.98,
     "power_w": 4.91, "cpu_power_w": 2.10}

`t_ns` is the node's own wall clock, the same clock its workers stamp `t_start_ns`/`t_end_ns`
with, so a run's interval and the node's samples line up without an offset. A value the node
cannot give is None, never a guess: a node without a thermal sensor has no `temp_c`, one without
vcgencmd no `throttled`, a board without a PMIC (all but the Pi 5) no `power_w`.

`load` is the CPUs busy over the interval before the sample (from /proc/stat: 2.0 = two cores'
worth), not the 1-minute load average, which is far too slow for runs of a few seconds.

Energy (`energy_j`) integrates power over an interval by the trapezoid rule, the samples at the
interval's ends interpolated. PMIC rails are the board's own rails, measured after its 5 V input:
not wall power. `calibration` (-e lab_power_calibration, 1 by default) scales it to a meter the
user trusts.
"""
from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from .environment import THROTTLE_BITS, parse_throttled
from .params import ParameterError, parse_float

FIELDS = ("t_ns", "temp_c", "arm_mhz", "throttled", "load", "power_w", "cpu_power_w")
# The PMIC rail of the Pi 5's SoC core supply, which the CPU cores draw from (the report's "CPU rail").
CPU_RAIL = "VDD_CORE"
# A node (on a single node with equal shares, a worker) this much slower per unit of work than the
# median of the others in its run is a straggler.
STRAGGLER_RATIO = 1.2
# A clock this far below the node's highest sampled clock counts as having fallen.
CLOCK_DROP = 0.9
# Said about a hot node (the firmware's soft limit is 80 °C on the Pi 4 and 5; it throttles at 85).
HOT_C = 80.0
# A worker's node busier than this many cores beyond its own workers was shared.
EXTRA_LOAD = 0.5
MAX_EVENTS_PER_NODE = 5

PMIC_LINE = re.compile(r"^\s*(?P<rail>\S+?)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)\s*=\s*(?P<value>[-+0-9.eE]+)\s*[AV]\s*$")
ARM_CLOCK = re.compile(r"frequency\(\d+\)\s*=\s*(\d+)")


def check_settings(interval_s: Any, max_seconds: Any, calibration: Any) -> str:
    """'' when -e lab_telemetry_interval, lab_telemetry_max_seconds and lab_power_calibration are
    usable, else the message naming the bad one (for an assert before anything runs)."""
    try:
        parse_float("lab_telemetry_interval", interval_s, low=0.1, high=60)
        parse_float("lab_telemetry_max_seconds", max_seconds, low=0, low_open=True)
        parse_float("lab_power_calibration", calibration, low=0, low_open=True, high=10)
    except ParameterError as err:
        return str(err)
    return ""


def parse_pmic(text: Optional[str]) -> tuple[Optional[float], Optional[float]]:
    """`vcgencmd pmic_read_adc` -> (watts over every rail with both a current and a voltage,
    watts of the CPU rail). (None, None) when no rail has both (not a Pi 5, or no output)."""
    if not text:
        return None, None
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        match = PMIC_LINE.match(line)
        if match:
            try:
                value = float(match.group("value"))
            except ValueError:
                continue
            (amps if match.group("kind") == "A" else volts)[match.group("rail")] = value
    rails = {rail: amps[rail] * volts[rail] for rail in amps.keys() & volts.keys()}
    if not rails:
        return None, None
    return sum(rails.values()), rails.get(CPU_RAIL)


def parse_arm_mhz(text: Optional[str]) -> Optional[float]:
    """`vcgencmd measure_clock arm` ("frequency(48)=1500345728") -> MHz; None if not one."""
    match = ARM_CLOCK.search(text or "")
    return int(match.group(1)) / 1e6 if match else None


THROTTLE_WORDS = {"under_voltage": "under-voltage", "frequency_capped": "ARM frequency capped",
                  "throttled": "throttled", "soft_temperature_limit": "soft temperature limit"}


def throttle_words(value: int) -> str:
    """The current throttle bits in words: "ARM frequency capped, soft temperature limit"."""
    return ", ".join(THROTTLE_WORDS.get(name, name) for bit, name in sorted(THROTTLE_BITS.items()) if value >> bit & 1)


@dataclass
class NodeTrace:
    """One node's timeline as its sampler recorded it."""

    node: str
    samples: list[dict[str, Any]] = field(default_factory=list)
    interval_s: Optional[float] = None
    cores: Optional[int] = None
    readings: list[str] = field(default_factory=list)   # what this node could give: temp_c, arm_mhz, ...
    cpu_s: Optional[float] = None      # the sampler's own CPU time while sampling (its vcgencmd calls included)
    wall_s: Optional[float] = None     # how long it sampled
    error: Optional[str] = None        # why there is no timeline, when there is none

    @property
    def cost(self) -> Optional[float]:
        """The sampler's CPU time as a share of one core over its run (0.004 = 0.4 %)."""
        if self.cpu_s is None or not self.wall_s:
            return None
        return self.cpu_s / self.wall_s

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "interval_s": self.interval_s, "cores": self.cores, "readings": self.readings,
                "cpu_s": self.cpu_s, "wall_s": self.wall_s, "cost": self.cost, "samples": len(self.samples),
                "error": self.error}


def parse_sampler_output(text: str, node: str) -> NodeTrace:
    """The sampler's JSON lines -> a NodeTrace. A line cut short (the sampler stopped while writing
    it) or anything else that does not parse is skipped."""
    trace = NodeTrace(node=node)
    previous_cpu: Optional[Sequence[int]] = None
    cpu_at_start = 0.0
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if "start" in record:
            start = record["start"]
            trace.interval_s = start.get("interval_s")
            trace.cores = start.get("cores")
            cpu_at_start = start.get("cpu_s") or 0.0
            continue
        if "end" in record:
            end_cpu = record["end"].get("cpu_s")
            trace.cpu_s = round(end_cpu - cpu_at_start, 4) if isinstance(end_cpu, (int, float)) else None
            trace.wall_s = record["end"].get("wall_s")
            continue
        if not isinstance(record.get("t_ns"), int):
            continue
        sample, previous_cpu = _sample(record, previous_cpu, trace.cores)
        trace.samples.append(sample)
    trace.readings = [key for key in FIELDS[1:] if any(s[key] is not None for s in trace.samples)]
    return trace


def _sample(record: Mapping[str, Any], previous_cpu: Optional[Sequence[int]],
            cores: Optional[int]) -> tuple[dict[str, Any], Optional[Sequence[int]]]:
    temp_mc = record.get("temp_mc")
    arm = parse_arm_mhz(record.get("arm"))
    if arm is None and isinstance(record.get("cpufreq_khz"), int):
        arm = record["cpufreq_khz"] / 1000
    if arm is None and isinstance(record.get("cpuinfo_mhz"), (int, float)):
        arm = float(record["cpuinfo_mhz"])
    throttled = parse_throttled(record.get("throttled"))
    power, cpu_power = parse_pmic(record.get("pmic"))
    cpu = record.get("cpu")
    load = None
    if previous_cpu and cpu and cores and cpu[1] > previous_cpu[1]:
        load = round((cpu[0] - previous_cpu[0]) / (cpu[1] - previous_cpu[1]) * cores, 3)
    sample = {
        "t_ns": record["t_ns"],
        "temp_c": temp_mc / 1000 if isinstance(temp_mc, int) else None,
        "arm_mhz": round(arm, 1) if arm is not None else None,
        "throttled": throttled["value"] if throttled else None,
        "load": load,
        "power_w": round(power, 4) if power is not None else None,
        "cpu_power_w": round(cpu_power, 4) if cpu_power is not None else None,
    }
    return sample, (cpu if cpu else previous_cpu)


# ---- energy -------------------------------------------------------------------------------------

def _value_at(points: Sequence[tuple[int, float]], t_ns: int) -> float:
    """Linear interpolation between the samples around t (the nearest one beyond the ends)."""
    if t_ns <= points[0][0]:
        return points[0][1]
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t0 <= t_ns <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (t_ns - t0) / (t1 - t0)
    return points[-1][1]


def energy_j(samples: Sequence[Mapping[str, Any]], start_ns: int, end_ns: int, key: str = "power_w",
             *, max_gap_s: Optional[float] = None) -> Optional[float]:
    """Joules over [start, end] from the samples' `key` (watts): the trapezoid rule, the ends
    interpolated. None when the samples do not cover the interval: none before its start or after
    its end within `max_gap_s` (a run outside the sampled time has no energy, not a guess)."""
    points = [(s["t_ns"], float(s[key])) for s in samples if s.get(key) is not None]
    if not points or end_ns < start_ns:
        return None
    slack = int((max_gap_s or 0) * 1e9)
    if points[0][0] > start_ns + slack or points[-1][0] < end_ns - slack:
        return None
    inside = [p for p in points if start_ns < p[0] < end_ns]
    edges = [(start_ns, _value_at(points, start_ns)), *inside, (end_ns, _value_at(points, end_ns))]
    return sum((t1 - t0) / 1e9 * (v0 + v1) / 2 for (t0, v0), (t1, v1) in zip(edges, edges[1:]))


# ---- runs against the timeline ------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """One worker's time on its node, on that node's clock."""

    node: str
    run_id: str
    label: str
    start_ns: int
    end_ns: int
    work: Optional[float]      # samples or frames: time per unit of work compares unequal shares

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def run_label(run: Mapping[str, Any]) -> str:
    """"strong N=4 rep 2" (a warm-up: "strong N=4 warm-up")."""
    mode, workers = run.get("mode", "?"), run.get("workers", "?")
    repetition = "warm-up" if run.get("warmup") else f"rep {run.get('repetition', '?')}"
    return f"{mode} N={workers} {repetition}"


def spans(runs: Iterable[Mapping[str, Any]]) -> list[Span]:
    """Every worker of every run with its node and interval (results without times are left out)."""
    found = []
    for run in runs:
        for result in run.get("results") or []:
            start, end = result.get("t_start_ns"), result.get("t_end_ns")
            node = result.get("host") or result.get("node")
            if isinstance(start, int) and isinstance(end, int) and end >= start and node:
                work = result.get("samples", result.get("frames_in"))
                found.append(Span(str(node), str(run.get("run_id")), run_label(run), start, end,
                                  float(work) if isinstance(work, (int, float)) and work > 0 else None))
    return found


def run_interval(run: Mapping[str, Any]) -> Optional[tuple[int, int]]:
    """From the first worker's start to the last one's end (each on its own node's clock)."""
    own = spans([run])
    if not own:
        return None
    return min(s.start_ns for s in own), max(s.end_ns for s in own)


def _between(trace: NodeTrace, start_ns: int, end_ns: int) -> list[dict[str, Any]]:
    return [s for s in trace.samples if start_ns <= s["t_ns"] <= end_ns]


def throttle_events(trace: NodeTrace) -> list[tuple[int, int]]:
    """(t_ns, bits) each time the current throttle bits (0-3) turn on or change while on."""
    events, before = [], 0
    for sample in trace.samples:
        value = sample.get("throttled")
        if value is None:
            continue
        now = value & 0xF
        if now and now != before:
            events.append((sample["t_ns"], now))
        before = now
    return events


def origin_ns(traces: Sequence[NodeTrace], runs: Sequence[Mapping[str, Any]]) -> Optional[int]:
    """t = 0 of the timeline: the first sample or worker start, whichever came first."""
    times = [t.samples[0]["t_ns"] for t in traces if t.samples] + [s.start_ns for s in spans(runs)]
    return min(times) if times else None


def _explain(trace: Optional[NodeTrace], span: Span, origin: int, cores_busy: float) -> str:
    """What the node's own readings say about a slow worker; an honest "nothing" otherwise."""
    if trace is None or not trace.samples:
        return f"node {span.node} has no readings for it"
    during = _between(trace, span.start_ns, span.end_ns)
    throttled = [s for s in during if (s.get("throttled") or 0) & 0xF]
    if throttled:
        bits = throttled[0]["throttled"] & 0xF
        onsets = [t for t, _ in throttle_events(trace) if t <= throttled[0]["t_ns"]]
        # Throttling that began before this worker and lasted: say since when, not a sample's time.
        before = [s for s in trace.samples if s["t_ns"] < span.start_ns and s.get("throttled") is not None]
        if onsets and before and before[-1]["throttled"] & 0xF and onsets[-1] < span.start_ns:
            return (f"node {span.node} was throttled (since t = {(onsets[-1] - origin) / 1e9:.0f} s:"
                    f" {throttle_words(bits)})")
        return f"node {span.node} throttled at t = {(throttled[0]['t_ns'] - origin) / 1e9:.0f} s ({throttle_words(bits)})"
    clocks = [s["arm_mhz"] for s in trace.samples if s.get("arm_mhz") is not None]
    low = [s for s in during if s.get("arm_mhz") is not None and clocks and s["arm_mhz"] < CLOCK_DROP * max(clocks)]
    if low:
        first = low[0]
        return (f"node {span.node}'s ARM clock fell to {min(s['arm_mhz'] for s in low):.0f} MHz at"
                f" t = {(first['t_ns'] - origin) / 1e9:.0f} s (from {max(clocks):.0f})")
    hot = [s for s in during if s.get("temp_c") is not None and s["temp_c"] >= HOT_C]
    if hot:
        return f"node {span.node} reached {max(s['temp_c'] for s in hot):.0f} °C"
    loads = [s["load"] for s in during if s.get("load") is not None]
    if loads and statistics.median(loads) > cores_busy + EXTRA_LOAD:
        return (f"node {span.node} was busier than its workers (load {statistics.median(loads):.1f} cores,"
                f" {cores_busy:.0f} of them its workers')")
    return f"nothing in node {span.node}'s readings explains it"


def _units(run: Mapping[str, Any], by_worker: bool) -> list[Span]:
    """What a run's stragglers are looked for among: its nodes (each node's workers summed: the
    segments of a video differ in content, a node's share evens that out), or, on a single node
    with equal shares (π), its workers."""
    own = [s for s in spans([run]) if s.work]
    nodes = sorted({s.node for s in own})
    if len(nodes) < 2:
        return own if by_worker else []
    merged = []
    for node in nodes:
        mine = [s for s in own if s.node == node]
        # Seconds: the node's worker time summed, as a Span from its first start of that length.
        seconds = sum(s.seconds for s in mine)
        start = min(s.start_ns for s in mine)
        merged.append(Span(node, mine[0].run_id, mine[0].label, start, start + int(seconds * 1e9),
                           sum(s.work or 0 for s in mine)))
    return merged


def stragglers(runs: Sequence[Mapping[str, Any]], traces: Sequence[NodeTrace], *, by_worker: bool = True) -> list[str]:
    """Slow nodes (or workers) in words: one whose time per unit of work is STRAGGLER_RATIO or more of
    the median of the others in its run (with two, the other: a median that counts the slow one
    would hide it), with what its node's readings say (throttling first, then a fallen clock, heat,
    other load). "node pi-3 throttled at t = 41 s (soft temperature limit); its time was 1.3× the
    median of strong N=4 rep 2"."""
    by_node = {t.node: t for t in traces}
    origin = origin_ns(traces, runs) or 0
    lines = []
    for run in runs:
        units = _units(run, by_worker)
        if len(units) < 2:
            continue
        per_unit = [u.seconds / u.work for u in units if u.work]
        workers = [s for s in spans([run]) if s.work]
        for position, (unit, value) in enumerate(zip(units, per_unit)):
            middle = statistics.median(per_unit[:position] + per_unit[position + 1:])
            if middle <= 0:
                continue
            ratio = value / middle
            if ratio >= STRAGGLER_RATIO:
                first = min(s.start_ns for s in workers if s.node == unit.node)
                last = max(s.end_ns for s in workers if s.node == unit.node)
                busy = max(sum(1 for o in workers if o.node == unit.node and o.start_ns <= s.start_ns < o.end_ns)
                           for s in workers if s.node == unit.node)
                window = Span(unit.node, unit.run_id, unit.label, first, last, unit.work)
                reason = _explain(by_node.get(unit.node), window, origin, busy)
                # The seconds too, so that a reader can tell a slow node from a short, noisy run.
                lines.append(f"{reason}; its time was {ratio:.1f}× the median of {unit.label} ({unit.seconds:.2g} s "
                             f"where the others' pace gives {unit.seconds / ratio:.2g} s)")
    return lines


def events_in_words(runs: Sequence[Mapping[str, Any]], traces: Sequence[NodeTrace]) -> list[str]:
    """Every throttle onset on every node, with the run it fell in: "node pi-3 throttled at
    t = 41 s (soft temperature limit), during strong N=4 rep 2"."""
    origin = origin_ns(traces, runs) or 0
    intervals = [(run_interval(run), run_label(run)) for run in runs]
    lines = []
    for trace in traces:
        events = throttle_events(trace)
        for t_ns, bits in events[:MAX_EVENTS_PER_NODE]:
            during = [label for interval, label in intervals if interval and interval[0] <= t_ns <= interval[1]]
            where = f", during {during[0]}" if during else ", between runs"
            lines.append(f"node {trace.node} throttled at t = {(t_ns - origin) / 1e9:.0f} s ({throttle_words(bits)}){where}")
        if len(events) > MAX_EVENTS_PER_NODE:
            lines.append(f"node {trace.node}: {len(events) - MAX_EVENTS_PER_NODE} more throttle events")
    return lines


def throttled_runs(runs: Sequence[Mapping[str, Any]], traces: Sequence[NodeTrace]) -> set[str]:
    """Ids of the runs during which a node that ran one of their workers reported throttling."""
    by_node = {t.node: t for t in traces}
    found = set()
    for span in spans(runs):
        trace = by_node.get(span.node)
        if trace and any((s.get("throttled") or 0) & 0xF for s in _between(trace, span.start_ns, span.end_ns)):
            found.add(span.run_id)
    return found


def run_temperature(run: Mapping[str, Any], traces: Sequence[NodeTrace]) -> Optional[float]:
    """The mean temperature of the nodes that ran a run's workers, over the run (their samples inside
    its interval); None when none of them has a sensor or a sample there. For the drift test
    against temperature (metrics.drift, against="temp_c")."""
    interval = run_interval(run)
    if interval is None:
        return None
    nodes = {s.node for s in spans([run])}
    values = [s["temp_c"] for t in traces if t.node in nodes for s in _between(t, *interval) if s.get("temp_c") is not None]
    return round(statistics.fmean(values), 2) if values else None


def run_energy(run: Mapping[str, Any], traces: Sequence[NodeTrace], calibration: float = 1.0) -> Optional[dict[str, Any]]:
    """The energy of one run: every node that ran one of its workers, over the whole run (a node
    waiting for the others still draws power), board rails × calibration. None when a node of the
    run has no power readings for it: a partial sum would look like a saving."""
    interval = run_interval(run)
    if interval is None:
        return None
    nodes = sorted({s.node for s in spans([run])})
    by_node = {t.node: t for t in traces}
    total = cpu = 0.0
    cpu_known = True
    for node in nodes:
        trace = by_node.get(node)
        if trace is None:
            return None
        gap = 2 * (trace.interval_s or 1.0)
        joules = energy_j(trace.samples, *interval, max_gap_s=gap)
        if joules is None:
            return None
        total += joules
        cpu_joules = energy_j(trace.samples, *interval, "cpu_power_w", max_gap_s=gap)
        if cpu_joules is None:
            cpu_known = False
        else:
            cpu += cpu_joules
    seconds = (interval[1] - interval[0]) / 1e9
    return {"joules": round(total * calibration, 4), "cpu_joules": round(cpu * calibration, 4) if cpu_known else None,
            "seconds": round(seconds, 4), "mean_w": round(total * calibration / seconds, 4) if seconds > 0 else None,
            "nodes": nodes}


# ---- what the report gets -----------------------------------------------------------------------

BOARD_RAILS = "board rails (the Pi 5's PMIC), not wall power"


def trace_from_dict(data: Mapping[str, Any]) -> NodeTrace:
    """A NodeTrace from lab_telemetry's `trace` (to_dict() plus its samples)."""
    samples = [dict((key, s.get(key)) for key in FIELDS) for s in data.get("samples") or []
               if isinstance(s, Mapping) and isinstance(s.get("t_ns"), int)]
    return NodeTrace(node=str(data.get("node")), samples=samples, interval_s=data.get("interval_s"),
                     cores=data.get("cores"), readings=list(data.get("readings") or []), cpu_s=data.get("cpu_s"),
                     wall_s=data.get("wall_s"), error=data.get("error"))


def traces_from_results(results: Iterable[Any]) -> list[NodeTrace]:
    """Every node's trace from a registered loop of lab_telemetry state=stopped (or its `trace`
    dicts themselves): a node whose sampler failed or could not be reached keeps the reason."""
    traces = []
    for entry in results or []:
        if not isinstance(entry, Mapping):
            continue
        if isinstance(entry.get("trace"), Mapping):
            traces.append(trace_from_dict(entry["trace"]))
        elif "samples" in entry and "node" in entry:
            traces.append(trace_from_dict(entry))
        elif entry.get("failed") or entry.get("unreachable"):
            name = entry.get("item") if isinstance(entry.get("item"), str) else "?"
            reason = str(entry.get("msg") or "its sampler failed").splitlines()[0][:200]
            traces.append(NodeTrace(node=name, error=("unreachable: " if entry.get("unreachable") else "") + reason))
    return traces


def _run_units(run: Mapping[str, Any], workload: str) -> Optional[float]:
    """What a run's energy is divided by: 10⁶ samples (π) or frames (transcode)."""
    key = "samples" if workload == "pi" else "frames_in"
    total = sum(r.get(key) or 0 for r in run.get("results") or [] if isinstance(r.get(key), (int, float)))
    if not total:
        return None
    return total / 1e6 if workload == "pi" else float(total)


def analyse(runs: Sequence[Mapping[str, Any]], traces: Sequence[NodeTrace], *, workload: str,
            calibration: float = 1.0) -> dict[str, Any]:
    """The report's telemetry blocks and the runs with what the timeline adds to each.

    Returns {"runs": the runs, each with `energy_j`, `cpu_energy_j`, `mean_power_w` and
    `energy_per_unit_j` (None without power readings) and `throttled` also set when a node of the
    run reported throttling during it; "telemetry": {node: [samples]}; "sampling": how and what
    was sampled, with the stragglers and throttle events in words; "energy": per point}."""
    unit = "10⁶ samples" if workload == "pi" else "frame"
    throttled = throttled_runs(runs, traces)
    updated = []
    for run in runs:
        energy = run_energy(run, traces, calibration)
        units = _run_units(run, workload)
        updated.append(dict(
            run, throttled=bool(run.get("throttled")) or run.get("run_id") in throttled,
            temp_c=run_temperature(run, traces),
            energy_j=energy["joules"] if energy else None,
            cpu_energy_j=energy["cpu_joules"] if energy else None,
            mean_power_w=energy["mean_w"] if energy else None,
            energy_per_unit_j=round(energy["joules"] / units, 6) if energy and units else None))
    points: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for run in updated:
        if not run.get("warmup") and run.get("valid", True) is not False and run.get("energy_j") is not None:
            points.setdefault((str(run.get("mode")), int(run.get("workers") or 0)), []).append(run)
    rows = []
    for (mode, workers), own in sorted(points.items()):
        cpu = [r["cpu_energy_j"] for r in own if r.get("cpu_energy_j") is not None]
        per_unit = [r["energy_per_unit_j"] for r in own if r.get("energy_per_unit_j") is not None]
        rows.append({"mode": mode, "workers": workers, "runs": len(own),
                     "joules_median": statistics.median(r["energy_j"] for r in own),
                     "cpu_joules_median": statistics.median(cpu) if len(cpu) == len(own) else None,
                     "mean_power_w_median": statistics.median(r["mean_power_w"] for r in own),
                     "per_unit_median": statistics.median(per_unit) if per_unit else None})
    powered = [t.node for t in traces if "power_w" in t.readings]
    if rows:
        why = None
    elif not traces:
        why = "no node was sampled"
    elif not powered:
        why = "no node reported its power (only the Raspberry Pi 5's PMIC can: vcgencmd pmic_read_adc)"
    else:
        why = "the runs' nodes did not all report their power over the runs"
    origin = origin_ns(traces, runs)
    return {
        "runs": updated,
        "telemetry": {t.node: t.samples for t in traces},
        "sampling": {
            "origin_ns": origin,
            "interval_s": next((t.interval_s for t in traces if t.interval_s), None),
            "nodes": [t.to_dict() for t in traces],
            "stragglers": stragglers(runs, traces, by_worker=workload == "pi"),
            "events": events_in_words(runs, traces),
        } if traces else None,
        "energy": {"available": bool(rows), "why_not": why, "label": BOARD_RAILS, "calibration": calibration,
                   "unit": unit, "cpu_rail": CPU_RAIL, "points": rows, "nodes_with_power": powered},
    }


# ---- the report's words -------------------------------------------------------------------------

READING_NAMES = {"temp_c": "temperature", "arm_mhz": "ARM clock", "throttled": "throttle bits", "load": "CPUs busy",
                 "power_w": "PMIC power", "cpu_power_w": "CPU rail"}


def settle_lines(nodes: Optional[Sequence[Mapping[str, Any]]]) -> list[str]:
    """"Settled before the first run: pi-1: 47.2 → 61.8 °C in 9.5 min, settled (…); pi-2: …"."""
    if nodes is None:
        return []
    from .settle import summary
    return ["Settled before the first run (-e lab_settle=true): "
            + ("; ".join(summary(str(n.get("node")), dict(n)) for n in nodes) or "no node to settle") + "."]


def sampling_lines(sampling: Optional[Mapping[str, Any]]) -> list[str]:
    """What was sampled on each node and at what cost, then the throttle events and stragglers."""
    if not sampling:
        return []
    interval = sampling.get("interval_s")
    described = []
    for node in sampling.get("nodes") or []:
        if node.get("error") or not node.get("samples"):
            described.append(f"{node.get('node')}: no timeline ({node.get('error') or 'no samples'})")
            continue
        readings = ", ".join(READING_NAMES.get(r, r) for r in node.get("readings") or []) or "nothing it could read"
        cost = node.get("cost")
        cost_text = f"; the sampler used {cost * 100:.2g} % of one core" if isinstance(cost, (int, float)) else ""
        described.append(f"{node.get('node')} ({readings}{cost_text})")
    lines = [(f"Sampled every {interval:g} s: " if interval else "Sampled: ") + "; ".join(described) + "."]
    events = list(sampling.get("events") or [])
    slow = list(sampling.get("stragglers") or [])
    lines += [f"{line[0].upper()}{line[1:]}." for line in events + slow]
    if not events and not slow:
        lines.append(f"No node reported throttling, and none took {STRAGGLER_RATIO:g}× or more of the others' median "
                     "time per unit of work in a run.")
    return lines


def energy_lines(energy: Optional[Mapping[str, Any]]) -> list[str]:
    """One line on what the energy figures are, or why there are none ("n/a")."""
    if not energy:
        return []
    if not energy.get("available"):
        return [f"Energy: n/a — {energy.get('why_not')}."]
    calibration = energy.get("calibration")
    scaled = (f", scaled by {calibration:g} (-e lab_power_calibration) to a meter's reading"
              if isinstance(calibration, (int, float)) and calibration != 1 else
              "; -e lab_power_calibration=<meter J / these J> scales it to a USB meter or smart plug")
    return [f"Energy: {energy.get('label')}{scaled}. A run's energy is every node that ran one of its workers, "
            f"over the whole run; the CPU column is the {energy.get('cpu_rail')} rail alone."]


def energy_table(energy: Optional[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the per-point energy table (empty without power readings)."""
    if not energy or not energy.get("available"):
        return [], []

    def number(value: Any, digits: int = 3) -> str:
        return f"{value:.{digits}g}" if isinstance(value, (int, float)) else "–"

    headers = ["mode", "N", "runs", "J per run (median)", f"J per {energy.get('unit')}", "CPU rail, J", "mean power, W"]
    rows = [[str(p.get("mode")), str(p.get("workers")), str(p.get("runs")), number(p.get("joules_median")),
             number(p.get("per_unit_median")), number(p.get("cpu_joules_median")), number(p.get("mean_power_w_median"))]
            for p in energy.get("points") or []]
    return headers, rows
