"""Every failure the gateway answers itself: one status, one code, rendered in the caller's dialect.

README "Errors the gateway answers itself" is the table of them (status, code, both dialects' types).
OpenAI routes get `{"error": {"message", "type", "param": null, "code"}}`; Anthropic routes
(`/v1/messages*`) get `{"type": "error", "error": {"type", "message"}}`, whose type follows from the
status as Anthropic's own API assigns it. A new failure is one factory below: its status decides the
Anthropic type, so it renders in both dialects without another table to update.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum


class Dialect(Enum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"

    def request_id_headers(self, request_id: str) -> dict[str, str]:
        """Our id under the names each dialect's SDKs read (Anthropic's read `request-id`)."""
        if self is Dialect.ANTHROPIC:
            return {"x-request-id": request_id, "request-id": request_id}
        return {"x-request-id": request_id}


# Anthropic's error types by HTTP status (its API reference, "Errors"); other 4xx are
# invalid_request_error and other 5xx api_error. 503 is how this gateway says "busy, retry",
# which is what Anthropic's overloaded_error means to its SDKs.
_ANTHROPIC_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_type(status: int) -> str:
    return _ANTHROPIC_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


@dataclass(frozen=True)
class GatewayError:
    """The one error value: the edge's own refusals, a key object's verdicts (which cross the Durable Object
    boundary as `asdict`, read back by `from_wire`) and the key API's errors."""

    status: int
    message: str
    type: str  # OpenAI's `type`; the Anthropic one is derived from the status
    code: str
    retry_after_s: int | None = None
    param: str | None = None  # the request field at fault, as OpenAI names it in `param`

    def body(self, dialect: Dialect = Dialect.OPENAI) -> str:
        if dialect is Dialect.ANTHROPIC:
            return json.dumps({"type": "error", "error": {"type": anthropic_type(self.status),
                                                          "message": self.message}})
        return json.dumps({"error": {"message": self.message, "type": self.type, "param": self.param,
                                     "code": self.code}})

    @classmethod
    def from_wire(cls, value: dict[str, object]) -> GatewayError:
        """A verdict sent by a key object (asdict): the fields this code knows, so an object one version ahead
        (during a deploy) never breaks the edge reading it."""
        known = {name: value[name] for name in cls.__dataclass_fields__ if name in value}
        return cls(**known)  # type: ignore[arg-type]

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.status == 401:
            headers["www-authenticate"] = 'Bearer realm="litellm-router"'
        if self.retry_after_s is not None:
            headers["retry-after"] = str(self.retry_after_s)
        return headers


class Refused(Exception):
    """A GatewayError raised where a call deep down decides the answer (the key API's handlers and fields)."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


def _client_error(status: int, message: str, code: str) -> GatewayError:
    return GatewayError(status, message, "invalid_request_error", code)


def _access_error(status: int, message: str, code: str, param: str | None = None) -> GatewayError:
    """A 401 or 403. Its OpenAI `type` is the Anthropic one (`authentication_error`, `permission_error`), never
    `invalid_request_error`: litellm's SDK (and DSPy through it) raises BadRequestError for an error whose text
    holds that word before it looks at the status, and its Responses API and `hosted_vllm/` provider put the
    whole body in that text. The OpenAI and Anthropic SDKs go by the status alone."""
    return GatewayError(status, message, anthropic_type(status), code, param=param)


def invalid_api_key() -> GatewayError:
    return _access_error(
        401, "Missing or invalid API key. Send 'Authorization: Bearer <key>', 'x-api-key: <key>' or 'api-key: <key>'.",
        "invalid_api_key")


def key_blocked() -> GatewayError:
    return _access_error(401, "This API key is blocked.", "key_blocked")


def key_expired() -> GatewayError:
    return _access_error(401, "This API key has expired.", "key_expired")


def model_not_allowed(model: str) -> GatewayError:
    """Names the model asked for, never the ones the key may use."""
    return _access_error(403, f"This API key is not allowed to use the model '{model[:200]}'.",
                         "model_not_allowed", param="model")


def rate_limit_exceeded(message: str, kind: str, retry_after_s: int | None) -> GatewayError:
    """A virtual key over rpm_limit, tpm_limit or max_parallel_requests; `kind` is OpenAI's type
    (`requests` or `tokens`)."""
    return GatewayError(429, message, kind, "rate_limit_exceeded", retry_after_s=retry_after_s)


def insufficient_quota(message: str, retry_after_s: int | None) -> GatewayError:
    """A virtual key over max_budget: OpenAI's convention for exhausted quota (its SDKs raise RateLimitError)."""
    return GatewayError(429, message, "insufficient_quota", "insufficient_quota", retry_after_s=retry_after_s)


def not_found(path: str) -> GatewayError:
    return _client_error(404, f"No route for {path[:200]}", "not_found")


def method_not_allowed(method: str) -> GatewayError:
    return _client_error(405, f"Method {method[:20]} not allowed here", "method_not_allowed")


def origin_not_allowed() -> GatewayError:
    return _access_error(403, "Origin not allowed", "origin_not_allowed")


def invalid_content_length() -> GatewayError:
    return _client_error(400, "Content-Length is not a valid number", "invalid_content_length")


def request_too_large(limit_bytes: int) -> GatewayError:
    return _client_error(413, f"Request body exceeds the limit of {limit_bytes} bytes", "request_too_large")


def invalid_body(reason: str) -> GatewayError:
    return _client_error(400, f"The request body must be a JSON object: {reason}", "invalid_body")


def param_not_allowed(name: str) -> GatewayError:
    return GatewayError(400, f"The parameter '{name[:100]}' is not allowed through this gateway",
                        "invalid_request_error", "param_not_allowed", param=name[:100])


def param_invalid(name: str, expected: str) -> GatewayError:
    return GatewayError(400, f"The parameter '{name[:100]}' must be {expected}", "invalid_request_error",
                        "param_invalid", param=name[:100])


def unsupported_media_type(expected: str) -> GatewayError:
    return _client_error(415, f"Send the request body as {expected}", "unsupported_media_type")


def gateway_busy() -> GatewayError:
    """This isolate holds MAX_BUFFERED_BYTES of request bodies already: retry (SDKs retry a 503 on their own)."""
    return GatewayError(503, "The gateway is busy reading other request bodies; retry shortly", "server_error",
                        "gateway_busy", retry_after_s=1)


def upstream_error(status: int) -> GatewayError:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return GatewayError(status, f"LiteLLM could not process this request (HTTP {status})", kind, "upstream_error")


def container_unbound() -> GatewayError:
    return GatewayError(503, "No LiteLLM container is configured behind this gateway", "server_error",
                        "container_unbound", retry_after_s=30)


def container_starting(retry_after_s: int) -> GatewayError:
    return GatewayError(503, "LiteLLM is starting; retry shortly", "server_error", "container_starting",
                        retry_after_s=retry_after_s)


def container_failed(retry_after_s: int) -> GatewayError:
    return GatewayError(503, "LiteLLM exited while starting; it is started again after Retry-After seconds",
                        "server_error", "container_failed", retry_after_s=retry_after_s)


def upstream_unreachable() -> GatewayError:
    return GatewayError(502, "Lost the connection to LiteLLM before it answered", "server_error",
                        "upstream_unreachable")


def deadline_exceeded(seconds: int) -> GatewayError:
    return GatewayError(504, f"The request did not complete within {seconds} s (MAX_REQUEST_SECONDS)",
                        "server_error", "deadline_exceeded")


def stream_interrupted(why: str) -> GatewayError:
    """Sent as the last event of a stream that could not finish (the status is never on the wire)."""
    return GatewayError(502, f"The response stream was interrupted: {why}", "server_error", "stream_interrupted")


def gateway_error() -> GatewayError:
    return GatewayError(500, "The gateway failed to handle this request", "server_error", "gateway_error")


def model_conflict(places: int) -> GatewayError:
    """A key with a model list, whose request names different models in different places (body, query string,
    path, form fields): LiteLLM would serve one of them, so the edge checks none (model_choice)."""
    return GatewayError(400, f"The request names {places} different models (in its body, query string, path or "
                        "form fields); name one model, once", "invalid_request_error", "model_conflict",
                        param="model")


def model_required(reason: str) -> GatewayError:
    """A key with a model list, whose request names no model the edge can check (model_choice)."""
    return GatewayError(400, f"This API key may use only some models, so the request must {reason[:200]}",
                        "invalid_request_error", "model_required", param="model")


def stored_response_not_found() -> GatewayError:
    """A virtual key addressing a stored response (by id, or `previous_response_id`) it did not create."""
    return _client_error(404, "No stored response with this id for this API key", "not_found")


def admin_only(message: str) -> GatewayError:
    """The key API asked with a key other than the master key (a key may only read its own /key/info)."""
    return _access_error(403, message, "admin_only")


def key_not_found(param: str) -> GatewayError:
    """The key API asked about a key (or alias) it does not know; `param` names the field that named it."""
    return GatewayError(404, "Key not found", "invalid_request_error", "not_found", param=param)


def field_invalid(field: str, message: str) -> GatewayError:
    """A key API field that fails validation: `param` names it, the message says what to send."""
    return GatewayError(400, f"Invalid '{field[:100]}': {message}", "invalid_request_error", "param_invalid",
                        param=field[:100])
