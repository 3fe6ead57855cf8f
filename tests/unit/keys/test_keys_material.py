import hashlib
import re

import pytest

from keys.material import (
    MARKED_KEY_LENGTH,
    MARKED_PREFIX,
    Mark,
    generate_key,
    key_name,
    mark_of,
    token_for_identifier,
    token_of,
)
from metering.periods import iso_ms, next_reset_ms, parse_period_ms, utc_day


def test_generated_keys_are_sk_and_256_random_bits() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert re.fullmatch(r"sk-[A-Za-z0-9_-]{43}", key)  # 32 bytes urlsafe-base64 without padding


def test_token_is_sha256_hex_as_litellm_hashes_keys() -> None:
    assert token_of("sk-abc") == hashlib.sha256(b"sk-abc").hexdigest()


@pytest.mark.parametrize(("identifier", "expected"), [
    ("sk-abcdefghijklmnop", hashlib.sha256(b"sk-abcdefghijklmnop").hexdigest()),
    ("A" * 64, "a" * 64),
    ("f" * 64, "f" * 64),
    ("f" * 63, None),
    ("not-a-key", None),
    ("", None),
])
def test_identifier_is_a_raw_key_or_a_token(identifier: str, expected: str | None) -> None:
    assert token_for_identifier(identifier) == expected


def test_key_name_shows_only_the_last_four() -> None:
    assert key_name("sk-0123456789abcdefWXYZ") == "sk-...WXYZ"
    assert key_name("sk-short") == "sk-..."



@pytest.mark.parametrize(("text", "ms"), [
    ("30s", 30_000), ("30m", 1_800_000), ("30h", 108_000_000), ("30d", 2_592_000_000), ("2w", 1_209_600_000),
    ("daily", 86_400_000), (" 1h ", 3_600_000),
])
def test_litellm_durations(text: str, ms: int) -> None:
    assert parse_period_ms(text) == ms


@pytest.mark.parametrize("text", ["", "0d", "1mo", "1.5h", "10", "-1d", "1y", "1 d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="30d"):
        parse_period_ms(text)


def test_periods_repeat_from_their_anchor() -> None:
    assert next_reset_ms(1000, 100, 1000) == 1100
    assert next_reset_ms(1000, 100, 1099) == 1100
    assert next_reset_ms(1000, 100, 1100) == 1200
    assert iso_ms(1_767_225_600_000) == "2026-01-01T00:00:00.000Z"
    assert iso_ms(None) is None
    assert utc_day(1_767_225_600_000 - 1) == "2025-12-31"


def test_marked_keys_are_recognised_without_storage() -> None:
    key = generate_key("secret-one")
    assert key.startswith(MARKED_PREFIX) and len(key) == MARKED_KEY_LENGTH
    assert mark_of(key, "secret-one") is Mark.VALID
    assert mark_of(key, "secret-two") is Mark.FORGED  # a rotated secret voids marked keys
    assert mark_of(key, None) is Mark.FORGED
    assert mark_of(key[:-1] + ("A" if key[-1] != "A" else "B"), "secret-one") is Mark.FORGED
    assert mark_of(key + "x", "secret-one") is Mark.FORGED
    assert mark_of("sk-anything-else-at-all", "secret-one") is Mark.NONE
    assert generate_key(None).startswith("sk-") and mark_of(generate_key(None), "secret-one") is Mark.NONE
