"""One JSON line per event on stdout (Workers Logs / wrangler tail read it as is).

Callers pass only fields that are safe to keep: ids, routes, statuses, timings, states.
Never a key, a header value, a prompt or a body.
"""

from __future__ import annotations

import json
import time

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class EventLog:
    def __init__(self, level_name: str | None = "info", component: str = "edge") -> None:
        self.threshold = LEVELS.get((level_name or "info").strip().lower(), LEVELS["info"])
        self.component = component

    def enabled(self, level: str) -> bool:
        return LEVELS[level] >= self.threshold

    def emit(self, level: str, event: str, **fields: object) -> None:
        if LEVELS[level] < self.threshold:
            return
        record = {"ts": round(time.time(), 3), "level": level, "component": self.component, "event": event}
        record.update(fields)
        print(json.dumps(record, separators=(",", ":"), default=str))
