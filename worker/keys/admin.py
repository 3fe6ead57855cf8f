"""LiteLLM's key API at the edge: /key/generate, info, update, delete, list, block, unblock, regenerate,
/spend/report and /spend/logs. Answers are plain values; the keys' objects are reached through `Rpc`.

Only the master key may call these, except GET /key/info about the caller's own key. Errors are
errors.GatewayError values (raised as errors.Refused; fields.Invalid is one), `param` naming the field.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

from keys.directory import STATUSES
from keys.fields import Invalid, parse_custom_key, parse_settings, require_object, text_list
from keys.material import generate_key, key_name, token_for_identifier, token_of
from keys.ops import DIRECTORY, MASTER, Rpc
from keys.record import KeyRecord, generate_response
from keys.report import GROUPS, spend_report
from metering.recent import MAX_RECENT, log_rows
from rules import errors, json_scan
from rules.errors import GatewayError, Refused
from storage.sql import Row

FAN_OUT = 32  # key objects asked at once by /key/list?return_full_object and /spend/report
MAX_PAGE_SIZE = 100  # LiteLLM's bound for /key/list `size`
MASTER_ALIAS = "master"  # how master-key traffic is named in spend reports
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PATH_REGENERATE = re.compile(r"^/key/([^/]+)/regenerate$")
_TAKEN = "a key with this value exists (or existed)"
ROUTES = {"/key/generate": "POST", "/key/info": "GET", "/key/update": "POST", "/key/delete": "POST",
          "/key/list": "GET", "/key/block": "POST", "/key/unblock": "POST", "/key/regenerate": "POST",
          "/spend/report": "GET", "/spend/logs": "GET"}
MAX_LOGS = 1000  # rows one /spend/logs answer holds (each key keeps recent.MAX_RECENT)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Caller:
    is_master: bool
    token: str | None = None  # token_of(the presented key) when it is not the master key
    mark_secret: str | None = None  # KEY_MARK_SECRET: generated keys carry its mark (keys.material)


def loggable_path(path: str) -> str:
    """The path as a log line may show it: `/key/{key}/regenerate` carries a raw key, never logged."""
    return "/key/{key}/regenerate" if _PATH_REGENERATE.match(path) else path


def is_admin_path(path: str) -> bool:
    return path in ROUTES or _PATH_REGENERATE.match(path) is not None


async def handle(method: str, path: str, query: str, body: bytes | None, caller: Caller, rpc: Rpc,
                 now_ms: int) -> Answer | GatewayError:
    """One admin request. `query` is the raw query string; `body` the raw request body (or None)."""
    path_key = _PATH_REGENERATE.match(path)
    expected = "POST" if path_key else ROUTES.get(path)
    try:
        if expected is None:
            return errors.not_found(path)
        if method != expected:
            return errors.method_not_allowed(method)
        params = dict(parse_qsl(query, keep_blank_values=True))
        if not caller.is_master:
            if path != "/key/info":
                return errors.admin_only("Only the master key may call this endpoint")
            return await _own_info(params, caller, rpc, now_ms)
        args = _json(body) if expected == "POST" else params
        if path_key:
            args = {**args, "key": path_key.group(1)}
        route = "/key/regenerate" if path_key else path
        if route in _ISSUING:
            return await _ISSUING[route](args, rpc, now_ms, caller.mark_secret)
        return await _HANDLERS[route](args, rpc, now_ms)
    except Refused as exc:
        return exc.error


def _json(body: bytes | None) -> dict[str, Any]:
    try:
        return require_object(json_scan.loads(body or b"null"))
    except ValueError:
        raise Invalid("body", "send a JSON object") from None


async def _record(rpc: Rpc, token: str) -> KeyRecord | None:
    found = (await rpc.call(token, "record", {}))["record"]
    return None if found is None else KeyRecord(**found)


def _token(identifier: Any, field: str = "key") -> str:
    """A key given raw or as its token; unknown forms are a 400, unknown keys a 404 (by the caller)."""
    if not isinstance(identifier, str) or (token := token_for_identifier(identifier)) is None:
        raise Invalid(field, "give the key (sk-...) or its token (sha256 hex)")
    return token


async def _live(rpc: Rpc, token: str) -> KeyRecord:
    record = await _record(rpc, token)
    if record is None or record.deleted_ms is not None:
        raise Refused(errors.key_not_found("key"))
    return record


async def _put(rpc: Rpc, record: KeyRecord, replaces: str | None = None, new: bool = False,
               field: str = "key") -> None:
    """The directory's row for `record`; `field` names the request field that chose a `new` key."""
    result = (await rpc.call(DIRECTORY, "put", {"summary": record.summary(), "replaces": replaces,
                                                  "new": new}))["result"]
    if result == "alias_taken":
        raise Invalid("key_alias", "already used by another key")
    if result == "exists":
        raise Invalid(field, _TAKEN)


async def _generate(body: dict[str, Any], rpc: Rpc, now_ms: int, mark_secret: str | None) -> Answer:
    settings = parse_settings(body)
    key = generate_key(mark_secret) if body.get("key") is None else parse_custom_key(body["key"])
    blank = KeyRecord(token_of(key), key_name(key), created_ms=now_ms, updated_ms=now_ms, budget_anchor_ms=now_ms)
    record = blank.with_settings(settings, now_ms)
    answer = Answer(200, generate_response(record, key, now_ms))  # rendered before anything is stored
    await _put(rpc, record, new=True)
    if not (await rpc.call(record.token, "create", {"record": asdict(record)}))["created"]:
        await rpc.call(DIRECTORY, "forget", {"token": record.token})  # the row just added, for a key not made
        raise Invalid("key", _TAKEN)
    return answer


async def _update(body: dict[str, Any], rpc: Rpc, now_ms: int) -> Answer:
    if body.get("key") is None and body.get("key_alias") is None:
        raise Invalid("key", "give key or key_alias")
    if body.get("key") is not None:
        token = _token(body["key"])
    else:
        token = (await rpc.call(DIRECTORY, "alias", {"alias": body["key_alias"]}))["token"]
        if token is None:
            raise Refused(errors.key_not_found("key_alias"))
    settings = parse_settings(body)
    current = await _live(rpc, token)
    await _put(rpc, current.with_settings(settings, now_ms))
    changed = (await rpc.call(token, "change", {"settings": settings}))["record"]
    if changed is None:
        raise Refused(errors.key_not_found("key"))
    return Answer(200, {"key": token, **KeyRecord(**changed).info(now_ms)})


async def _set_blocked(body: dict[str, Any], rpc: Rpc, now_ms: int, blocked: bool) -> Answer:
    token = _token(body.get("key"))
    current = await _live(rpc, token)
    changed = (await rpc.call(token, "change", {"settings": {"blocked": blocked}}))["record"]
    record = KeyRecord(**changed) if changed else current
    await _put(rpc, record)
    return Answer(200, record.full_object(now_ms))


async def _block(body: dict[str, Any], rpc: Rpc, now_ms: int) -> Answer:
    return await _set_blocked(body, rpc, now_ms, True)


async def _unblock(body: dict[str, Any], rpc: Rpc, now_ms: int) -> Answer:
    return await _set_blocked(body, rpc, now_ms, False)


async def _delete(body: dict[str, Any], rpc: Rpc, now_ms: int) -> Answer:
    by_alias = not body.get("keys")
    names = text_list("key_aliases" if by_alias else "keys", body.get("key_aliases" if by_alias else "keys") or [])
    if not names:
        raise Invalid("keys", "give keys or key_aliases")
    tokens = []
    for index, name in enumerate(names):
        field = f"{'key_aliases' if by_alias else 'keys'}[{index}]"
        token = ((await rpc.call(DIRECTORY, "alias", {"alias": name}))["token"] if by_alias
                 else _token(name, field))
        if token is None or (await _record(rpc, token)) is None:
            raise Refused(errors.key_not_found(field))
        tokens.append(token)
    for token in tokens:
        gone = (await rpc.call(token, "delete", {}))["record"]
        if gone is not None:
            await _put(rpc, KeyRecord(**gone))
    return Answer(200, {"deleted_keys": names if by_alias else tokens})


async def _info(params: dict[str, Any], rpc: Rpc, now_ms: int) -> Answer:
    token = _token(params.get("key"))
    record = await _record(rpc, token)
    if record is None:
        raise Refused(errors.key_not_found("key"))
    return Answer(200, {"key": token, "info": record.info(now_ms)})


async def _own_info(params: dict[str, Any], caller: Caller, rpc: Rpc, now_ms: int) -> Answer:
    token = caller.token if params.get("key") in (None, "") else _token(params["key"])
    record = await _record(rpc, caller.token or "")
    if record is None or record.status(now_ms) != "active":
        raise Refused(errors.invalid_api_key())
    if token != caller.token:
        raise Refused(errors.admin_only("A key may only ask about itself"))
    return Answer(200, {"key": token, "info": record.info(now_ms)})


async def _list(params: dict[str, Any], rpc: Rpc, now_ms: int) -> Answer:
    page, size = _whole(params, "page", 1, 1, 10**6), _whole(params, "size", 10, 1, MAX_PAGE_SIZE)
    filters = {name: params[name] for name in ("user_id", "team_id", "key_alias", "key_hash", "status")
               if params.get(name)}
    if filters.get("status") not in (None, *STATUSES):
        raise Invalid("status", f"one of {', '.join(STATUSES)}")
    listing = await rpc.call(DIRECTORY, "page", {"page": page, "size": size, "filters": filters})
    if params.get("return_full_object", "").lower() == "true":
        records = await _gather([_record(rpc, token) for token in listing["keys"]])
        listing = {**listing, "keys": [record.full_object(now_ms) for record in records if record is not None]}
    return Answer(200, listing)


async def _regenerate(body: dict[str, Any], rpc: Rpc, now_ms: int, mark_secret: str | None) -> Answer:
    """The old key's object hands its state out once (`take`), so of concurrent regenerations exactly one
    makes a key; the others find the old key gone (404). A step that fails after the take puts it back."""
    old = _token(body.get("key"))
    settings = parse_settings({name: value for name, value in body.items() if name != "key"})
    custom = body.get("new_key") is not None
    key = parse_custom_key(body["new_key"], "new_key") if custom else generate_key(mark_secret)
    token = token_of(key)
    if custom and await _record(rpc, token) is not None:  # the old key itself included
        raise Invalid("new_key", _TAKEN)
    state = (await rpc.call(old, "take", {}))["state"]
    if state is None:
        raise Refused(errors.key_not_found("key"))
    taken = KeyRecord(**state["record"])
    record = replace(taken, token=token, key_name=key_name(key)).with_settings(settings, now_ms)
    try:
        await _put(rpc, record, replaces=old, new=True, field="new_key")
    except Invalid:
        await rpc.call(old, "restore", {"state": state})
        raise
    if not (await rpc.call(token, "restore", {"state": {**state, "record": asdict(record)}}))["imported"]:
        await _put(rpc, taken, replaces=token)
        await rpc.call(old, "restore", {"state": state})
        raise Invalid("new_key", _TAKEN)
    return Answer(200, generate_response(record, key, now_ms))


async def _report(params: dict[str, Any], rpc: Rpc, now_ms: int) -> Answer:
    start, end, group_by = params.get("start_date", ""), params.get("end_date", ""), params.get("group_by", "key")
    for name, value in (("start_date", start), ("end_date", end)):
        if not _DATE.match(value):
            raise Invalid(name, "a date as YYYY-MM-DD")
    if group_by not in GROUPS:
        raise Invalid("group_by", "one of key, model, day")
    per_key = await _each_key(params, rpc, "ledger", {"start_day": start, "end_day": end},
                              lambda: rpc.master_ledger(start, end))
    return Answer(200, spend_report(per_key, group_by, start, end))


async def _logs(params: dict[str, Any], rpc: Rpc, now_ms: int) -> Answer:
    """The recent requests of one key (`api_key`: the key, its token, or `master`) or of every key, newest first."""
    limit = _whole(params, "limit", 50, 1, MAX_LOGS)
    each = min(limit, MAX_RECENT)
    per_key = await _each_key(params, rpc, "recent", {"limit": each}, lambda: rpc.master_recent(each))
    if params.get("api_key") not in (None, "", MASTER) and not per_key:
        raise Refused(errors.key_not_found("api_key"))
    return Answer(200, {"data": log_rows(per_key, limit)})


async def _each_key(params: dict[str, Any], rpc: Rpc, op: str, payload: dict[str, Any],
                    master_rows: Callable[[], Awaitable[list[Row]]]) -> list[tuple[dict[str, Any], list[Row]]]:
    """Each key's directory row with the rows `op` answers for it, the master key's first: every key, or the one
    `api_key` names (LiteLLM's filter: a key, its token, or `master`); none when it names no key."""
    keys = (await rpc.call(DIRECTORY, "everyone", {}))["keys"]
    only = params.get("api_key")
    if only:
        token = MASTER if only == MASTER else _token(only, "api_key")
        keys = [key for key in keys if key["token"] == token]
    answers = await _gather([rpc.call(key["token"], op, payload) for key in keys])
    per_key = [(key, answer["rows"]) for key, answer in zip(keys, answers, strict=True)]
    if not only or only == MASTER:
        per_key.insert(0, ({"token": MASTER, "key_name": None, "key_alias": MASTER_ALIAS}, await master_rows()))
    return per_key


async def _gather(calls: list[Any]) -> list[Any]:
    results: list[Any] = []
    for start in range(0, len(calls), FAN_OUT):
        results.extend(await asyncio.gather(*calls[start:start + FAN_OUT]))
    return results


def _whole(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if not str(raw).isdigit() or not low <= int(raw) <= high:
        raise Invalid(name, f"a whole number from {low} to {high}")
    return int(raw)


_HANDLERS = {"/key/update": _update, "/key/delete": _delete, "/key/info": _info,
             "/key/list": _list, "/key/block": _block, "/key/unblock": _unblock,
             "/spend/report": _report, "/spend/logs": _logs}
_ISSUING = {"/key/generate": _generate, "/key/regenerate": _regenerate}  # they make a key: need the secret
