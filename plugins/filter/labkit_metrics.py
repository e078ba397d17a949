"""Filters over labkit.metrics and labkit.results: result parsing and the §4 metrics.

Thin wrappers: the logic and its tests live in plugins/module_utils/labkit.

    {{ job_output | lab_parse_results }}          -> {records, legacy, malformed, malformed_examples, other}
    {{ runs | lab_analyse }}                      -> {summary, amdahl, warnings, outliers, ...}
    {{ parsed.legacy | lab_legacy_block(1.52) }}  -> DESIGN §5 legacy block
    {{ t1 | lab_speedup(tn) }}, {{ s | lab_efficiency(n) }}, {{ s | lab_karp_flatt(n) }}
    {{ inside | lab_pi_accuracy(samples) }}
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labkit_path  # noqa: F401,E402  (puts plugins/module_utils on sys.path)

from labkit import metrics, results  # noqa: E402


def _plain(value: Any) -> Any:
    """Ansible hands filters its own str/dict/list subclasses; copy them into plain Python types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _optional_float(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return float(value)


def lab_parse_results(text: str | Sequence[str]) -> dict[str, Any]:
    """Worker output (text or a list of lines, e.g. stdout_lines) -> records, legacy, malformed, other."""
    return results.parse_result_lines(_plain(text)).as_dict()


def lab_analyse(
    runs: Sequence[Mapping[str, Any]], bootstrap_resamples: int = 2000, seed: int = 0, only_valid: bool = False
) -> dict[str, Any]:
    """Run records -> {summary, amdahl, amdahl_by_workload, warnings, outliers}."""
    return metrics.analyse(
        _plain(runs), bootstrap_resamples=int(bootstrap_resamples), seed=int(seed), only_valid=bool(only_valid)
    )


def lab_legacy_block(records: Sequence[Mapping[str, Any]], reference_s: Any = None) -> dict[str, Any]:
    """Legacy records (from lab_parse_results) and T_ref in seconds (or none) -> the legacy block."""
    return results.legacy_block(_plain(records), _optional_float(reference_s))


def lab_legacy_runs(records: Sequence[Mapping[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """Legacy records -> one mode=legacy run record for lab_analyse."""
    return results.legacy_runs(_plain(records), str(run_id))


def lab_format_result_line(record: Mapping[str, Any]) -> str:
    return results.format_result_line(_plain(record))


def lab_speedup(t_reference: Any, t_n: Any) -> float | None:
    """T(1) | lab_speedup(T(N))."""
    return metrics.speedup(_optional_float(t_reference), _optional_float(t_n))


def lab_efficiency(speedup: Any, workers: Any) -> float | None:
    """S | lab_efficiency(N)."""
    return metrics.efficiency(_optional_float(speedup), int(workers))


def lab_karp_flatt(speedup: Any, workers: Any) -> float | None:
    """S | lab_karp_flatt(N); none for N = 1."""
    return metrics.karp_flatt(_optional_float(speedup), int(workers))


def lab_pi_accuracy(inside: Any, samples: Any) -> dict[str, float | None]:
    """inside | lab_pi_accuracy(samples) -> estimate, abs_error, standard_error, z."""
    return metrics.pi_accuracy(int(inside), int(samples))


def lab_throughput_vs_reference(workers: Any, t_reference: Any, t_n: Any) -> float | None:
    """N | lab_throughput_vs_reference(T_ref, T(N)) = N·T_ref/T(N)."""
    return metrics.throughput_vs_reference(int(workers), _optional_float(t_reference), _optional_float(t_n))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "lab_parse_results": lab_parse_results,
            "lab_analyse": lab_analyse,
            "lab_legacy_block": lab_legacy_block,
            "lab_legacy_runs": lab_legacy_runs,
            "lab_format_result_line": lab_format_result_line,
            "lab_speedup": lab_speedup,
            "lab_efficiency": lab_efficiency,
            "lab_karp_flatt": lab_karp_flatt,
            "lab_pi_accuracy": lab_pi_accuracy,
            "lab_throughput_vs_reference": lab_throughput_vs_reference,
        }
