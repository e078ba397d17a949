"""Shared helpers for the tests: run the real ansible-playbook from the repo."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def ansible_env(**extra: str) -> dict[str, str]:
    """Environment for ansible-playbook: the repo's ansible.cfg, no colour, no cowsay."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOWS="1",
        ANSIBLE_LOCAL_TEMP=str(Path(env.get("TMPDIR", "/tmp")) / "ansible-local"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def run_playbook(
    playbook: str,
    *args: str,
    extra_vars: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """Run `ansible-playbook <playbook> [args]` for real and return the completed process.

    extra_vars are passed as one JSON -e argument, so odd strings need no quoting.
    """
    import json

    cmd = [str(BIN / "ansible-playbook"), playbook, *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env or ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def processes_with(marker: str) -> list[int]:
    """Processes whose command line contains marker (the sandbox hosts share our process table)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def processes_left(mark: str, timeout_s: float = 30.0) -> list[str]:
    """The processes whose command line holds `mark` (a test's own folder) still there after
    up to timeout_s seconds, zombies aside, as "pid: command line"; empty once all are gone.
    What a killed playbook started must end with it: its workers, its detached jobs, their encoders."""
    import time

    def left() -> list[str]:
        found = []
        for pid in processes_with(mark):
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                        continue
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    line = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            found.append(f"{pid}: {line[:300]}")
        return found

    deadline = time.monotonic() + timeout_s
    while (found := left()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found
