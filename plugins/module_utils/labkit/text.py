"""Wording shared by every message that counts things."""
from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 run', '2 runs', '0 runs'; `many` for irregular plurals ('1 child', '3 children')."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
