"""CORS: total on any Origin / Access-Control-Request-Headers; never reflects an origin the operator did not list."""

from __future__ import annotations

import re
import string

from hypothesis import given
from hypothesis import strategies as st
from prop_strategies import quick

from rules.cors import CorsPolicy, allowed_request_header, allowed_request_headers
from rules.routing import FORWARDED_METHODS

hosts = st.text(string.ascii_lowercase + string.digits + ".-", min_size=1, max_size=15)
ports = st.one_of(st.just(""), st.integers(0, 99999).map(lambda p: f":{p}"),
                  st.sampled_from((":", ":123456", ":\u0661\u0662", ":8080\n", ":8x")))
origins = st.one_of(
    st.builds(lambda scheme, host, port, end: f"{scheme}://{host}{port}{end}",
              st.sampled_from(("http", "https", "HTTPS", "ftp", "javascript")), hosts, ports,
              st.sampled_from(("", "/", "//", " ", "\r\nx: y", "/path"))),
    st.text(max_size=25),
    st.sampled_from(("*", "null", "", " ", ",")),
)
well_formed = st.builds(lambda scheme, host, port: f"{scheme}://{host}{port}", st.sampled_from(("http", "https")),
                        hosts, st.one_of(st.just(""), st.integers(0, 99999).map(lambda p: f":{p}")))
configs = st.one_of(st.none(), st.text(max_size=40), st.lists(origins, max_size=4).map(", ".join),
                    st.lists(st.one_of(well_formed, well_formed, origins, st.just("*")), min_size=1, max_size=4)
                    .map(", ".join))
header_names = st.one_of(
    st.sampled_from(("Authorization", "content-type", "X-Stainless-Helper-Method", "anthropic-beta", "cookie",
                     "openai-project", "x-api-key", "x-evil\r\nset-cookie", "x-stainless-", "\u212a", "")),
    st.text(string.ascii_letters + string.digits + "-_ ", max_size=20),
    st.text(max_size=12),
)
requested = st.one_of(st.none(), st.lists(header_names, max_size=6).map(",".join), st.text(max_size=40))
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")  # ASCII only: a header value is a ByteString
_TOKEN = re.compile(r"[a-z0-9-]{1,100}")


# Near misses of a listed origin: what a prefix, suffix or case-folding comparison would let through.
_NEAR_MISSES = (".evil.com", "x", ":1", "/", "%00", "\n", " ")


@st.composite
def _origin_near(draw: st.DrawFn, config: str | None) -> str | None:
    items = sorted(CorsPolicy.parse(config).origins) or [i.strip() for i in (config or "").split(",") if i.strip()]
    if not items or draw(st.booleans()):
        return draw(st.one_of(st.none(), origins))
    item = draw(st.sampled_from(items)).rstrip("/")
    return draw(st.sampled_from((item, item + draw(st.sampled_from(_NEAR_MISSES)), item[:-1], item.upper())))


@quick(180)
@given(configs.flatmap(lambda c: st.tuples(st.just(c), _origin_near(c))), requested)
def test_cors_never_raises_and_never_reflects_an_unlisted_origin(config_and_origin: tuple[str | None, str | None],
                                                                 asked: str | None) -> None:
    config, origin = config_and_origin
    policy = CorsPolicy.parse(config)
    listed = {item.strip().rstrip("/") for item in (config or "").split(",")}
    for headers in (policy.response_headers(origin), policy.preflight_headers(origin, asked)):
        for value in headers.values():
            assert not set(value) & {"\r", "\n", "\x00"}
        if headers:
            allowed = headers["access-control-allow-origin"]
            assert (allowed == "*" and "*" in listed) or (allowed == origin and origin in listed)
            assert allowed == "*" or _ORIGIN.fullmatch(allowed)
    assert bool(policy.response_headers(origin)) == policy.allows(origin) == bool(
        policy.preflight_headers(origin, asked))


# Always one edge of the origin grammar: non-ASCII digits, a newline before a trailing slash, odd ports.
tricky_origins = st.builds(lambda scheme, host, port, end: f"{scheme}://{host}{port}{end}",
                           st.sampled_from(("http", "https")), hosts,
                           st.sampled_from((":1\u0662", ":\u0661", ":8080\n", ":", ":123456", ":80", "")),
                           st.sampled_from(("", "/", "\n/", "/\n", " ", "\t")))


@quick(150)
@given(st.lists(st.one_of(origins, tricky_origins), max_size=4), st.data())
def test_every_listed_well_formed_origin_is_allowed(items: list[str], data: st.DataObject) -> None:
    policy = CorsPolicy.parse(",".join(items))
    for origin in policy.origins:
        assert _ORIGIN.fullmatch(origin)
        assert policy.response_headers(origin)["access-control-allow-origin"] in (origin, "*")
    wanted = data.draw(st.sampled_from(items)) if items else ""
    cleaned = wanted.strip().rstrip("/")
    if _ORIGIN.fullmatch(cleaned) and "," not in wanted:
        assert policy.allows(cleaned)


@quick(180)
@given(requested)
def test_allowed_headers_are_an_allowed_subset_of_those_asked(asked: str | None) -> None:
    answer = allowed_request_headers(asked)
    names = answer.split(", ") if answer else []
    assert all(_TOKEN.fullmatch(name) and allowed_request_header(name) for name in names)
    if asked and asked.strip():
        wanted = [n.strip().lower() for n in asked.split(",") if n.strip()]
        assert names == [n for n in wanted if allowed_request_header(n)]
    else:
        assert {"authorization", "x-api-key", "api-key", "content-type"} <= set(names)


@quick(150)
@given(st.one_of(st.sampled_from(("authorization", "x-api-key", "api-key", "content-type", "x-stainless-os",
                                  "anthropic-version", "openai-beta", "traceparent", "cookie")),
                 st.text(string.ascii_letters + string.digits + "-", max_size=30)),
       st.lists(st.booleans(), max_size=30))
def test_header_names_are_case_insensitive(name: str, flips: list[bool]) -> None:
    spelled = "".join(c.upper() if f else c.lower() for c, f in zip(name, flips + [False] * len(name), strict=False))
    assert allowed_request_header(spelled) == allowed_request_header(name)


@quick(100)
@given(st.sampled_from(("x-stainless-", "anthropic-", "openai-")), st.text(string.ascii_lowercase + "-", max_size=80))
def test_whole_sdk_header_families_are_allowed(family: str, rest: str) -> None:
    assert allowed_request_header(family + rest)


@quick(50)
@given(st.lists(origins, min_size=1, max_size=3))
def test_preflight_allows_every_method_routing_forwards(items: list[str]) -> None:
    policy = CorsPolicy.parse(",".join(items) + ",*")
    methods = set(policy.preflight_headers("https://a.example")["access-control-allow-methods"].split(", "))
    assert FORWARDED_METHODS | {"OPTIONS"} <= methods
