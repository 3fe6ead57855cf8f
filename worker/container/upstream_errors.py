"""LiteLLM's error answers, made safe to pass on: same status and type, nothing internal in the text.

Pure. LiteLLM's messages carry provider hostnames, internal URLs and Python object reprs (e.g.
`Cannot connect to host api.openai.com:443 ssl:<ssl.SSLContext object at 0x7f…>`), and it answers its own
request-body rejections with 500 (its error path fails importing `prisma`): those are the client's fault,
so they become 400.
"""

from __future__ import annotations

import json
import re

from rules import json_scan

MAX_ERROR_BODY_BYTES = 64 * 1024  # an error body larger than this is not LiteLLM's JSON: answered generically

_REPR = re.compile(r"<[^<>]{0,200}? at 0x[0-9a-fA-F]+>")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>)]+")
_HOST_PORT = re.compile(r"\b(?:[a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}:\d{2,5}\b|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b")
_HOST = re.compile(r"\b(?:[a-zA-Z0-9-]+\.)+(?:com|net|org|io|ai|internal|local|cloud|dev)\b")
# A Python traceback, which LiteLLM puts in some messages (an unsupported call, an unmapped provider): its
# heading and indented frames (file paths, source lines) go, the exception's own line after them stays.
_TRACEBACK = re.compile(r"Traceback \(most recent call last\):\n(?:[ \t][^\n]*(?:\n|\Z))*")
# A path-like run (one greedy class, so scanning stays linear in an error that echoes a client's text); one
# that names a Python file is replaced whole, wherever it is left.
_PATHLIKE = re.compile(r"(?:[A-Za-z]:)?[/\\][\w.@+~/\\-]*")
# LiteLLM's own refusals of a request body, which it answers with 500.
_REJECTION = re.compile(r"Rejected Request|not allowed in (?:the )?request body|is not allowed", re.IGNORECASE)


def scrub(text: str) -> str:
    text = _PATHLIKE.sub(lambda path: "<file>" if ".py" in path.group() else path.group(), _TRACEBACK.sub("", text))
    text = _REPR.sub("<object>", text)
    text = _URL.sub("<url>", text)
    text = _HOST_PORT.sub("<host>", text)
    return _HOST.sub("<host>", text)


def _scrubbed(value: object) -> object:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    return value


def _message(payload: object) -> str:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))
    return str(error or "")


def rewrite(status: int, raw: bytes) -> tuple[int, bytes] | None:
    """The status and body to send for one LiteLLM error answer; None when it is not JSON we understand."""
    try:
        payload = json_scan.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    if status == 500 and _REJECTION.search(_message(payload)):
        status = 400
        error = payload.get("error")
        if isinstance(error, dict):
            error["type"] = "invalid_request_error"
            error["code"] = "400"
    return status, json.dumps(_scrubbed(payload)).encode()
