"""Every error the gateway answers itself renders in both dialects, from one factory each."""

import inspect
import json

import pytest

from rules import errors
from rules.errors import Dialect, GatewayError, anthropic_type

ANTHROPIC_ERROR_TYPES = {"invalid_request_error", "authentication_error", "permission_error", "not_found_error",
                         "request_too_large", "rate_limit_error", "api_error", "overloaded_error"}


def every_error() -> list[GatewayError]:
    """One instance of each factory in errors.py, its arguments filled by type."""
    samples = {"str": "x", "int": 3, "int | None": 3}
    made = []
    for name, factory in inspect.getmembers(errors, inspect.isfunction):
        signature = inspect.signature(factory)
        if name.startswith("_") or signature.return_annotation not in ("GatewayError", GatewayError):
            continue
        made.append(factory(**{p.name: samples[str(p.annotation)] for p in signature.parameters.values()}))
    return made


@pytest.mark.parametrize("error", every_error(), ids=lambda e: e.code)
def test_openai_shape_has_param_null(error: GatewayError) -> None:
    body = json.loads(error.body())
    assert body == {"error": {"message": error.message, "type": error.type, "param": error.param,
                              "code": error.code}}
    assert error.param in (None, "x", "model")  # only where a field is at fault (str arguments are "x" here)
    assert json.loads(error.body(Dialect.OPENAI)) == body


@pytest.mark.parametrize("error", every_error(), ids=lambda e: e.code)
def test_anthropic_shape(error: GatewayError) -> None:
    body = json.loads(error.body(Dialect.ANTHROPIC))
    assert body == {"type": "error", "error": {"type": anthropic_type(error.status), "message": error.message}}
    assert body["error"]["type"] in ANTHROPIC_ERROR_TYPES


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
     (404, "not_found_error"), (405, "invalid_request_error"), (413, "request_too_large"),
     (415, "invalid_request_error"), (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"),
     (503, "overloaded_error"), (529, "overloaded_error")],
)
def test_anthropic_type_follows_the_status(status: int, kind: str) -> None:
    assert anthropic_type(status) == kind


def test_a_new_code_is_one_line_and_renders_in_both_dialects() -> None:
    added = GatewayError(400, "Parameter not allowed", "invalid_request_error", "param_not_allowed")
    assert json.loads(added.body())["error"]["code"] == "param_not_allowed"
    assert json.loads(added.body(Dialect.ANTHROPIC))["error"]["type"] == "invalid_request_error"


def test_request_id_under_each_dialects_names() -> None:
    assert Dialect.OPENAI.request_id_headers("req-1") == {"x-request-id": "req-1"}
    assert Dialect.ANTHROPIC.request_id_headers("req-1") == {"x-request-id": "req-1", "request-id": "req-1"}


def test_headers_carry_auth_challenge_and_retry_after() -> None:
    assert errors.invalid_api_key().headers()["www-authenticate"].startswith("Bearer")
    assert errors.container_starting(4).headers()["retry-after"] == "4"
    assert "retry-after" not in errors.not_found("/x").headers()
