"""Responses the gateway writes itself (JSON bodies, errors) and header edits on passed-on ones."""

from __future__ import annotations

import json

import js
from workers import Response

from errors import GatewayError
from js_interop import js_dict, js_response_of


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data),
        status=status,
        headers={"content-type": "application/json", **(headers or {})},
    )


def error_response(error: GatewayError, request_id: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        error.body(),
        status=error.status,
        headers={**error.headers(), "x-request-id": request_id, **(headers or {})},
    )


def with_headers(response: Response, extra: dict[str, str]) -> Response:
    """Adds headers to a passed-on response without touching its body (the stream moves as is)."""
    original = js_response_of(response)
    if all(original.headers.get(name) == value for name, value in extra.items()):
        return response  # already there (the Durable Object sets x-request-id): no copy
    copy = js.Response.new(original.body, js_dict({
        "status": original.status, "statusText": original.statusText, "headers": original.headers,
    }))
    for name, value in extra.items():
        copy.headers.set(name, value)
    return Response(copy)
