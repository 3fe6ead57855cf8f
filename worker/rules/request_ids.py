"""Request ids: keep a sane one from the client (so its logs and ours line up), else mint one."""

from __future__ import annotations

import re
import uuid

# Letters, digits and a few separators covers UUIDs, ULIDs and "req_..." styles; nothing that
# could split a header or a log line.
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def sanitize_request_id(incoming: str | None) -> str | None:
    """Returns the client's id when it is safe to echo and log, else None."""
    if incoming is None:
        return None
    candidate = incoming.strip()
    return candidate if _SANE_ID.match(candidate) else None


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def request_id_for(incoming: str | None) -> str:
    return sanitize_request_id(incoming) or new_request_id()
