"""Upload bodies the e2e cases share."""

from __future__ import annotations

from collections.abc import Iterator

OVERSIZED_MULTIPART_TYPE = "multipart/form-data; boundary=b"


def oversized_multipart() -> Iterator[bytes]:
    """A chunked transcription upload of 12 MiB, over MAX_REQUEST_BYTES: its model first, as SDKs send it."""
    yield b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    for _ in range(12):
        yield b"\0" * (1024 * 1024)
    yield b"\r\n--b--\r\n"
