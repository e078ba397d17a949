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
