"""Request body limit: judged from Content-Length when declared, else counted while streaming."""

from __future__ import annotations

from enum import Enum

DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_BUFFERED_BYTES = 20 * 1024 * 1024  # every JSON body an isolate holds at once (see BufferedBytes)
MAX_ADMIN_BODY_BYTES = 65_536  # a key API body carries a key's settings, never a payload


class Declared(Enum):
    WITHIN = "within"  # declared and within the limit
    TOO_LARGE = "too_large"
    INVALID = "invalid"  # not a number: a client bug, answered 400
    UNKNOWN = "unknown"  # not declared (chunked): count while streaming


def judge_declared_length(content_length: str | None, limit: int) -> Declared:
    if content_length is None:
        return Declared.UNKNOWN
    text = content_length.strip()
    if not (text.isascii() and text.isdigit()):  # str.isdigit() also takes e.g. "\u00b2", which int() refuses
        return Declared.INVALID
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(limit)):  # more digits than the limit: too large (int() refuses > 4300)
        return Declared.TOO_LARGE
    return Declared.TOO_LARGE if int(digits) > limit else Declared.WITHIN


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


class BufferedBytes:
    """Bytes of request bodies this isolate holds at once (one per isolate): an isolate has 128 MB for every
    request in flight, so past MAX_BUFFERED_BYTES a body is refused (503, retry) rather than buffered."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held = max(0, self.held - size)


class Claim:
    """One request's share of a BufferedBytes, given back once, whatever happened."""

    def __init__(self, pool: BufferedBytes) -> None:
        self._pool = pool
        self.size = 0

    def take(self, size: int) -> bool:
        if not self._pool.take(size):
            return False
        self.size += size
        return True

    def release(self) -> None:
        self._pool.give_back(self.size)
        self.size = 0
