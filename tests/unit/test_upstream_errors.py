"""LiteLLM's error answers, scrubbed of internals (pure, CPython)."""

from __future__ import annotations

import json

from container.upstream_errors import rewrite, scrub


def test_addresses_urls_and_reprs_are_scrubbed() -> None:
    text = ("litellm.APIConnectionError: Cannot connect to host api.openai.com:443 "
            "ssl:<ssl.SSLContext object at 0x7f3a2b1c0d90> [http://10.0.0.7:4000/v1/x] 127.0.0.1:8080")
    out = scrub(text)
    assert "api.openai.com" not in out and "0x7f" not in out and "10.0.0.7" not in out and "127.0.0.1" not in out
    assert out.startswith("litellm.APIConnectionError: Cannot connect to host <host>")


def test_status_and_type_are_kept_and_every_string_is_scrubbed() -> None:
    raw = json.dumps({"error": {"message": "Connection error to https://api.anthropic.com/v1/messages",
                                "type": "None", "param": None, "code": "502", "detail": ["at api.openai.com"]}})
    status, body = rewrite(502, raw.encode())
    error = json.loads(body)["error"]
    assert status == 502 and error["type"] == "None" and error["code"] == "502"
    assert "anthropic.com" not in body.decode() and "openai.com" not in body.decode()


def test_litellm_rejections_answered_500_become_400() -> None:
    raw = json.dumps({"error": {"message": "Rejected Request: api_base is not allowed in request body.",
                                "type": "None", "param": None, "code": "500"}})
    status, body = rewrite(500, raw.encode())
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"


def test_a_real_500_stays_500_and_non_json_is_left_to_the_caller() -> None:
    assert rewrite(500, b'{"error": {"message": "boom"}}')[0] == 500
    assert rewrite(500, b"Internal Server Error") is None and rewrite(500, b"[1]") is None


def test_python_tracebacks_and_file_paths_are_scrubbed() -> None:
    """As LiteLLM 1.108.7 answers a transcription on a model whose provider has none (measured)."""
    message = ("litellm.APIConnectionError: Unmapped provider passed in.\nTraceback (most recent call last):\n"
               '  File "/work/main/.venv/lib/python3.11/site-packages/litellm/main.py", line 8127, in atranscription\n'
               "    init_response: Final = await loop.run_in_executor(None, func_with_context)\n"
               "                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
               "ValueError: Unmapped provider passed in.\n\nSee /srv/app/x.py or C:\\app\\y.py; /v1/chat/completions")
    out = scrub(message)
    assert "Traceback" not in out and ".py" not in out and "site-packages" not in out and "^^^" not in out
    assert out.startswith("litellm.APIConnectionError: Unmapped provider passed in.\nValueError: Unmapped")
    assert out.endswith("/v1/chat/completions")  # a path that names no source file stays


def test_scrubbing_stays_linear_on_text_a_client_can_echo() -> None:
    assert scrub("/a" * 40_000 + ".p") == "/a" * 40_000 + ".p"
