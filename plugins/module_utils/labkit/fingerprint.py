"""The reproducibility fingerprint: what a published figure needs beside it to be reproduced.

Per node: firmware and bootloader versions (`vcgencmd version`, `vcgencmd bootloader_version`),
kernel and page size, the clock settings of config.txt, the CPU governor, the numpy and BLAS
build the π workers use, the ffmpeg build the transcode uses; and for the run, the cooling and
the ambient temperature when the user gives them (`-e lab_cooling=… -e lab_ambient_c=…`: no
sensor can tell them). Parsers take text, readers take `root` (tests point it at a fake tree),
and nothing here runs a command (lab_node_context does, with argument lists). A value that
cannot be read is None, never a guess.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

from .params import ParameterError, is_unset, parse_float

# config.txt settings that change how fast a Pi computes (clocks, voltage, turbo, thermal limit).
CLOCK_SETTINGS = ("arm_freq", "arm_freq_min", "arm_boost", "core_freq", "core_freq_min", "gpu_freq",
                  "sdram_freq", "over_voltage", "over_voltage_delta", "over_voltage_min", "force_turbo",
                  "initial_turbo", "temp_limit", "temp_soft_limit")
# Where the firmware reads config.txt: Bookworm and later, then older releases.
CONFIG_TXT = ("/boot/firmware/config.txt", "/boot/config.txt")
# The order the report shows a node's fingerprint in, with the words it uses.
FIELDS = {
    "firmware": "firmware", "bootloader": "bootloader", "kernel": "kernel", "page_size": "page size",
    "config_clocks": "config.txt clocks", "governor": "governor", "numpy": "numpy", "blas": "BLAS",
    "ffmpeg": "ffmpeg", "ffmpeg_configuration": "ffmpeg configure (digest)",
}
_HASH = re.compile(r"\bversion\s+([0-9a-f]{7,40})\b")
_SETTING = re.compile(r"^\s*([A-Za-z_0-9]+)\s*=\s*(\S+)")
_SECTION = re.compile(r"^\s*\[([^\]]+)\]")


def parse_firmware_version(text: str | None) -> str | None:
    """`vcgencmd version` -> "Mar 17 2023 10:50:39, 82f3750a65fa" (build date, commit); None if not one."""
    if not text:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    commit = next((m.group(1)[:12] for m in map(_HASH.search, lines) if m), None)
    if commit is None:
        return None
    return f"{lines[0]}, {commit}" if not _HASH.search(lines[0]) else commit


def parse_bootloader_version(text: str | None) -> str | None:
    """`vcgencmd bootloader_version` -> "2023/01/11 17:40:52, 8ba17717fbce"; None if not one."""
    return parse_firmware_version(text)


def parse_config_clocks(text: str | None) -> dict[str, str] | None:
    """The clock settings of a config.txt, the last one winning; a setting under a conditional
    section other than [all] is named with it ("[pi5] arm_freq"). {} when it sets none."""
    if text is None:
        return None
    section = "all"
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0]
        header = _SECTION.match(line)
        if header:
            section = header.group(1).strip()
            continue
        setting = _SETTING.match(line)
        if setting and setting.group(1) in CLOCK_SETTINGS:
            name = setting.group(1) if section == "all" else f"[{section}] {setting.group(1)}"
            found[name] = setting.group(2)
    return found


def read_config_clocks(root: str = "/") -> dict[str, str] | None:
    """The clock settings of the node's config.txt; None when it has none (not a Pi)."""
    for absolute in CONFIG_TXT:
        try:
            with open(os.path.join(root, absolute.lstrip("/")), encoding="utf-8", errors="replace") as handle:
                return parse_config_clocks(handle.read(1 << 20))
        except OSError:
            continue
    return None


def parse_ffmpeg_build(text: str | None) -> tuple[str | None, str | None]:
    """`ffmpeg -version` -> (its version, a 12-digit digest of its `configuration:` line): two builds
    of one version (Debian's, a static one) differ in the second."""
    if not text:
        return None, None
    lines = text.splitlines()
    first = lines[0].split() if lines else []
    version = first[first.index("version") + 1] if "version" in first[:-1] else None
    configuration = next((line.strip() for line in lines if line.strip().startswith("configuration:")), None)
    digest = hashlib.sha256(configuration.encode()).hexdigest()[:12] if configuration else None
    return version, digest


def numpy_build() -> tuple[str | None, str | None]:
    """(numpy's version, its BLAS as "name version") in this Python: what the π workers import."""
    try:
        import numpy
    except ImportError:
        return None, None
    blas = None
    try:
        config = numpy.show_config(mode="dicts")  # numpy >= 1.26
        found = ((config or {}).get("Build Dependencies") or {}).get("blas") or {}
        blas = " ".join(str(found[k]) for k in ("name", "version") if found.get(k)) or None
    except (TypeError, ValueError, AttributeError):
        pass
    return str(numpy.__version__), blas


def conditions(cooling: Any, ambient_c: Any) -> dict[str, Any]:
    """The user's account of the run's conditions (ParameterError naming a bad value)."""
    return {
        "cooling": None if is_unset(cooling) else str(cooling).strip() or None,
        "ambient_c": None if is_unset(ambient_c) else parse_float("lab_ambient_c", ambient_c, low=-40, high=80),
    }


def of_node(node: Mapping[str, Any]) -> dict[str, Any]:
    """A node description's fingerprint, in FIELDS order (None where it could not be read)."""
    read = node.get("fingerprint") if isinstance(node.get("fingerprint"), Mapping) else {}
    return {field: (node.get(field) if field in ("kernel", "page_size", "governor") else read.get(field))
            for field in FIELDS}


def table(block: Any) -> tuple[list[str], list[list[str]]]:
    """The report's fingerprint table in words, unescaped: headers, and a row per node."""
    nodes = block.get("nodes") if isinstance(block, Mapping) else None
    rows = [[str(name)] + [shown(row.get(field)) for field in FIELDS]
            for name, row in (nodes or {}).items() if isinstance(row, Mapping)]
    return ["node", *FIELDS.values()], rows


def shown(value: Any) -> str:
    """A fingerprint value in words: a config.txt's clocks as "arm_freq=2400, over_voltage=4"."""
    if value is None:
        return "–"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none set"
    return str(value)


def differences(a: Any, b: Any) -> list[dict[str, str]]:
    """The fingerprint fields two reports' `context.fingerprint` blocks both know and that differ,
    as {"what", "a", "b"} ("fingerprint pi-1 firmware", …): a field one report could not read, or
    an older report without a fingerprint, is unknown there, not different. The conditions the
    user gave count the same way."""
    def rows(block: Any) -> dict[str, Any]:
        if not isinstance(block, Mapping):
            return {}
        found = {f"fingerprint {node} {FIELDS[field]}": value
                 for node, row in (block.get("nodes") or {}).items() if isinstance(row, Mapping)
                 for field, value in row.items() if field in FIELDS}
        conditions = block.get("conditions") or {}
        found.update({f"conditions {name}": conditions.get(name) for name in ("cooling", "ambient_c")})
        return found

    ra, rb = rows(a), rows(b)
    return [{"what": key, "a": shown(ra[key]), "b": shown(rb[key])}
            for key in ra if key in rb and ra[key] is not None and rb[key] is not None and ra[key] != rb[key]]


def check_conditions(cooling: Any, ambient_c: Any) -> str:
    """'' when the values are usable, else the message (for an assert in a play)."""
    try:
        conditions(cooling, ambient_c)
    except ParameterError as err:
        return str(err)
    return ""
