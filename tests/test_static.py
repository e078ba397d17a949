"""Static checks over the whole repository: every entry playbook parses, ansible-lint production is clean."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labtest import REPO, ansible_env, run_playbook

ENTRY_PLAYBOOKS = sorted(p.name for p in REPO.glob("*.yml"))


def test_the_entry_playbooks_are_at_the_root() -> None:
    assert "bench-pi.yml" in ENTRY_PLAYBOOKS


@pytest.mark.parametrize("playbook", ENTRY_PLAYBOOKS)
def test_playbook_passes_syntax_check(playbook: str) -> None:
    proc = run_playbook(playbook, "--syntax-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_production_profile_is_clean() -> None:
    lint = Path(sys.executable).parent / "ansible-lint"
    proc = subprocess.run([str(lint), "--profile", "production", "--offline", "--nocolor"],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]


def test_no_test_module_name_is_in_two_folders() -> None:
    # pytest imports tests/unit and tests/integration by their basenames (rootdir-relative, no
    # packages): a second test_x.py stops the whole collection with "import file mismatch".
    seen: dict[str, Path] = {}
    clashes = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if path.name in seen:
            clashes.append(f"{seen[path.name].relative_to(REPO)} and {path.relative_to(REPO)}")
        seen[path.name] = path
    assert clashes == [], "rename one of each: " + "; ".join(clashes)
