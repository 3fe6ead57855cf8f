"""The three phases run against every target: sequential latency, concurrency 16, streaming."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.harness.procs import CLK_TCK

from .config import CHAT_MODEL, STREAM_MARKER, Counts
from .http1 import BlockingConn, StreamResult, load

PATH = "/v1/chat/completions"


@dataclass
class Target:
    name: str
    url: str  # http://127.0.0.1:PORT for what the bench starts; any http(s) URL for a gateway measured remotely
    key: str
    stream_model: str  # the provider direct gets the upstream name, LiteLLM and the gateway the group name
    # CPU-seconds readers, e.g. {"litellm": ..., "runtime": ...}; each phase reports ms of CPU per request.
    cpu: dict[str, Callable[[], float]] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "https"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (443 if self.tls else 80)

    def connect(self, timeout: float = 30.0) -> BlockingConn:
        return BlockingConn(self.host, self.port, timeout, tls=self.tls)


def chat_body(model: str, marker: str, stream: bool = False) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": marker}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLK_TCK  # minus idle and iowait; guest is inside user


def _cpu_snapshot(target: Target) -> dict[str, float]:
    snap = {name: read() for name, read in target.cpu.items()}
    snap["client"] = time.process_time()  # the bench itself: shows how much of the 2 cores the load generator took
    snap["_busy"], snap["_wall"] = _machine_busy(), time.perf_counter()
    return snap


def _cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    return {
        name: round((after[name] - before[name]) * 1000 / max(1, requests), 3)
        for name in before
        if not name.startswith("_")
    }


def mark() -> tuple[float, float]:
    """Machine busy CPU and wall clock now: start of a phase whose processes do not exist yet (a boot)."""
    return _machine_busy(), time.perf_counter()


def foreign_since(start: tuple[float, float], ours_cpu_s: float) -> float:
    """Cores used by other processes since `start`, given the CPU seconds our processes used meanwhile."""
    busy, wall = start
    return round(max(0.0, (_machine_busy() - busy - ours_cpu_s) / (time.perf_counter() - wall)), 2)


def _foreign_cores(before: dict[str, float], after: dict[str, float]) -> float:
    """Cores used by processes outside the bench during a phase: the noise that makes a run untrustworthy."""
    ours = sum(after[n] - before[n] for n in before if not n.startswith("_"))
    wall = after["_wall"] - before["_wall"]
    return round(max(0.0, (after["_busy"] - before["_busy"] - ours) / wall), 2)


def sequential(target: Target, counts: Counts) -> dict[str, Any]:
    """One keep-alive connection, one request at a time: latency without queueing."""
    conn = target.connect()
    body = chat_body(CHAT_MODEL, "bench-sequential")
    try:
        for _ in range(counts.warmup):
            status, payload = conn.request("POST", PATH, target.headers, body)
            if status != 200:
                raise RuntimeError(f"{target.name}: warm-up got {status}: {payload[:300]!r}")
        latencies = []
        before = _cpu_snapshot(target)
        for _ in range(counts.sequential):
            start = time.perf_counter()
            status, payload = conn.request("POST", PATH, target.headers, body)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"{target.name}: got {status}: {payload[:300]!r}")
        after = _cpu_snapshot(target)
    finally:
        conn.close()
    return {
        "requests": len(latencies),
        "p50_ms": _ms(percentile(latencies, 50)),
        "p90_ms": _ms(percentile(latencies, 90)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "mean_ms": _ms(statistics.fmean(latencies)),
        "cpu_ms_per_request": _cpu_per_request(before, after, len(latencies)),
        "foreign_cpu_cores": _foreign_cores(before, after),
    }


def concurrent(target: Target, counts: Counts) -> dict[str, Any]:
    """`concurrency` keep-alive connections for a fixed time: throughput and latency under load."""
    body = chat_body(CHAT_MODEL, "bench-concurrent")
    before = _cpu_snapshot(target)
    latencies, errors, wall = asyncio.run(
        load(target.host, target.port, target.tls, PATH, target.headers, body, counts.concurrency, counts.seconds)
    )
    after = _cpu_snapshot(target)
    return {
        "concurrency": counts.concurrency,
        "seconds": round(wall, 3),
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": _ms(percentile(latencies, 50)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "cpu_ms_per_request": _cpu_per_request(before, after, len(latencies)),
        "foreign_cpu_cores": _foreign_cores(before, after),
    }


def content_events(result: StreamResult) -> list[tuple[int, float, float]]:
    """(read index, receive time, upstream x_sent_at) of every SSE event that carries content."""
    events, buf = [], ""
    for index, (received, data) in enumerate(result.reads):
        buf += data.decode()
        *complete, buf = buf.replace("\r\n", "\n").split("\n\n")
        for event in complete:
            payload = "".join(line[5:].strip() for line in event.split("\n") if line.startswith("data:"))
            if not payload or payload == "[DONE]":
                continue
            chunk = json.loads(payload)
            choices = chunk.get("choices") or [{}]
            if choices[0].get("delta", {}).get("content") and "x_sent_at" in chunk:
                events.append((index, received, chunk["x_sent_at"]))
    return events


@dataclass
class Delays:
    """Each content chunk's delay from the upstream's send time to its arrival here, split: a stream's first chunk
    rides with the answer's head (the request's own path), the later ones show what the relay adds per chunk."""

    first: list[float] = field(default_factory=list)
    later: list[float] = field(default_factory=list)
    ttfc: list[float] = field(default_factory=list)
    coalesced: int = 0

    @property
    def every(self) -> list[float]:
        return self.first + self.later

    def summary(self) -> dict[str, Any]:
        every = self.every
        return {
            "chunks": len(every),
            "delay_mean_ms": _ms(statistics.fmean(every)),
            "delay_p50_ms": _ms(percentile(every, 50)),
            "delay_p99_ms": _ms(percentile(every, 99)),
            "delay_max_ms": _ms(max(every)),
            "first_delay_p50_ms": _ms(percentile(self.first, 50)),
            "later_delay_p50_ms": _ms(percentile(self.later, 50)) if self.later else None,
            "later_delay_p99_ms": _ms(percentile(self.later, 99)) if self.later else None,
            "coalesced_reads": self.coalesced,
        }


def stream_delays(target: Target, streams: int, into: Delays | None = None) -> Delays:
    """`streams` streams one at a time over a blocking socket, so each read's timestamp is the moment it arrived,
    after one unmeasured stream (the first SSE response through a process imports/compiles its stream path)."""
    out = Delays() if into is None else into
    conn = target.connect()
    payload = {"model": target.stream_model, "messages": [{"role": "user", "content": STREAM_MARKER}], "stream": True}
    try:
        conn.stream(PATH, target.headers, payload)
        for _ in range(streams):
            sent = time.time()
            result = conn.stream(PATH, target.headers, payload)
            if result.status != 200:
                raise RuntimeError(f"{target.name}: stream got {result.status}")
            events = content_events(result)
            if not events:
                raise RuntimeError(f"{target.name}: stream carried no content chunks with x_sent_at")
            out.ttfc.append(events[0][1] - sent)
            delays = [received - sent_at for _, received, sent_at in events]
            out.first.append(delays[0])
            out.later += delays[1:]
            reads = [index for index, _, _ in events]
            # A read that completed two content chunks: the upstream sent them 20 ms apart, so
            # something on the way held the first one back.
            out.coalesced += sum(1 for i in set(reads) if reads.count(i) > 1)
    finally:
        conn.close()
    return out


def streaming(target: Target, counts: Counts) -> dict[str, Any]:
    delays = stream_delays(target, counts.streams)
    return {"streams": counts.streams, "ttfc_p50_ms": _ms(percentile(delays.ttfc, 50)), **delays.summary()}


def run_target(target: Target, counts: Counts, say: Callable[[str], None]) -> dict[str, Any]:
    say(f"{target.name}: sequential ({counts.sequential} requests after {counts.warmup} warm-up)")
    seq = sequential(target, counts)
    say(f"{target.name}: concurrency {counts.concurrency} for {counts.seconds:g}s")
    conc = concurrent(target, counts)
    say(f"{target.name}: {counts.streams} streams")
    stream = streaming(target, counts)
    return {"sequential": seq, "concurrent": conc, "streaming": stream}
