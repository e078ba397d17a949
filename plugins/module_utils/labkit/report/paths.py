"""Report folders: a new one per run, atomic file writes, an atomic `latest-<workload>` link.

Nothing here ever overwrites or removes an existing report: the folder is
created with os.mkdir (which fails when it exists) and suffixed -2, -3, … on
collision; files are written under a temporary name and renamed into place.
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Mapping
from typing import Any

WORKLOAD_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_SUFFIX = 1000
FOLDER_RE = re.compile(r"^(.*-\d{8}-\d{6})(?:-(\d+))?$")  # folder_name(), then create_report_dir's suffix


def folder_name(workload: str, now: _dt.datetime) -> str:
    """`<workload>-<YYYYmmdd-HHMMSS>` (the time as given: pass a UTC datetime for UTC names)."""
    if not WORKLOAD_RE.match(workload):
        raise ValueError(f"workload must be a lower-case name like 'pi' or 'transcode', got {workload!r}")
    return f"{workload}-{now.strftime('%Y%m%d-%H%M%S')}"


def folder_order(name: str) -> tuple[str, int]:
    """Sort key of report folders, oldest first: the time in the name, then the -2, -3… that
    create_report_dir gives a second folder of the same second (so -10 comes after -9)."""
    match = FOLDER_RE.match(name)
    return (match.group(1), int(match.group(2) or 1)) if match else (name, 1)


def create_report_dir(reports_dir: str, workload: str, now: _dt.datetime) -> str:
    """Create and return a new, empty report folder; never reuses an existing one."""
    os.makedirs(reports_dir, exist_ok=True)
    base = folder_name(workload, now)
    for attempt in range(1, MAX_SUFFIX + 1):
        name = base if attempt == 1 else f"{base}-{attempt}"
        path = os.path.join(reports_dir, name)
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"more than {MAX_SUFFIX} reports named {base} in {reports_dir}")


def write_atomic(path: str, data: str | bytes) -> None:
    """Write data to path via a temporary sibling and os.replace (readers never see half a file)."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.tmp-{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    kwargs = {} if isinstance(data, bytes) else {"encoding": "utf-8", "newline": ""}
    with open(tmp, mode, **kwargs) as handle:  # type: ignore[call-overload]
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def latest_link_path(reports_dir: str, workload: str) -> str:
    return os.path.join(reports_dir, f"latest-{workload}")


def check_latest(reports_dir: str, workload: str) -> None:
    """Raise ValueError when latest-<workload> exists and is not a link (it would be replaced)."""
    link = latest_link_path(reports_dir, workload)
    if os.path.lexists(link) and not os.path.islink(link):
        kind = "directory" if os.path.isdir(link) else "file"
        raise ValueError(f"{link} is a real {kind}, not a link; move it away so latest-{workload} can be a link")


def point_latest(reports_dir: str, workload: str, report_path: str) -> str:
    """Repoint <reports_dir>/latest-<workload> at report_path (relative symlink, atomic replace)."""
    link = latest_link_path(reports_dir, workload)
    target = os.path.relpath(report_path, reports_dir)
    tmp = os.path.join(reports_dir, f".latest-{workload}.tmp-{os.getpid()}")
    check_latest(reports_dir, workload)
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link


def json_safe(value: Any) -> Any:
    """JSON-ready copy, for every report's results.json: non-finite floats become null, tuples
    lists, unknown objects strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
