"""Every failure the gateway answers itself: one status, one OpenAI-shaped body, documented here.

| status | code                  | when                                                        |
|--------|-----------------------|-------------------------------------------------------------|
| 400    | invalid_content_length| Content-Length is not a number                              |
| 401    | invalid_api_key       | missing, malformed or wrong key                             |
| 403    | origin_not_allowed    | CORS preflight from an origin not in CORS_ALLOWED_ORIGINS   |
| 404    | not_found             | any path outside the forwarded allow-list                   |
| 405    | method_not_allowed    | a known path with a method it does not take                 |
| 413    | request_too_large     | body over MAX_REQUEST_BYTES (declared or counted in flight) |
| 415    | unsupported_media_type| a POST body that is not JSON (multipart for transcriptions) |
| 500    | gateway_error         | a bug in the gateway itself                                 |
| 502    | upstream_unreachable  | connection to LiteLLM lost before it answered               |
| 4xx/5xx| upstream_error        | LiteLLM failed without a JSON body; its status is kept      |
| 503    | container_unbound     | no container (and no upstream URL) behind the gateway       |
| 503    | container_starting    | LiteLLM not ready within READY_TIMEOUT (it keeps booting)   |
| 503    | container_failed      | LiteLLM exited during boot; restarts back off 2 s .. 60 s   |
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class GatewayError:
    status: int
    message: str
    type: str
    code: str
    retry_after_s: int | None = None

    def body(self) -> str:
        return json.dumps({"error": {"message": self.message, "type": self.type, "code": self.code}})

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.status == 401:
            headers["www-authenticate"] = 'Bearer realm="litellm-router"'
        if self.retry_after_s is not None:
            headers["retry-after"] = str(self.retry_after_s)
        return headers


def invalid_api_key() -> GatewayError:
    return GatewayError(
        401,
        "Missing or invalid API key. Send 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
        "invalid_request_error",
        "invalid_api_key",
    )


def not_found(path: str) -> GatewayError:
    return GatewayError(404, f"No route for {path[:200]}", "invalid_request_error", "not_found")


def method_not_allowed(method: str) -> GatewayError:
    return GatewayError(405, f"Method {method[:20]} not allowed here", "invalid_request_error",
                        "method_not_allowed")


def origin_not_allowed() -> GatewayError:
    return GatewayError(403, "Origin not allowed", "invalid_request_error", "origin_not_allowed")


def invalid_content_length() -> GatewayError:
    return GatewayError(400, "Content-Length is not a valid number", "invalid_request_error",
                        "invalid_content_length")


def request_too_large(limit_bytes: int) -> GatewayError:
    return GatewayError(413, f"Request body exceeds the limit of {limit_bytes} bytes",
                        "invalid_request_error", "request_too_large")


def unsupported_media_type(expected: str) -> GatewayError:
    return GatewayError(415, f"Send the request body as {expected}", "invalid_request_error",
                        "unsupported_media_type")


def upstream_error(status: int) -> GatewayError:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return GatewayError(status, f"LiteLLM could not process this request (HTTP {status})", kind, "upstream_error")


def container_unbound() -> GatewayError:
    return GatewayError(503, "No LiteLLM container is configured behind this gateway", "server_error",
                        "container_unbound", retry_after_s=30)


def container_starting(retry_after_s: int) -> GatewayError:
    return GatewayError(503, "LiteLLM is starting; retry shortly", "server_error", "container_starting",
                        retry_after_s=retry_after_s)


def container_failed(retry_after_s: int = 2) -> GatewayError:
    return GatewayError(503, "LiteLLM exited while starting; it is started again after Retry-After seconds",
                        "server_error", "container_failed", retry_after_s=retry_after_s)


def upstream_unreachable() -> GatewayError:
    return GatewayError(502, "Lost the connection to LiteLLM before it answered", "server_error",
                        "upstream_unreachable")


def gateway_error() -> GatewayError:
    return GatewayError(500, "The gateway failed to handle this request", "server_error", "gateway_error")
