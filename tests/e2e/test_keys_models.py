"""A key with a model list is only ever served by a model in its list ("Keys that hold" §1), however the request
names its model: query string, Azure path, upload form fields, router fallbacks, stored responses, model lookup.

Each case is proven by what reached the fake provider (or what LiteLLM answered), on the shared gateway; each
makes its own keys.
"""

from __future__ import annotations

import json

import httpx
import pytest

from keys.material import token_of
from tests.e2e.assertions import anthropic_error, openai_error
from tests.e2e.keys_admin import KeyAdmin, bearer, chat_body
from tests.harness import FakeProvider, Gateway

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4
OTHER = "gpt-4o"  # never in the lists below: what an attack run got served anyway


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> KeyAdmin:
    return KeyAdmin(gateway)


def assert_refused(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert openai_error(answer)["code"] == code, answer.text


def reached_litellm(answer: httpx.Response) -> bool:
    """LiteLLM answered: its Anthropic provider keeps no responses, and says so (the edge would say 404)."""
    assert answer.status_code == 500 and "GET responses is not supported for anthropic" in answer.text, answer.text
    return True


def served(provider: FakeProvider) -> set[str]:
    """The upstream models the provider was asked for since the case began."""
    return set(provider.stats()["hits"])


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", chat_body("q-chat", "gpt-4o-mini")),
    ("/chat/completions", chat_body("q-bare", "gpt-4o-mini")),
    ("/v1/completions", {"model": "gpt-4o-mini", "prompt": "q-completion"}),
    ("/v1/embeddings", {"model": "gpt-4o-mini", "input": "q-embedding"}),
    ("/v1/images/generations", {"model": "gpt-4o-mini", "prompt": "q-image"}),
])
@pytest.mark.parametrize("with_body_model", [True, False], ids=["disagreeing", "query-only"])
def test_the_query_string_model_is_checked(admin: KeyAdmin, provider: FakeProvider, path: str, body: dict,
                                           with_body_model: bool) -> None:
    """LiteLLM serves `?model=` over the body's model on these endpoints."""
    key = admin.generate(models=["gpt-4o-mini"])
    sent = body if with_body_model else {name: value for name, value in body.items() if name != "model"}
    answer = admin.client.post(path, params={"model": OTHER}, json=sent, headers=bearer(key))
    if with_body_model:
        assert_refused(answer, 400, "model_conflict")
    else:
        assert_refused(answer, 403, "model_not_allowed")
        assert OTHER in openai_error(answer)["message"]
    assert OTHER not in served(provider)
    if path != "/v1/images/generations":  # the fake has no image API: a failure would cool the model down
        agreeing = admin.client.post(path, params={"model": "gpt-4o-mini"}, json=body, headers=bearer(key))
        assert agreeing.status_code == 200, agreeing.text


def test_a_query_model_on_messages_must_agree_and_is_refused_in_anthropic_shape(admin: KeyAdmin) -> None:
    key = admin.generate(models=["claude-3-5-sonnet"])
    body = {"model": "claude-3-5-sonnet", "max_tokens": 16, "messages": [{"role": "user", "content": "q-msg"}]}
    answer = admin.client.post("/v1/messages", params={"model": OTHER}, json=body, headers=bearer(key))
    assert answer.status_code == 400 and "model" in anthropic_error(answer)["message"], answer.text


@pytest.mark.parametrize(("deployment", "body_model", "status", "code"), [
    (OTHER, "gpt-4o-mini", 400, "model_conflict"),  # LiteLLM serves the path's model
    ("gpt-4o-mini", OTHER, 400, "model_conflict"),  # the path's model is allowed, but which one is meant?
    (OTHER, None, 403, "model_not_allowed"),
])
def test_the_azure_deployment_in_the_path_is_checked(admin: KeyAdmin, provider: FakeProvider, deployment: str,
                                                     body_model: str | None, status: int, code: str) -> None:
    key = admin.generate(models=["gpt-4o-mini"])
    body = chat_body("azure") if body_model is None else chat_body("azure", body_model)
    if body_model is None:
        del body["model"]
    answer = admin.client.post(f"/openai/deployments/{deployment}/chat/completions",
                               params={"api-version": "2024-10-21"}, json=body, headers={"api-key": key})
    assert_refused(answer, status, code)
    assert not served(provider)


def test_azure_clients_that_agree_are_served(admin: KeyAdmin, provider: FakeProvider) -> None:
    key = admin.generate(models=["gpt-4o-mini"])
    for body in (chat_body("azure-ok"), {"messages": [{"role": "user", "content": "azure-ok"}]}):
        answer = admin.client.post("/openai/deployments/gpt-4o-mini/chat/completions",
                                   params={"api-version": "2024-10-21"}, json=body, headers={"api-key": key})
        assert answer.status_code == 200, answer.text
    assert served(provider) == {"gpt-4o-mini"}


def transcribe(admin: KeyAdmin, key: str, *fields: tuple[str, str], audio: bytes = AUDIO,
               after: tuple[tuple[str, str], ...] = ()) -> httpx.Response:
    """An upload as httpx (and so the OpenAI SDK) writes it: the fields, then the file; `after`: fields after it."""
    boundary = "e2e-boundary-7c1d"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
                 f"Content-Type: audio/wav\r\n\r\n".encode() + audio + b"\r\n")
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
              for name, value in after]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return admin.client.post("/v1/audio/transcriptions", content=body, headers={
        **bearer(key), "content-type": f"multipart/form-data; boundary={boundary}"})


def test_an_uploads_model_is_checked(admin: KeyAdmin) -> None:
    key = admin.generate(models=["transcriber"])
    assert_refused(transcribe(admin, key, ("model", OTHER)), 403, "model_not_allowed")
    assert_refused(transcribe(admin, key, ("model", "transcriber"), ("model", OTHER)), 400, "model_conflict")
    assert_refused(transcribe(admin, key, ("language", "en")), 400, "model_required")
    assert_refused(transcribe(admin, key, after=(("model", "transcriber"),)), 400, "model_required")


@pytest.mark.parametrize("size", [4_096, 300_000], ids=["small", "past-the-head"])
def test_an_allowed_upload_reaches_litellm_whole(admin: KeyAdmin, size: int) -> None:
    """The head read at the edge and the rest of the stream arrive as one form: LiteLLM reads its model and file
    and asks the provider (the fake has no audio API, so LiteLLM then fails naming the model group it used)."""
    key = admin.generate(models=["transcriber"])
    answer = transcribe(admin, key, ("model", "transcriber"), ("language", "en"), audio=AUDIO * (size // len(AUDIO)))
    assert answer.status_code == 400, answer.text
    assert "'transcriber'" in openai_error(answer)["message"] and "fake provider" in openai_error(answer)["message"]


def test_a_model_field_after_a_large_file_never_reaches_litellm(admin: KeyAdmin) -> None:
    key = admin.generate(models=["transcriber"])
    answer = transcribe(admin, key, ("model", "transcriber"), audio=AUDIO * 300, after=(("model", OTHER),))
    assert answer.status_code >= 400 and OTHER not in answer.text, answer.text


def test_litellm_tracebacks_never_reach_the_client(admin: KeyAdmin) -> None:
    """LiteLLM answers a transcription on a provider without one with a Python traceback in its message."""
    key = admin.generate(models=["claude-listener"])
    answer = transcribe(admin, key, ("model", "claude-listener"))
    assert answer.status_code >= 400 and "Unmapped provider" in openai_error(answer)["message"], answer.text
    assert "Traceback" not in answer.text and ".py" not in answer.text and "site-packages" not in answer.text


def test_a_pinned_key_is_never_served_by_a_fallback(admin: KeyAdmin, provider: FakeProvider) -> None:
    """`flaky` always fails and the router falls back to `backup`: not for a key whose list lacks `backup`, and
    the request is booked under the model that was tried."""
    key = admin.generate(models=["flaky"])
    answer = admin.chat(key, "fb-pinned", "flaky")
    assert answer.status_code >= 500, answer.text
    assert "gpt-backup" not in served(provider) and "gpt-fail-500" in served(provider)
    row = admin.wait_booked(token_of(key), 1)
    assert row["failed_requests"] == 1 and row["prompt_tokens"] == 0
    assert admin.gateway.chat("flaky", "fb-master").status_code == 200  # the master key keeps its fallbacks
    assert "gpt-backup" in served(provider)


def test_stored_responses_are_their_creators_only(admin: KeyAdmin, provider: FakeProvider) -> None:
    """A response a key stores is addressed by its id (GET, DELETE, input_items, cancel, previous_response_id):
    by that key, at once, and never through another key (LiteLLM would use the operator's credentials for any id)."""
    owner, other = admin.generate(models=["claude-keeper"]), admin.generate()
    created = admin.client.post("/v1/responses", headers=bearer(owner), json={
        "model": "claude-keeper", "input": "stored", "max_output_tokens": 16})
    assert created.status_code == 200, created.text
    stored = created.json()["id"]
    own = admin.client.get(f"/v1/responses/{stored}", headers=bearer(owner))  # right after: no wait
    assert reached_litellm(own)
    for method, path in (("GET", f"/v1/responses/{stored}"), ("DELETE", f"/v1/responses/{stored}"),
                         ("GET", f"/v1/responses/{stored}/input_items"), ("POST", f"/responses/{stored}/cancel")):
        assert_refused(admin.client.request(method, path, headers=bearer(other)), 404, "not_found")
    continued = admin.client.post("/v1/responses", headers=bearer(other), json={
        "model": "claude-keeper", "input": "go on", "previous_response_id": stored})
    assert_refused(continued, 404, "not_found")
    elsewhere = admin.client.post("/v1/responses", headers=bearer(owner), json={
        "model": OTHER, "input": "go on", "previous_response_id": stored})
    assert_refused(elsewhere, 400, "model_conflict")  # LiteLLM would serve the stored one's model anyway
    assert OTHER not in served(provider)
    master = admin.client.get(f"/v1/responses/{stored}", headers=admin.gateway.auth())
    assert master.status_code != 404, master.text  # the master key reaches LiteLLM as before


def test_a_streamed_response_is_its_creators_too(admin: KeyAdmin) -> None:
    """The id of a streamed creation comes in its `response.created` event."""
    owner, other = admin.generate(), admin.generate()
    with admin.client.stream("POST", "/v1/responses", headers=bearer(owner), json={
            "model": "claude-keeper", "input": "streamed", "max_output_tokens": 16, "stream": True}) as answer:
        assert answer.status_code == 200
        text = "".join(answer.iter_text())
    stored = next(json.loads(line[5:])["response"]["id"] for line in text.splitlines()
                  if line.startswith("data:") and '"response.created"' in line)
    assert reached_litellm(admin.client.get(f"/v1/responses/{stored}", headers=bearer(owner)))
    assert_refused(admin.client.get(f"/v1/responses/{stored}", headers=bearer(other)), 404, "not_found")


def test_a_model_outside_the_list_does_not_exist_for_the_key(admin: KeyAdmin) -> None:
    key = admin.generate(models=["gpt-4o-mini"])
    for path in (f"/v1/models/{OTHER}", f"/models/{OTHER}"):
        assert_refused(admin.client.get(path, headers=bearer(key)), 404, "not_found")
    assert admin.client.get("/v1/models/gpt-4o-mini", headers=bearer(key)).json()["id"] == "gpt-4o-mini"
    assert admin.client.get(f"/v1/models/{OTHER}", headers=admin.gateway.auth()).status_code == 200


def test_a_request_is_booked_under_the_model_that_served_it(admin: KeyAdmin, provider: FakeProvider) -> None:
    """A key without a model list keeps the router's fallbacks: `flaky` fails over to `backup`, and the booking
    follows what served (LiteLLM's `x-litellm-model-group`), not what was asked."""
    key = admin.generate()
    answer = admin.chat(key, "fb-booked", "flaky")
    assert answer.status_code == 200, answer.text
    assert "gpt-backup" in served(provider)
    admin.wait_booked(token_of(key), 1)
    by_model = admin.call("GET", "/spend/report", params={**admin.days(), "group_by": "model",
                                                           "api_key": token_of(key)}).json()
    assert [(row["model"], row["requests"], row["failed_requests"]) for row in by_model["data"]] == [("backup", 1, 0)]
    assert by_model["data"][0]["completion_tokens"] > 0
