import pytest

from routing import Route, classify, is_canonical_path, is_forwarded_path


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/", Route.ROOT),
        ("HEAD", "/", Route.ROOT),
        ("GET", "/health", Route.HEALTH),
        ("POST", "/health", Route.METHOD_NOT_ALLOWED),
        ("POST", "/v1/chat/completions", Route.FORWARD),
        ("post", "/v1/chat/completions", Route.FORWARD),
        ("GET", "/v1/models", Route.FORWARD),
        ("GET", "/v1/models/gpt-4o", Route.FORWARD),
        ("GET", "/v1/models/", Route.FORWARD),
        ("POST", "/v1/completions", Route.FORWARD),
        ("POST", "/v1/embeddings", Route.FORWARD),
        ("POST", "/v1/messages", Route.FORWARD),
        ("POST", "/v1/messages/count_tokens", Route.FORWARD),
        ("OPTIONS", "/v1/chat/completions", Route.PREFLIGHT),
        ("PUT", "/v1/chat/completions", Route.METHOD_NOT_ALLOWED),
        ("PATCH", "/v1/models", Route.METHOD_NOT_ALLOWED),
    ],
)
def test_classify(method: str, path: str, route: Route) -> None:
    assert classify(method, path) is route


@pytest.mark.parametrize(
    "path",
    [
        "/openapi.json", "/routes", "/ui", "/ui/", "/docs", "/redoc", "/key/generate", "/user/new",
        "/team/new", "/model/new", "/config/update", "/health/liveliness", "/metrics",
        "/v1", "/v1/", "/v1/model/info", "/v1/key/generate", "/v1/chat", "/v1/chat/completionsX",
        "/v1/../openapi.json", "/v1/chat/../../openapi.json", "/v1/%2e%2e/openapi.json",
        "/v1/..%2Fopenapi.json", "/v1/chat%2Fcompletions", "//v1/chat/completions",
        "/v1//chat/completions", "/v1/./chat/completions", "/v1/chat/completions/..",
        "/v1\\chat\\completions", "/__gateway/state", "v1/models", "",
    ],
)
def test_everything_else_is_not_found(path: str) -> None:
    assert classify("GET", path) is Route.NOT_FOUND
    assert classify("POST", path) is Route.NOT_FOUND


def test_canonical_path_rules() -> None:
    assert is_canonical_path("/v1/models/gpt-4o-mini")
    assert is_canonical_path("/v1/models/")
    assert not is_canonical_path("/v1/models/a%20b")
    assert not is_canonical_path("/v1/models/\x00")
    assert not is_forwarded_path("/v1/responsesX")
    assert is_forwarded_path("/v1/responses/resp_123")
