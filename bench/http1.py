"""A minimal HTTP/1.1 client for the bench: keep-alive, Content-Length or chunked bodies.

Why not httpx: on 2 cores the load generator competes with the servers it measures, and httpx costs
several times more CPU per request; and the streaming numbers need the *socket read* boundaries
(coalescing = two upstream chunks delivered by one read), which httpx hides behind its chunk decoder.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from dataclasses import dataclass, field

READ_SIZE = 65536


class ResponseParser:
    """Incremental response parser: feed() raw bytes, get decoded body bytes back; `done` at the end."""

    def __init__(self) -> None:
        self._buf = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.headers_done = False
        self.done = False
        self._length: int | None = None  # Content-Length bodies: bytes still to come
        self._chunked = False
        self._chunk_left = 0  # chunked bodies: payload bytes left in the current chunk
        self._skip = 0  # chunked bodies: bytes of the chunk's closing CRLF still to drop
        self._until_close = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        self._buf += data
        out = b""
        if not self.headers_done:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return b""
            head, self._buf = self._buf[:end].decode("latin-1"), self._buf[end + 4 :]
            lines = head.split("\r\n")
            self.status = int(lines[0].split(" ", 2)[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            self.headers_done = True
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                self._chunked = True
            elif "content-length" in self.headers:
                self._length = int(self.headers["content-length"])
            else:
                self._until_close = True
        if self._chunked:
            out = self._dechunk()
        elif self._length is not None:
            out, self._buf = self._buf[: self._length], self._buf[self._length :]
            self._length -= len(out)
            self.done = self._length == 0
        else:
            out, self._buf = self._buf, b""
        return out

    def _dechunk(self) -> bytes:
        out = []
        while self._buf:
            if self._skip:  # the CRLF after a chunk's payload, possibly split across reads
                n = min(self._skip, len(self._buf))
                self._buf, self._skip = self._buf[n:], self._skip - n
                continue
            if self._chunk_left == 0:
                line_end = self._buf.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(self._buf[:line_end].split(b";")[0], 16)
                self._buf = self._buf[line_end + 2 :]
                if size == 0:
                    self.done = True  # no server we measure sends trailers; the final CRLF is ignored
                    self._buf = b""
                    break
                self._chunk_left = size
            take = self._buf[: self._chunk_left]
            self._buf = self._buf[len(take) :]
            self._chunk_left -= len(take)
            out.append(take)
            if self._chunk_left == 0:
                self._skip = 2
        return b"".join(out)

    def eof(self) -> None:
        if self._until_close:
            self.done = True


def build_request(method: str, host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class StreamResult:
    status: int
    ttfb: float  # seconds from send to the first body byte
    reads: list[tuple[float, bytes]] = field(default_factory=list)  # (time.time() at read, decoded bytes)


def tls_context(tls: bool) -> ssl.SSLContext | None:
    """For a gateway measured by an https URL (a deployment); loopback targets speak plain HTTP."""
    return ssl.create_default_context() if tls else None


class StaleConnection(ConnectionError):
    """The server closed a kept-alive connection without answering a byte (its idle keep-alive timeout)."""


class BlockingConn:
    """One keep-alive connection with blocking reads: exact read boundaries, no event-loop jitter."""

    def __init__(self, host: str, port: int, timeout: float = 30.0, tls: bool = False) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.tls = tls_context(tls)
        self.sock: socket.socket | None = None
        self.last_headers: dict[str, str] = {}  # the last response's headers, names lower-cased

    def _socket(self) -> socket.socket:
        if self.sock is None:  # (re)connect lazily: a server may close after `Connection: close`
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host) if self.tls else sock
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _finish(self, parser: ResponseParser) -> None:
        if parser.headers.get("connection", "").lower() == "close" or not parser.done:
            self.close()

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        reused = self.sock is not None
        try:
            return self._request(method, path, headers, body)
        except StaleConnection:
            if not reused:
                raise
            # The server closed the idle keep-alive connection (uvicorn and node do after 5 s): once more, anew.
            return self._request(method, path, headers, body)

    def _request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        sock = self._socket()
        try:
            sock.sendall(build_request(method, self.host, self.port, path, headers, body))
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.close()
            raise StaleConnection("connection closed before the request was sent") from exc
        parser, out, received = ResponseParser(), [], False
        while not parser.done:
            try:
                data = sock.recv(READ_SIZE)
            except ConnectionResetError:
                data = b""
            if not data:
                parser.eof()
                if not parser.done:
                    self.close()
                    raise (ConnectionError if received else StaleConnection)("connection closed mid-response")
                break
            received = True
            out.append(parser.feed(data))
        self._finish(parser)
        self.last_headers = parser.headers
        return parser.status, b"".join(out)

    def stream(self, path: str, headers: dict[str, str], payload: dict) -> StreamResult:
        body = json.dumps(payload).encode()
        sock = self._socket()
        start = time.perf_counter()
        sock.sendall(build_request("POST", self.host, self.port, path, headers, body))
        parser = ResponseParser()
        result = StreamResult(status=0, ttfb=0.0)
        while not parser.done:
            data = sock.recv(READ_SIZE)
            now = time.time()
            if not data:
                parser.eof()
                break
            decoded = parser.feed(data)
            if decoded:
                if not result.reads:
                    result.ttfb = time.perf_counter() - start
                result.reads.append((now, decoded))
        result.status = parser.status
        self._finish(parser)
        return result


async def timed_requests(
    host: str, port: int, tls: bool, path: str, headers: dict[str, str], body: bytes, deadline: float
) -> tuple[list[float], int]:
    """One async worker: keep-alive requests until `deadline` (perf_counter); returns latencies and errors."""
    request = build_request("POST", host, port, path, headers, body)
    latencies: list[float] = []
    errors = 0
    reader, writer = await asyncio.open_connection(host, port, ssl=tls_context(tls))
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            parser = ResponseParser()
            while not parser.done:
                data = await reader.read(READ_SIZE)
                if not data:
                    raise ConnectionError("connection closed mid-response")
                parser.feed(data)
            latencies.append(time.perf_counter() - start)
            if parser.status != 200:
                errors += 1
    finally:
        writer.close()
    return latencies, errors


async def load(
    host: str, port: int, tls: bool, path: str, headers: dict[str, str], body: bytes, concurrency: int,
    seconds: float,
) -> tuple[list[float], int, float]:
    """`concurrency` workers for `seconds`: all latencies, error count, measured wall time."""
    start = time.perf_counter()
    deadline = start + seconds
    results = await asyncio.gather(
        *(timed_requests(host, port, tls, path, headers, body, deadline) for _ in range(concurrency))
    )
    wall = time.perf_counter() - start
    return [x for lat, _ in results for x in lat], sum(e for _, e in results), wall


async def one_shot(host: str, port: int, tls: bool, request: bytes, timeout: float) -> tuple[float, int]:
    """A fresh connection, one request: (seconds, status); status 0 when the connection failed or timed out."""
    start = time.perf_counter()
    parser = ResponseParser()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=tls_context(tls))
            writer.write(request)
            while not parser.done:
                data = await reader.read(READ_SIZE)
                if not data:
                    parser.eof()
                    break
                parser.feed(data)
    except (OSError, TimeoutError):
        parser.status = 0
    finally:
        if writer is not None:
            writer.close()
    return time.perf_counter() - start, parser.status if parser.done else 0


async def burst(host: str, port: int, tls: bool, path: str, headers: dict[str, str], body: bytes, n: int,
                timeout: float) -> list[tuple[float, int]]:
    """`n` requests sent at once, each on its own connection (clients arriving together): (seconds, status) each."""
    request = build_request("POST", host, port, path, headers, body)
    return list(await asyncio.gather(*(one_shot(host, port, tls, request, timeout) for _ in range(n))))
