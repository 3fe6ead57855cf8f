"""What the edge decides about a request before any body byte is read or any object is asked (pure).

edge.forward is its Pyodide shell: it reads the facts off the JS request, asks these in order and does what they
say. Who asks comes first (a key that cannot be live gets its 401 before anything else), then how its body is
framed, then which instance serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from keys.material import Mark, mark_of
from rules import errors
from rules.auth import key_matches
from rules.body_limit import Declared, judge_declared_length
from rules.content_types import body_type_accepted, is_json
from rules.instances import pick_instance
from rules.routing import upstream_path


@dataclass(frozen=True)
class Caller:
    key: str | None
    is_master: bool


def caller_of(key: str | None, master_key: str, keys_bound: bool, mark_secret: str | None,
              containers_bound: bool) -> Caller | errors.GatewayError:
    """The master key, or a key worth asking its object about: a virtual key needs the key bindings, and one in
    the gateway's format with a wrong mark is refused here, before any Durable Object is asked."""
    is_master = key_matches(key, master_key)
    if not is_master and (not keys_bound or key is None or mark_of(key, mark_secret) is Mark.FORGED):
        return errors.invalid_api_key()
    if not containers_bound:
        return errors.container_unbound()
    return Caller(key, is_master)


class Body(Enum):
    NONE = "none"  # nothing to read (a GET, an empty POST)
    STREAM = "stream"  # forwarded as it comes, never read (an upload from a caller without a model list)
    UPLOAD = "upload"  # an upload whose head is read for its model fields (a key with a model list)
    JSON = "json"  # read once, bounded, judged by the request policy, forwarded as the same bytes


@dataclass(frozen=True)
class Framing:
    body: Body
    length: int | None = None  # the declared Content-Length, when there is one within the limit


def framing(method: str, path: str, content_length: str | None, content_type: str | None, has_body: bool,
            max_request_bytes: int, pin: bool) -> Framing | errors.GatewayError:
    """How the request's body is to be handled, or why it is refused from its headers alone. `pin`: the caller
    is a key with a model list, whose upload must name its model before its file."""
    declared = judge_declared_length(content_length, max_request_bytes)
    if declared is Declared.TOO_LARGE:
        return errors.request_too_large(max_request_bytes)
    if declared is Declared.INVALID:
        return errors.invalid_content_length()
    has_body = has_body and content_length != "0"
    if not body_type_accepted(method, upstream_path(path), content_type, has_body):
        return errors.unsupported_media_type("application/json")
    if not (method == "POST" and has_body):
        return Framing(Body.NONE)
    if not is_json(content_type):  # an upload (rules.content_types: multipart, for audio transcriptions)
        return Framing(Body.UPLOAD if pin else Body.STREAM)
    return Framing(Body.JSON, int(content_length) if declared is Declared.WITHIN else None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Destination:
    instance: str  # the container instance asked first
    warm_first: bool  # a ready sibling may serve while it boots (rules.instances.warm_first)


def destination(instances: int, affinity: str | None, resendable: bool) -> Destination:
    """Sticky for an affinity key (its prompt caches stay warm), else spread; a sibling may serve only a request
    that can be sent twice (a streamed upload goes once) and that asked for no affinity."""
    return Destination(pick_instance(instances, affinity), instances > 1 and affinity is None and resendable)
