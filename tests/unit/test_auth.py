import pytest

from rules.auth import container_key, key_matches, presented_key

KEY = "sk-test-0123456789"


@pytest.mark.parametrize(
    ("authorization", "x_api_key", "expected"),
    [
        (f"Bearer {KEY}", None, KEY),
        (f"bearer {KEY}", None, KEY),
        (f"BEARER   {KEY}  ", None, KEY),
        (None, KEY, KEY),
        (None, f"  {KEY} ", KEY),
        ("Bearer", None, None),
        ("Bearer ", None, None),
        ("", None, None),
        ("Basic dXNlcjpwYXNz", None, None),
        (f"Token {KEY}", None, None),
        (f"Bearer {KEY} extra", None, None),
        ("\x00\x01garbage", None, None),
        (None, "", None),
        (None, "two words", None),
        (None, None, None),
        # Authorization wins: a malformed one is not rescued by a good x-api-key.
        ("Basic abc", KEY, None),
    ],
)
def test_presented_key(authorization: str | None, x_api_key: str | None, expected: str | None) -> None:
    assert presented_key(authorization, x_api_key) == expected


@pytest.mark.parametrize(
    ("authorization", "x_api_key", "api_key", "expected"),
    [
        (None, None, KEY, KEY),  # Azure OpenAI clients send only `api-key`
        (None, None, f" {KEY} ", KEY),
        (None, None, "", None),
        (None, None, "two words", None),
        # The first header present decides: a bad one is not rescued by a good `api-key`.
        ("Basic abc", None, KEY, None),
        (None, "", KEY, None),
        (f"Bearer {KEY}", None, "other", KEY),
    ],
)
def test_azure_api_key_header(authorization: str | None, x_api_key: str | None, api_key: str | None,
                              expected: str | None) -> None:
    assert presented_key(authorization, x_api_key, api_key) == expected


def test_key_matches_exact_only() -> None:
    assert key_matches(KEY, KEY)
    assert not key_matches(KEY + "x", KEY)
    assert not key_matches(KEY[:-1], KEY)
    assert not key_matches(None, KEY)
    assert not key_matches("", KEY)
    assert not key_matches(KEY, "")  # an empty configured key never matches anything


def test_key_matches_non_ascii_does_not_raise() -> None:
    assert not key_matches("sk-tëst", KEY)


def test_container_key_is_strong_derived_and_stable() -> None:
    derived = container_key("sk-1234")
    assert derived == container_key("sk-1234") and derived != container_key("sk-1235")
    assert derived.startswith("sk-") and len(derived) == 67 and "1234" not in derived[:8]
