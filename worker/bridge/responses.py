"""Responses the gateway writes itself (JSON bodies, errors) and header edits on passed-on ones."""

from __future__ import annotations

import json
from typing import Any

import js
from workers import Response

from bridge.js_interop import js_dict, js_response_of, present
from rules.errors import Dialect, GatewayError


def json_response(data: object, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, headers={"content-type": "application/json"})


def error_response(error: GatewayError, request_id: str, dialect: Dialect = Dialect.OPENAI) -> Response:
    """An error in the caller's dialect (see errors.py), with the request id under its names."""
    return Response(
        error.body(dialect),
        status=error.status,
        headers={**error.headers(), **dialect.request_id_headers(request_id)},
    )


def rewrapped(original: Any, body: Any, headers: Any = None) -> Any:
    """A JS Response with `original`'s status line and `body` (a stream moves as is); its headers unless given."""
    return js.Response.new(body, js_dict({
        "status": original.status, "statusText": original.statusText,
        "headers": original.headers if headers is None else headers,
    }))


def with_headers(response: Response, extra: dict[str, str]) -> Response:
    """Adds headers to a passed-on response without touching its body (the stream moves as is)."""
    original = js_response_of(response)
    if all(original.headers.get(name) == value for name, value in extra.items()):
        return response  # already there (the Durable Object sets x-request-id): no copy
    copy = rewrapped(original, original.body)
    for name, value in extra.items():
        copy.headers.set(name, value)
    return Response(copy)


async def without_body(response: Response) -> Response:
    """The answer to a HEAD: the GET's status and headers, its body cancelled unread."""
    original = js_response_of(response)
    if present(original.body):
        # With a reason: a bare cancel() rejects the pipes behind the body with `undefined`, which
        # Pyodide cannot raise as an exception.
        await original.body.cancel(js.Error.new("HEAD request: the body is not sent"))
    return Response(rewrapped(original, None))
