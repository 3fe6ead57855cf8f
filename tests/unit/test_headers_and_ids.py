import re

import pytest

from rules.header_policy import client_response_headers, forwarded_request_headers, is_internal_response_header
from rules.request_ids import new_request_id, request_id_for, sanitize_request_id


def test_forwarded_request_headers_replace_credentials_and_drop_hop_by_hop() -> None:
    incoming = [
        ("Authorization", "Bearer client-key"), ("x-api-key", "client-key"), ("Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"), ("Cookie", "a=b"), ("Host", "edge.example"),
        ("Content-Type", "application/json"), ("anthropic-version", "2023-06-01"), ("X-Request-Id", "old"),
    ]
    out = forwarded_request_headers(incoming, "sk-master", "req_1")
    names = [name.lower() for name, _ in out]
    assert ("authorization", "Bearer sk-master") in out
    assert ("x-request-id", "req_1") in out
    assert ("Content-Type", "application/json") in out
    assert ("anthropic-version", "2023-06-01") in out
    assert names.count("authorization") == 1 and names.count("x-request-id") == 1
    for dropped in ("x-api-key", "connection", "transfer-encoding", "cookie", "host"):
        assert dropped not in names
    assert all("client-key" not in value for _, value in out)


@pytest.mark.parametrize(
    "name",
    ["x-litellm-model-api-base", "X-LiteLLM-Version", "x-litellm-model-name", "x-litellm-model-id",
     "llm_provider-openai-organization", "llm_provider-x-request-id", "server",
     "connection", "transfer-encoding", "access-control-allow-origin", "Access-Control-Allow-Credentials",
     "x-litellm-response-cost"],  # read for the booking by the Durable Object, never passed on
)
def test_internal_response_headers_are_stripped(name: str) -> None:
    assert is_internal_response_header(name)


@pytest.mark.parametrize(
    "name", ["content-type", "x-litellm-call-id", "retry-after", "x-ratelimit-remaining-requests", "set-cookie"],
)
def test_useful_response_headers_are_kept(name: str) -> None:
    assert not is_internal_response_header(name)


def test_client_response_headers_sets_our_request_id_once() -> None:
    upstream = [("content-type", "text/event-stream"), ("x-request-id", "litellm-internal"),
                ("x-litellm-model-api-base", "http://10.0.0.1:9000/v1"), ("set-cookie", "a=1"),
                ("set-cookie", "b=2")]
    out = client_response_headers(upstream, "req_abc")
    assert out == [("content-type", "text/event-stream"), ("set-cookie", "a=1"), ("set-cookie", "b=2"),
                   ("x-request-id", "req_abc")]


def test_provider_retry_after_is_promoted_when_litellm_hides_it() -> None:
    out = client_response_headers([("llm_provider-retry-after", "7"), ("content-type", "application/json")], "r")
    assert ("retry-after", "7") in out
    assert all(not name.startswith("llm_provider") for name, _ in out)
    kept = client_response_headers([("retry-after", "3"), ("llm_provider-retry-after", "7")], "r")
    assert [v for n, v in kept if n == "retry-after"] == ["3"]
    bogus = client_response_headers([("llm_provider-retry-after", "soon\r\nx: y")], "r")
    assert not any(name == "retry-after" for name, _ in bogus)


@pytest.mark.parametrize("value", ["abc", "req_123", "0f8fad5b-d9cb-469f-a165-70867728950e", "A.b:c-d_e"])
def test_sane_request_ids_are_kept(value: str) -> None:
    assert sanitize_request_id(value) == value
    assert request_id_for(value) == value


@pytest.mark.parametrize("value", ["", " ", "a b", "x" * 129, "-leading", "id\r\nx-evil: 1", "<script>", "é"])
def test_insane_request_ids_are_replaced(value: str) -> None:
    assert sanitize_request_id(value) is None
    assert request_id_for(value) != value


def test_new_request_ids_are_unique_and_well_formed() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", i) for i in ids)


def test_caller_address_comes_from_the_platform_and_steering_headers_go() -> None:
    from rules.header_policy import forwarded_request_headers

    sent = [("X-Forwarded-For", "6.6.6.6"), ("Forwarded", "for=6.6.6.6"), ("X-Real-IP", "6.6.6.6"),
            ("True-Client-IP", "6.6.6.6"), ("X-Forwarded-Proto", "https"), ("x-litellm-num-retries", "30"),
            ("X-LiteLLM-Timeout", "99999"), ("cf-connecting-ip", "203.0.113.9"), ("content-type", "application/json")]
    out = dict(forwarded_request_headers(sent, "container-key", "req-1"))
    assert out["x-forwarded-for"] == "203.0.113.9" and out["content-type"] == "application/json"
    assert not {"X-Forwarded-For", "Forwarded", "X-Real-IP", "True-Client-IP", "X-Forwarded-Proto",
                "x-litellm-num-retries", "X-LiteLLM-Timeout", "cf-connecting-ip"} & set(out)


def test_redirects_never_name_an_internal_origin() -> None:
    from rules.header_policy import client_response_headers

    out = dict(client_response_headers([("location", "https://container/v1/models?x=1")], "req-1"))
    assert out["location"] == "/v1/models?x=1"
