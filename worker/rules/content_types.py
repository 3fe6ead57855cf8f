"""Media types: what the API endpoints accept, and which upstream answers are JSON."""

from __future__ import annotations

# Endpoints whose request body is multipart (file uploads); every other POST body is JSON.
_MULTIPART_PATHS = ("/v1/audio/transcriptions",)


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def body_type_accepted(method: str, path: str, content_type: str | None, has_body: bool) -> bool:
    """False when a POST body is not of the type its endpoint takes (answered 415 at the edge).

    LiteLLM parses any body as JSON whatever its declared type; clients sending form data or text
    by mistake deserve a clear error rather than a guess.
    """
    if method.upper() != "POST" or not has_body:
        return True
    if path.rstrip("/").startswith(_MULTIPART_PATHS):
        return media_type(content_type) == "multipart/form-data"
    return is_json(content_type)
