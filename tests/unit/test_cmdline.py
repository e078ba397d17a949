"""Unit tests for labkit.cmdline (the Raspberry Pi kernel command line editor)."""
from __future__ import annotations

import pytest

from labkit.cmdline import K3S_CGROUP_CONFLICTS, K3S_CGROUP_FLAGS, edit_cmdline

BOOKWORM = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
    "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot cfg80211.ieee80211_regdom=GB\n"
)


def test_adds_flags_at_the_end_and_keeps_everything_else_in_order() -> None:
    edit = edit_cmdline(BOOKWORM, K3S_CGROUP_FLAGS, K3S_CGROUP_CONFLICTS)
    assert edit.changed
    assert edit.after == BOOKWORM.rstrip("\n") + " cgroup_memory=1 cgroup_enable=memory cgroup_enable=cpuset\n"
    assert edit.added == list(K3S_CGROUP_FLAGS)
    assert edit.removed == []


def test_second_edit_changes_nothing() -> None:
    once = edit_cmdline(BOOKWORM, K3S_CGROUP_FLAGS, K3S_CGROUP_CONFLICTS).after
    again = edit_cmdline(once, K3S_CGROUP_FLAGS, K3S_CGROUP_CONFLICTS)
    assert not again.changed
    assert again.added == [] and again.removed == []


def test_drops_cgroup_disable_and_duplicates_and_joins_lines() -> None:
    text = "root=/dev/mmcblk0p2 cgroup_disable=memory  cgroup_memory=1 rootwait\ncgroup_memory=1 quiet \n"
    edit = edit_cmdline(text, K3S_CGROUP_FLAGS, K3S_CGROUP_CONFLICTS)
    assert edit.after == "root=/dev/mmcblk0p2 cgroup_memory=1 rootwait quiet cgroup_enable=memory cgroup_enable=cpuset\n"
    assert edit.removed == ["cgroup_disable=memory", "cgroup_memory=1"]
    assert edit.after.count("\n") == 1


def test_rewrites_a_correct_but_multi_line_file() -> None:
    text = "root=/dev/sda2 cgroup_memory=1 cgroup_enable=memory\ncgroup_enable=cpuset\n"
    edit = edit_cmdline(text, K3S_CGROUP_FLAGS, K3S_CGROUP_CONFLICTS)
    assert edit.changed and edit.added == []
    assert edit.after == "root=/dev/sda2 cgroup_memory=1 cgroup_enable=memory cgroup_enable=cpuset\n"


@pytest.mark.parametrize("bad", ["", "two words", "tab\tinside"])
def test_rejects_tokens_that_are_not_one_parameter(bad: str) -> None:
    with pytest.raises(ValueError, match="is not valid"):
        edit_cmdline(BOOKWORM, [bad])


def test_rejects_empty_file_and_contradictions() -> None:
    with pytest.raises(ValueError, match="empty"):
        edit_cmdline(" \n", K3S_CGROUP_FLAGS)
    with pytest.raises(ValueError, match="both added and removed"):
        edit_cmdline(BOOKWORM, ["quiet"], ["quiet"])
