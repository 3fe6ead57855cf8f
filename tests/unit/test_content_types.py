import pytest

from rules.content_types import body_type_accepted, is_json, media_type


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [("application/json", True), ("application/json; charset=utf-8", True), ("Application/JSON", True),
     ("application/vnd.api+json", True), ("text/plain", False), ("application/x-www-form-urlencoded", False),
     ("", False), (None, False), ("text/event-stream", False)],
)
def test_is_json(content_type: str | None, expected: bool) -> None:
    assert is_json(content_type) is expected


def test_media_type_strips_parameters() -> None:
    assert media_type("multipart/form-data; boundary=x") == "multipart/form-data"


def test_body_type_accepted() -> None:
    assert body_type_accepted("POST", "/v1/chat/completions", "application/json", True)
    assert not body_type_accepted("POST", "/v1/chat/completions", "text/plain", True)
    assert not body_type_accepted("POST", "/v1/chat/completions", None, True)
    assert body_type_accepted("POST", "/v1/chat/completions", None, False)  # empty body: LiteLLM says what is missing
    assert body_type_accepted("GET", "/v1/models", None, False)
    assert body_type_accepted("POST", "/v1/audio/transcriptions", "multipart/form-data; boundary=b", True)
    assert not body_type_accepted("POST", "/v1/audio/transcriptions", "application/json", True)
