"""GET /spend/report: the ledger rows of every key (and of the master key) summed by key, model or day."""

from __future__ import annotations

from typing import Any

GROUPS = ("key", "model", "day")
_SUMS = ("requests", "failed_requests", "prompt_tokens", "completion_tokens", "spend")


def spend_report(per_key: list[tuple[dict[str, Any], list[dict[str, Any]]]], group_by: str,
                 start_date: str, end_date: str) -> dict[str, Any]:
    """`per_key` pairs a key's directory row (token, key_name, key_alias) with its ledger rows."""
    groups: dict[str, dict[str, Any]] = {}
    total = dict.fromkeys(_SUMS, 0)
    for key, rows in per_key:
        for row in rows:
            name = {"key": key["token"], "model": row["model"] or None, "day": row["day"]}[group_by]
            group = groups.setdefault(str(name), {**_label(group_by, name, key), **dict.fromkeys(_SUMS, 0)})
            for target in (group, total):
                target["requests"] += row["requests"]
                target["failed_requests"] += row["failed_requests"]
                target["prompt_tokens"] += row["prompt_tokens"]
                target["completion_tokens"] += row["completion_tokens"]
                target["spend"] += row["cost"]
    data = sorted(groups.values(), key=lambda group: (-group["spend"], str(group[_group_field(group_by)])))
    for group in [*data, total]:
        group["total_tokens"] = group["prompt_tokens"] + group["completion_tokens"]
    return {"start_date": start_date, "end_date": end_date, "group_by": group_by, "data": data, "total": total}


def _group_field(group_by: str) -> str:
    return {"key": "token", "model": "model", "day": "date"}[group_by]


def _label(group_by: str, name: Any, key: dict[str, Any]) -> dict[str, Any]:
    if group_by == "key":
        return {"token": key["token"], "key_name": key.get("key_name"), "key_alias": key.get("key_alias")}
    return {_group_field(group_by): name}
