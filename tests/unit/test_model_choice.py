"""One model per request (model_choice) and an upload's model (form_fields), checked against LiteLLM 1.108.7's own
readings: its precedence (`resolve_inference_model`), Starlette's query and form parsers, `get_form_data`."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge import request_policy
from edge.form_fields import HEAD_BYTES, FormHead, PartWatch, boundary_of, options
from edge.model_choice import Places, Verdict, decide, pinned, places
from tests.unit.asgi_request import one_body

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import: no price-map download
http_parsing = pytest.importorskip("litellm.proxy.common_utils.http_parsing_utils")
starlette = pytest.importorskip("starlette.requests")
QueryParams = pytest.importorskip("starlette.datastructures").QueryParams

ROOT = Path(__file__).resolve().parents[2]
QUICK = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
ONLY_DEMO = ["demo"]
BOUNDARY = b"b0und4ry"
names = st.sampled_from(["demo", "gpt-4o", "gpt-4o-mini", "", "all-proxy-models", "d\u00e9mo", "demo,gpt-4o"])


# ---- places: where LiteLLM reads a model ---------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("POST", "/v1/chat/completions", "model=gpt-4o", Places(query=("gpt-4o",), query_served=True)),
    ("POST", "/chat/completions", "mod%65l=gpt-4o&model=x+y", Places(query=("gpt-4o", "x y"), query_served=True)),
    ("POST", "/images/generations/", "model=", Places(query=("",), query_served=True)),
    ("POST", "/v1/moderations", "model=gpt-4o", Places(query=("gpt-4o",))),  # read by no handler: must agree
    ("POST", "/openai/deployments/gpt-4o/embeddings", "api-version=1", Places(path="gpt-4o")),
    ("GET", "/models/gpt-4o", "", Places(path="gpt-4o", lookup=True)),
    ("GET", "/v1/models", "", Places(served=False)),
    ("GET", "/v1/chat/completions", "model=gpt-4o", Places(query=("gpt-4o",), query_served=True, served=False)),
    ("DELETE", "/v1/responses/resp_1", "", Places(stored="resp_1")),
    ("GET", "/responses/resp_1/input_items", "", Places(stored="resp_1")),
    ("POST", "/v1/responses/resp_1/cancel", "", Places(stored="resp_1")),
    ("POST", "/v1/responses/compact", "", Places()),
    ("POST", "/v1/responses/input_tokens", "", Places()),
])
def test_places_a_request_names_its_model(method: str, path: str, query: str, expected: Places) -> None:
    assert places(method, path, query) == expected


def test_the_body_and_previous_response_id_are_places() -> None:
    at = places("POST", "/v1/responses", "", ("demo",), "resp_9")
    assert at.body == ("demo",) and at.stored == "resp_9"


@QUICK
@given(st.text(st.sampled_from("model=&;+%2065Ae-x\u00e9"), max_size=40))
def test_the_query_is_read_as_starlette_reads_it(query: str) -> None:
    ours = places("POST", "/v1/chat/completions", query).query
    assert list(ours) == QueryParams(query).getlist("model")


@QUICK
@given(st.one_of(st.none(), names), st.lists(names, max_size=3), st.lists(st.one_of(names, st.none()), max_size=1))
def test_the_picked_model_is_the_one_litellm_serves(in_path: str | None, query: list[str], body: list) -> None:
    """LiteLLM: `completion_model or cli_model or endpoint_model or body_model`, the endpoint's being the path's
    (Azure routes) or FastAPI's `?model=` (its last value); neither setting is set in this deployment."""
    assume(in_path != "")
    at = Places(path=in_path, query=tuple(query), query_served=in_path is None, body=tuple(body))
    endpoint = in_path if in_path is not None else (query[-1] if query else None)
    body_model = body[-1] if body else None
    assert at.picked() == http_parsing.resolve_inference_model(body_model, {}, None, endpoint)


# ---- decide: one model, in the list ---------------------------------------------------------------------
@pytest.mark.parametrize(("at", "code"), [
    (places("POST", "/v1/chat/completions", "model=gpt-4o", ("demo",)), "model_conflict"),
    (places("POST", "/v1/chat/completions", "model=gpt-4o"), "model_not_allowed"),
    (places("POST", "/openai/deployments/gpt-4o/chat/completions", "", ("demo",)), "model_conflict"),
    (places("POST", "/openai/deployments/demo/chat/completions", "", ("gpt-4o",)), "model_conflict"),
    (places("POST", "/v1/moderations", "model=gpt-4o", ("demo",)), "model_conflict"),
    (places("POST", "/v1/moderations", "model=demo"), "model_required"),  # LiteLLM would use its default
    (places("POST", "/v1/audio/transcriptions", "", ("demo", "gpt-4o")), "model_conflict"),
    (places("POST", "/v1/audio/transcriptions", "", (["demo"],)), "model_required"),
    (places("POST", "/v1/embeddings", "", (42,)), "model_required"),
    (places("POST", "/v1/embeddings", "", ("",)), "model_required"),
    (places("GET", "/v1/models/gpt-4o", ""), "not_found"),
    (places("GET", "/v1/responses/resp_1", ""), "not_found"),
    (places("POST", "/v1/responses", "", ("demo",), "resp_1"), "not_found"),
])
def test_a_key_with_a_model_list_is_refused(at: Places, code: str) -> None:
    decision = decide(at, ONLY_DEMO)
    assert decision.refusal is not None and decision.refusal.code == code, decision
    assert decision.refusal.status == {"model_not_allowed": 403, "not_found": 404}.get(code, 400)


@pytest.mark.parametrize("at", [
    places("POST", "/v1/chat/completions", "model=demo", ("demo",)),
    places("POST", "/v1/chat/completions", "model=", ("demo",)),
    places("POST", "/openai/deployments/demo/chat/completions", "api-version=2024-10-21", ("demo",)),
    places("POST", "/openai/deployments/demo/embeddings", ""),
    places("POST", "/v1/audio/transcriptions", "", ("demo", "demo")),
])
def test_one_model_in_the_list_goes_on(at: Places) -> None:
    assert decide(at, ONLY_DEMO).refusal is None and decide(at, ONLY_DEMO).model == "demo"


def test_a_lookup_is_served_by_no_model() -> None:
    assert decide(places("GET", "/v1/models/demo", ""), ONLY_DEMO) == decide(places("GET", "/v1/models", ""), None)


@pytest.mark.parametrize("models", [None, [], ["all-proxy-models"], ["all-proxy-models", "demo"]])
def test_callers_without_a_model_list_are_never_refused_but_booked_as_served(models: list[str] | None) -> None:
    assert not pinned(models)
    at = places("POST", "/openai/deployments/gpt-4o/chat/completions", "model=x", ("demo",))
    assert decide(at, models) == Verdict("gpt-4o")
    assert decide(places("GET", "/v1/models", ""), ONLY_DEMO).refusal is None


def test_a_virtual_key_addresses_only_stored_responses_it_created() -> None:
    """`stored_model` None: the key's object has no record that this key created the response."""
    at = places("GET", "/v1/responses/resp_1", "")
    assert decide(at, None).refusal is None
    assert all(decide(at, models).refusal.status == 404 for models in ([], ONLY_DEMO))  # type: ignore[union-attr]
    assert all(decide(at, models, "demo").refusal is None for models in ([], ONLY_DEMO))


@QUICK
@given(st.one_of(st.none(), names), st.lists(names, max_size=2), st.lists(st.one_of(names, st.none()), max_size=2),
       st.lists(names, min_size=1, max_size=2))
def test_a_pinned_key_is_only_ever_served_by_a_model_in_its_list(in_path: str | None, query: list[str], body: list,
                                                                  models: list[str]) -> None:
    assume(in_path != "" and "all-proxy-models" not in models and "" not in models)
    at = Places(path=in_path, query=tuple(query), query_served=in_path is None, body=tuple(body))
    decision = decide(at, models)
    if decision.refusal is None:
        assert at.picked() in models and decision.model == at.picked()
        assert {value for value in (in_path, *query, *body) if value} == {at.picked()}


# ---- the request policy asks LiteLLM not to fall back ---------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    (b"{}", {"disable_fallbacks": True}),
    (b'{"model":"demo","disable_fallbacks":false}', {"model": "demo", "disable_fallbacks": True}),
    (b'{"model":"demo","stream":true}', {"model": "demo", "stream": True, "stream_options": {"include_usage": True},
                                         "disable_fallbacks": True}),
])
def test_a_pinned_key_never_falls_back(raw: bytes, expected: dict) -> None:
    verdict = request_policy.judge(raw, request_policy.Caps(2, 600, no_fallbacks=True), ask_usage=True)
    assert isinstance(verdict, request_policy.Verdict) and verdict.capped == ()
    assert json.loads(request_policy.rewritten(raw, verdict) or b"") == expected


def test_a_body_already_without_fallbacks_is_forwarded_as_is() -> None:
    raw = b'{"model": "demo", "disable_fallbacks": true, "previous_response_id": "resp_1"}'
    verdict = request_policy.judge(raw, request_policy.Caps(2, 600, no_fallbacks=True))
    assert verdict == request_policy.Verdict("demo", False, continues="resp_1")
    assert request_policy.rewritten(raw, verdict) is None


def test_this_deployment_sets_no_model_override_the_edge_cannot_see() -> None:
    """LiteLLM's own config could serve another model than the request names (general_settings.completion_model,
    moderation_model, image_generation_model, litellm_settings.model_alias_map, router model_group_alias)."""
    for path in (ROOT / "litellm_config.yaml", ROOT / "container" / "demo_models.yaml"):
        config = yaml.safe_load(path.read_text())
        general = config.get("general_settings") or {}
        assert not {"completion_model", "moderation_model", "image_generation_model"} & set(general), path
        assert "model_alias_map" not in (config.get("litellm_settings") or {}), path
        assert "model_group_alias" not in (config.get("router_settings") or {}), path


# ---- an upload's model, read from the head of its form --------------------------------------------------
def form(*parts: tuple[str, bytes, str | None], boundary: bytes = BOUNDARY, end: bool = True) -> bytes:
    """A multipart body: (field name, value, filename or None) per part, as httpx and curl write them."""
    out = b""
    for name, value, filename in parts:
        file = f'; filename="{filename}"' if filename is not None else ""
        kind = b"\r\nContent-Type: application/octet-stream" if filename is not None else b""
        out += b"--" + boundary + f'\r\nContent-Disposition: form-data; name="{name}"{file}'.encode() + kind
        out += b"\r\n\r\n" + value + b"\r\n"
    return out + (b"--" + boundary + b"--\r\n" if end else b"")


def litellm_form_model(raw: bytes, content_type: str) -> object:
    """The `model` LiteLLM's transcription handler reads from this body (get_form_data), or the exception."""
    receive = one_body(raw)
    scope = {"type": "http", "method": "POST", "path": "/v1/audio/transcriptions", "root_path": "",
             "query_string": b"", "headers": [(b"content-type", content_type.encode())]}
    try:
        return asyncio.run(http_parsing.get_form_data(starlette.Request(scope, receive))).get("model")
    except Exception as failure:  # any refusal of LiteLLM's: not served
        return failure


def edge_reads(raw: bytes, chunk: int = 7) -> tuple[list[object] | None, bytes]:
    """What the edge (form_reader) makes of a body sent in chunks: the model fields it read (None: refused),
    and the bytes LiteLLM then gets (the head, then the rest as far as PartWatch lets it)."""
    head, fed = FormHead(BOUNDARY), 0
    while fed < len(raw):
        fed += chunk
        if head.feed(raw[fed - chunk:fed]):
            break
    else:
        head.close()
    if head.refusal is not None:
        return None, b""
    if head.file_at is None:
        return head.models, raw
    watch = PartWatch(BOUNDARY)
    if watch.feed(head.after_file()) is not None:
        return None, b""
    passed = raw[:fed]
    while fed < len(raw):
        piece = raw[fed:fed + chunk]
        fed += chunk
        cut = watch.feed(piece)
        if cut is not None:
            return head.models, passed + piece[:cut]
        passed += piece
    return head.models, passed


CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY.decode()}"


@pytest.mark.parametrize(("raw", "models"), [
    (form(("model", b"demo", None), ("language", b"en", None), ("file", b"RIFF....", "a.wav")), ["demo"]),
    (form(("model", b"demo", None), ("model", b"gpt-4o", None), ("file", b"x", "a.wav")), ["demo", "gpt-4o"]),
    (form(("model[]", b"gpt-4o", None), ("file", b"x", "a.wav")), [["gpt-4o"]]),
    (form(("model", b"d\xe9mo", None), ("file", b"x", "a.wav")), ["d\u00e9mo"]),  # Latin-1, as Starlette
    (form(("language", b"en", None)), []),
])
def test_the_fields_before_the_file_are_read(raw: bytes, models: list) -> None:
    for chunk in (1, 7, len(raw)):
        assert edge_reads(raw, chunk) == (models, raw)


@pytest.mark.parametrize("raw", [
    b"\r\n" + form(("model", b"demo", None)),  # a preamble
    form(("model", b"demo", None)).replace(b'name="model"', b"name*=utf-8''model"),
    form(("model", b"demo", None)).replace(b"Content-Disposition", b"Content-Disposition: x\r\nContent-Disposition"),
    form(("model", b"demo", None)).replace(b'"model"', b'"mo;del"'),
    form(("model", b"a\r\n--" + BOUNDARY + b" x", None)),  # a padded delimiter inside a value
    form(("model", b"demo" + b"x" * HEAD_BYTES, None), ("file", b"x", "a.wav")),  # not in the head
    form(("model", b"demo", None), end=False),  # the body ends inside its fields
])
def test_forms_outside_the_plain_subset_are_refused(raw: bytes) -> None:
    assert edge_reads(raw)[0] is None


def test_nothing_after_the_file_reaches_litellm() -> None:
    """Refused when it is in the head already; cut off before it when it comes later."""
    assert edge_reads(form(("file", b"x", "a.wav"), ("model", b"demo", None)), chunk=1000)[0] is None
    raw = form(("model", b"demo", None), ("file", b"abc", "a.wav"), ("model", b"gpt-4o", None))
    models, passed = edge_reads(raw, chunk=5)
    assert models == ["demo"] and b"gpt-4o" not in passed
    assert litellm_form_model(raw, CONTENT_TYPE) == "gpt-4o"  # what the edge keeps from LiteLLM
    assert litellm_form_model(passed, CONTENT_TYPE) == "demo"  # and LiteLLM's form then lacks its file


@pytest.mark.parametrize(("content_type", "boundary"), [
    (CONTENT_TYPE, BOUNDARY), ('multipart/form-data; boundary="a b"; charset=UTF8', b"a b"),
    ("multipart/form-data", None), ("multipart/form-data; boundary=x; charset=latin-1", None),
    ("multipart/form-data; boundary=x; boundary=y", None), ('multipart/form-data; boundary="x;y"', None),
    ("multipart/form-data; boundary*=x", None), ("multipart/form-data; boundary=", None),
])
def test_the_boundary_is_read_from_a_plain_content_type_only(content_type: str, boundary: bytes | None) -> None:
    assert boundary_of(content_type) == boundary


parse_options_header = pytest.importorskip("python_multipart.multipart").parse_options_header


@QUICK
@given(st.text(st.sampled_from(' \t;="\\*ab-/\u00e9'), max_size=30))
def test_header_parameters_are_read_as_python_multipart_reads_them(value: str) -> None:
    ours = options(value)
    if ours is not None:
        assert parse_options_header(value)[1] == {k.encode(): v.encode("latin-1") for k, v in ours.items()}


parts = st.lists(st.tuples(st.sampled_from(["model", "model[]", "language", "Model", "file", "x"]),
                           st.binary(max_size=12) | st.sampled_from([b"demo", b"gpt-4o", b"\r\n--" + BOUNDARY]),
                           st.none() | st.just("a.wav")), max_size=5)


@settings(QUICK, max_examples=300)
@given(parts, st.integers(1, 40), st.lists(st.tuples(st.integers(0, 300), st.binary(min_size=1, max_size=4)),
                                           max_size=3))
def test_litellm_never_reads_another_model_than_the_edge(parts_: list, chunk: int, mutations: list) -> None:
    """Whatever upload the edge lets through for a key with a model list, LiteLLM's model is the one the edge
    checked (or LiteLLM has none it can route, and refuses the form)."""
    raw = bytearray(form(*parts_))
    for at, junk in mutations:
        raw[at:at + len(junk)] = junk
    models, passed = edge_reads(bytes(raw), chunk)
    if models is None:
        return
    decision = decide(places("POST", "/v1/audio/transcriptions", "", tuple(models)), ["demo", "gpt-4o"])
    served = litellm_form_model(passed, CONTENT_TYPE)
    if decision.refusal is None and isinstance(served, str | list):  # else: refused, or nothing LiteLLM can route
        assert served == decision.model


def test_a_file_named_model_is_no_model_the_edge_can_check() -> None:
    models, _ = edge_reads(form(("model", b"demo", None), ("model", b"x", "a.wav")))
    assert models is not None and not isinstance(models[-1], str)
    assert decide(places("POST", "/v1/audio/transcriptions", "", tuple(models)), ONLY_DEMO).refusal is not None
