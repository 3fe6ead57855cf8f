import pytest

from rules.errors import Dialect
from rules.routing import Route, classify, dialect_for, is_canonical_path, is_forwarded_path, upstream_path


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
        ("HEAD", "/v1/models", Route.FORWARD),  # answered as a GET without the body
        # Base URLs without /v1 (LiteLLM's docs): the same API paths, the same methods.
        ("POST", "/chat/completions", Route.FORWARD),
        ("GET", "/models", Route.FORWARD),
        ("HEAD", "/models/gpt-4o", Route.FORWARD),
        ("POST", "/completions", Route.FORWARD),
        ("POST", "/embeddings", Route.FORWARD),
        ("POST", "/messages", Route.FORWARD),
        ("POST", "/messages/count_tokens", Route.FORWARD),
        ("POST", "/responses", Route.FORWARD),
        ("OPTIONS", "/chat/completions", Route.PREFLIGHT),
        ("PUT", "/chat/completions", Route.METHOD_NOT_ALLOWED),
        # Azure OpenAI deployment routes: POST only.
        ("POST", "/openai/deployments/gpt-4o/chat/completions", Route.FORWARD),
        ("POST", "/openai/deployments/gpt-35-instruct/completions", Route.FORWARD),
        ("POST", "/openai/deployments/text-embedding-3-small/embeddings", Route.FORWARD),
        ("OPTIONS", "/openai/deployments/gpt-4o/chat/completions", Route.PREFLIGHT),
        ("GET", "/openai/deployments/gpt-4o/chat/completions", Route.METHOD_NOT_ALLOWED),
        ("HEAD", "/openai/deployments/gpt-4o/chat/completions", Route.METHOD_NOT_ALLOWED),
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
        # Unprefixed forms get the same discipline: LiteLLM's unprefixed admin paths stay unreachable.
        "/model/info", "/chat", "/chat/completionsX", "/v1/v1/models", "/../chat/completions",
        "/%2e%2e/v1/models", "/chat%2Fcompletions", "//chat/completions", "/key/list", "/spend/logs",
        "/global/spend", "/anthropic/v1/messages", "/vertex_ai/x", "/bedrock/x", "/assistants", "/files",
        # Under /openai/ only the three deployment operations: the rest is LiteLLM's pass-through.
        "/openai", "/openai/", "/openai/v1/chat/completions", "/openai/chat/completions", "/openai/models",
        "/openai/deployments", "/openai/deployments/gpt-4o", "/openai/deployments/gpt-4o/images/generations",
        "/openai/deployments/gpt-4o/chat/completions/x", "/openai/deployments//chat/completions",
        "/openai/deployments/a/b/chat/completions", "/openai/deployments/%2e%2e/chat/completions",
        "/openai/deployments/../../key/generate/chat/completions", "/openai/v1/responses",
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


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/chat/completions", "/v1/chat/completions"),
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/models/gpt-4o", "/v1/models/gpt-4o"),
        ("/models/", "/v1/models"),  # no trailing slash: LiteLLM would 307 to its own origin
        ("/v1/models/", "/v1/models"),
        ("/messages/count_tokens", "/v1/messages/count_tokens"),
        ("/audio/transcriptions", "/v1/audio/transcriptions"),
        ("/openai/deployments/gpt-4o/chat/completions", "/openai/deployments/gpt-4o/chat/completions"),
    ],
)
def test_litellm_always_sees_one_form(path: str, upstream: str) -> None:
    assert upstream_path(path) == upstream


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("/v1/messages", Dialect.ANTHROPIC),
        ("/v1/messages/count_tokens", Dialect.ANTHROPIC),
        ("/messages", Dialect.ANTHROPIC),
        ("/messages/batches/abc", Dialect.ANTHROPIC),
        ("/v1/chat/completions", Dialect.OPENAI),
        ("/v1/messagesX", Dialect.OPENAI),
        ("/openai/deployments/m/chat/completions", Dialect.OPENAI),
        ("/v1/../v1/messages", Dialect.OPENAI),
        ("/", Dialect.OPENAI),
        ("/key/generate", Dialect.OPENAI),
    ],
)
def test_dialect_for(path: str, dialect: Dialect) -> None:
    assert dialect_for(path) is dialect
