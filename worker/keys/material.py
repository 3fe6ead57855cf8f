"""Key material: generation, the mark the edge verifies, the sha256 that is all we store, and the display
form LiteLLM shows.

A LiteLLM admin API accepts a key either raw (`sk-...`) or as its sha256 hex ("token"); both map to
the same token here. Generation reads `secrets`, which workerd only allows inside a request.

Marks: with KEY_MARK_SECRET set, a generated key is `sk-lr-` + 32 random characters + a 16-character
HMAC-SHA256 of the rest under that secret (96 bits). The edge tells a key it issued from a forgery without
any storage: a key in this format with a wrong mark is refused before any Durable Object is asked. Keys
without the prefix (issued unmarked, or chosen by the operator) cost one read-only lookup. The secret is
the gateway's own, so rotating LITELLM_MASTER_KEY keeps every key; rotating KEY_MARK_SECRET voids the
marked ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from enum import Enum

KEY_PREFIX = "sk-"
GENERATED_KEY_BYTES = 32  # 256 bits from the platform CSPRNG (crypto.getRandomValues in workerd)
MIN_CUSTOM_KEY_LENGTH = 16  # LiteLLM's MINIMUM_CUSTOM_KEY_LENGTH for a caller-chosen key
MAX_KEY_LENGTH = 256
_TOKEN = re.compile(r"^[0-9a-f]{64}$")


MARKED_PREFIX = "sk-lr-"
_MARKED_RANDOM_BYTES = 24  # 32 base64url characters, 192 bits
_MARK_BYTES = 12  # 16 base64url characters
MARKED_KEY_LENGTH = len(MARKED_PREFIX) + 32 + 16


class Mark(Enum):
    VALID = "valid"  # issued by this gateway under the current secret: worth asking its object
    FORGED = "forged"  # the gateway's format with a wrong mark: refused at the edge
    NONE = "none"  # not the gateway's format (unmarked or custom): one read-only lookup decides


def generate_key(mark_secret: str | None = None) -> str:
    if not mark_secret:
        return KEY_PREFIX + secrets.token_urlsafe(GENERATED_KEY_BYTES)
    unmarked = MARKED_PREFIX + secrets.token_urlsafe(_MARKED_RANDOM_BYTES)
    return unmarked + _mark(mark_secret, unmarked)


def mark_of(key: str, mark_secret: str | None) -> Mark:
    """Pure and constant-time in the mark: no storage, no Durable Object."""
    if not key.startswith(MARKED_PREFIX):
        return Mark.NONE
    if not mark_secret or len(key) != MARKED_KEY_LENGTH:
        return Mark.FORGED
    unmarked, mark = key[:-16], key[-16:]
    return Mark.VALID if hmac.compare_digest(mark.encode(), _mark(mark_secret, unmarked).encode()) else Mark.FORGED


def _mark(secret: str, unmarked: str) -> str:
    digest = hmac.new(secret.encode(), unmarked.encode(), hashlib.sha256).digest()[:_MARK_BYTES]
    return base64.urlsafe_b64encode(digest).decode()


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

