"""Key material: generation, the sha256 that is all we store, and the display form LiteLLM shows.

A LiteLLM admin API accepts a key either raw (`sk-...`) or as its sha256 hex ("token"); both map to
the same token here. Generation reads `secrets`, which workerd only allows inside a request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

KEY_PREFIX = "sk-"
GENERATED_KEY_BYTES = 32  # 256 bits from the platform CSPRNG (crypto.getRandomValues in workerd)
MIN_CUSTOM_KEY_LENGTH = 16  # LiteLLM's MINIMUM_CUSTOM_KEY_LENGTH for a caller-chosen key
MAX_KEY_LENGTH = 256
_TOKEN = re.compile(r"^[0-9a-f]{64}$")


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(GENERATED_KEY_BYTES)


def token_of(key: str) -> str:
    """sha256 hex of a raw key: the only form of a key that is ever stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def is_token(text: str) -> bool:
    return _TOKEN.match(text) is not None


def token_for_identifier(identifier: str) -> str | None:
    """A raw key or a token, as LiteLLM's admin API accepts either; None when it is neither."""
    if identifier.startswith(KEY_PREFIX):
        return token_of(identifier)
    lowered = identifier.lower()
    return lowered if is_token(lowered) else None


def key_name(key: str) -> str:
    """LiteLLM's abbreviation (`sk-...abcd`): enough to recognise a key, useless to an attacker."""
    return f"{KEY_PREFIX}...{key[-4:]}" if len(key) >= MIN_CUSTOM_KEY_LENGTH else f"{KEY_PREFIX}..."


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
