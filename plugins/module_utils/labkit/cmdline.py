"""Edit the Raspberry Pi kernel command line (cmdline.txt) without a shell.

The firmware reads exactly one line from cmdline.txt: every parameter must stay
on it, separated by single spaces. K3s needs the memory and cpuset cgroup
controllers, which Raspberry Pi OS may disable with ``cgroup_disable=memory``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: What K3s needs on a Raspberry Pi (DESIGN §7).
K3S_CGROUP_FLAGS: tuple[str, ...] = (
    "cgroup_memory=1",
    "cgroup_enable=memory",
    "cgroup_enable=cpuset",
)
#: Tokens that would undo the flags above.
K3S_CGROUP_CONFLICTS: tuple[str, ...] = ("cgroup_disable=memory",)


@dataclass
class CmdlineEdit:
    """The outcome of :func:`edit_cmdline`."""

    before: str
    after: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after


def tokens(text: str) -> list[str]:
    """The kernel parameters in ``text``: all lines joined, split on whitespace."""
    return text.split()


def validate_token(token: str) -> str:
    """Return ``token`` if it is one kernel parameter, else raise ValueError naming it."""
    if not isinstance(token, str) or not token or any(c.isspace() for c in token):
        raise ValueError(
            f"kernel parameter {token!r} is not valid: expected one non-empty word "
            "without spaces, such as cgroup_enable=memory"
        )
    return token


def edit_cmdline(text: str, add: list[str] | tuple[str, ...], remove: list[str] | tuple[str, ...] = ()) -> CmdlineEdit:
    """Return the edited single-line cmdline.

    Every existing token is kept in its order, except those listed in ``remove``
    (dropped wherever they appear) and duplicates of the ``add`` tokens (kept
    once, at their first position). Missing ``add`` tokens are appended in the
    given order. The result is always one line ending in a newline. A token in
    both ``add`` and ``remove`` is an error.
    """
    add = [validate_token(t) for t in add]
    remove = [validate_token(t) for t in remove]
    both = sorted(set(add) & set(remove))
    if both:
        raise ValueError(f"kernel parameter(s) {', '.join(both)} cannot be both added and removed")
    original = tokens(text)
    if not original:
        raise ValueError("cmdline.txt is empty: refusing to write a kernel command line without root=")
    kept: list[str] = []
    removed: list[str] = []
    for tok in original:
        if tok in remove:
            removed.append(tok)
        elif tok in add and tok in kept:
            removed.append(tok)  # a duplicate of a flag we manage
        else:
            kept.append(tok)
    added = [t for t in add if t not in kept]
    kept.extend(added)
    after = " ".join(kept) + "\n"
    # An already-correct file with other whitespace quirks (trailing spaces, a
    # second line) is rewritten too: the firmware ignores everything after the
    # first line, so keeping one line is part of being correct.
    return CmdlineEdit(before=text, after=after, added=added, removed=removed)
