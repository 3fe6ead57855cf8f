"""Request body limit: judged from Content-Length when declared, else counted while streaming."""

from __future__ import annotations

from enum import Enum

DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024


class Declared(Enum):
    WITHIN = "within"  # declared and within the limit
    TOO_LARGE = "too_large"
    INVALID = "invalid"  # not a number: a client bug, answered 400
    UNKNOWN = "unknown"  # not declared (chunked): count while streaming


def judge_declared_length(content_length: str | None, limit: int) -> Declared:
    if content_length is None:
        return Declared.UNKNOWN
    text = content_length.strip()
    if not text.isdigit():
        return Declared.INVALID
    return Declared.TOO_LARGE if int(text) > limit else Declared.WITHIN


class ByteBudget:
    """Counts body bytes as they stream past; `exceeded` stays True once the limit is crossed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen = 0
        self.exceeded = False

    def consume(self, size: int) -> bool:
        """Adds a chunk; returns False (and remembers it) once the total is over the limit."""
        self.seen += size
        if self.seen > self.limit:
            self.exceeded = True
        return not self.exceeded
