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
        self.component = component
        self.set_level(level_name)

    def set_level(self, level_name: str | None) -> None:
        """LOG_LEVEL can change with the deployment while a Durable Object lives on."""
        self.threshold = LEVELS.get((level_name or "info").strip().lower(), LEVELS["info"])

    def emit(self, level: str, event: str, **fields: object) -> None:
        if LEVELS[level] < self.threshold:
            return
        record = {"ts": round(time.time(), 3), "level": level, "component": self.component, "event": event}
        record.update(fields)
        print(json.dumps(record, separators=(",", ":"), default=str))
