"""Strategies and settings shared by the property tests of the edge's pure modules."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from rules.routing import FORWARDED_API_PATHS


def quick(examples: int = 150) -> settings:
    """Few examples each (the folder stays well under 20 s on two cores), no deadline (timing is not
    the property), and no example database: nothing is written into the shared working tree."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# ---- paths ----------------------------------------------------------------------------------------
SEGMENT_CHARS = string.ascii_letters + string.digits + "._~:@!$&'()*+,;=-"  # RFC 3986 pchar minus escapes
AZURE_OPERATIONS = ("chat/completions", "completions", "embeddings")

segments = st.text(SEGMENT_CHARS, min_size=1, max_size=10).filter(lambda s: s not in (".", ".."))
tails = st.lists(segments, max_size=3).map(lambda parts: "".join("/" + part for part in parts))
# Canonical API paths without `/v1`: an allow-listed path, or anything below it.
api_paths = st.builds(str.__add__, st.sampled_from(FORWARDED_API_PATHS), tails)
azure_paths = st.builds(lambda model, op: f"/openai/deployments/{model}/{op}", segments,
                        st.sampled_from(AZURE_OPERATIONS))
# Every spelling a client may use for a forwarded path: with or without `/v1`, with a trailing slash.
forwardable_paths = st.builds(
    lambda path, slash: path + slash,
    st.one_of(api_paths, api_paths.map("/v1".__add__), azure_paths),
    st.sampled_from(("", "/")),
)

# One character off an allow-listed path ("/v1/modelsX", "/v1x/models", "/chat/completion"): what a prefix
# comparison would let through.
near_miss_paths = st.builds(
    lambda prefix, api, extra, cut: (prefix + api[:-1] if cut else prefix + api + extra),
    st.sampled_from(("", "/v1", "/v1" + "x", "/v", "/openai/deployments/m")),
    st.sampled_from(FORWARDED_API_PATHS), st.text(SEGMENT_CHARS, min_size=1, max_size=3), st.booleans(),
)

# Characters no canonical segment may hold, and dot/empty segments: each makes a path non-canonical.
POISON_CHARS = ("%", "%2e", "%2F", "%5c", "\\", "\n", "\r", "\t", "\x00", " ", "?", "#", '"', "<", "{", "|",
                "^", "`", "\u00e9", "\u212a", "\u0130", "\ufeff")
POISON_SEGMENTS = ("/../", "/./", "//")

# Path pieces assembled at random: finds the interesting neighbours of real routes far more often than
# arbitrary text does.
_PATH_TOKENS = ("/", "/", "/", "v1", "models", "chat", "completions", "messages", "openai", "deployments",
                "embeddings", "responses", "key", "generate", "health", "..", ".", "%2e", "%2f", "\\", "x",
                "\u00e9", "\n", "audio", "transcriptions", "model", "info", "~", ";", "@")
jumbled_paths = st.lists(st.sampled_from(_PATH_TOKENS), max_size=12).map("".join)
any_paths = st.one_of(
    jumbled_paths,
    jumbled_paths.map("/".__add__),
    st.text(max_size=40),
    st.text(max_size=40).map("/".__add__),
    forwardable_paths,
    near_miss_paths,
    st.integers(1, 5000).map(lambda n: "/v1/models/" + "a" * n),  # very long
    st.integers(1, 2000).map(lambda n: "/.." * n),
    st.integers(1, 2000).map(lambda n: "/" * n),
)

KNOWN_METHODS = ("GET", "HEAD", "POST", "DELETE", "OPTIONS", "PUT", "PATCH", "TRACE", "CONNECT")
ascii_case_variants = st.text(string.ascii_letters, min_size=1, max_size=8)
methods = st.one_of(
    st.sampled_from(KNOWN_METHODS),
    st.sampled_from(KNOWN_METHODS).flatmap(
        lambda m: st.lists(st.booleans(), min_size=len(m), max_size=len(m)).map(
            lambda flips: "".join(c.lower() if f else c for c, f in zip(m, flips, strict=True)))),
    st.sampled_from(("po\u017ft", "\u0131nfo", "g\u0435t")),  # look-alikes: long s, dotless i, Cyrillic ie
    st.text(max_size=10),
)


# ---- JSON values (what json.loads can hand the key API) ---------------------------------------------
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),  # Python's json.loads accepts NaN and Infinity
    st.sampled_from((10**400, -(10**400), 10**12, 10**12 + 1, 2**53 + 1, 1e308, -0.0)),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=16,
)


def nested(depth: int, as_list: bool) -> Any:
    """A JSON value nested `depth` containers deep, built without recursion."""
    value: Any = {}
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value
