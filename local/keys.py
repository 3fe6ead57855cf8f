"""Virtual keys from the command line: a thin client of the gateway's LiteLLM-compatible key API.

    python3 local/keys.py generate --alias alice --models gpt-4o-mini --rpm 60 --budget 5 --budget-duration 30d
    python3 local/keys.py info sk-...          # or the key's token (sha256 hex)
    python3 local/keys.py list
    python3 local/keys.py block sk-...         # unblock, delete and regenerate take a key the same way
    python3 local/keys.py spend --by model     # key (default), model or day; --start/--end YYYY-MM-DD

GATEWAY_URL (default http://127.0.0.1:8787) and LITELLM_MASTER_KEY (default sk-1234, `make dev`'s) say where
and as whom. Prints the gateway's JSON answer; exits 1 when the gateway refused, 2 when it cannot be
reached. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

LIMITS = {"alias": "key_alias", "rpm": "rpm_limit", "tpm": "tpm_limit", "parallel": "max_parallel_requests",
          "budget": "max_budget", "budget_duration": "budget_duration", "duration": "duration",
          "user": "user_id", "team": "team_id"}


def call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    base = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8787").rstrip("/")
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {os.environ.get('LITELLM_MASTER_KEY', 'sk-1234')}",
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    chosen = {field: getattr(args, name) for name, field in LIMITS.items() if getattr(args, name) is not None}
    if args.models:
        chosen["models"] = [model.strip() for model in args.models.split(",") if model.strip()]
    return chosen


def run(args: argparse.Namespace) -> tuple[int, Any]:
    if args.command == "generate":
        return call("POST", "/key/generate", settings(args))
    if args.command == "update":
        return call("POST", "/key/update", {"key": args.key, **settings(args)})
    if args.command == "info":
        return call("GET", "/key/info?" + urllib.parse.urlencode({"key": args.key}))
    if args.command == "list":
        return call("GET", "/key/list?size=100&return_full_object=true")
    if args.command == "delete":
        return call("POST", "/key/delete", {"keys": [args.key]})
    if args.command in ("block", "unblock", "regenerate"):
        return call("POST", f"/key/{args.command}", {"key": args.key})
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    query = {"start_date": args.start or today[:8] + "01", "end_date": args.end or today, "group_by": args.by}
    return call("GET", "/spend/report?" + urllib.parse.urlencode(query))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description="Manage the gateway's virtual keys (see README: Keys, limits and usage).")
    commands = top.add_subparsers(dest="command", required=True)
    for name in ("generate", "update"):
        command = commands.add_parser(name)
        if name == "update":
            command.add_argument("key")
        command.add_argument("--models", help="comma-separated model names (default: every model)")
        for flag, kind in (("alias", str), ("rpm", int), ("tpm", int), ("parallel", int), ("budget", float),
                           ("budget-duration", str), ("duration", str), ("user", str), ("team", str)):
            command.add_argument(f"--{flag}", type=kind)
    for name in ("info", "delete", "block", "unblock", "regenerate"):
        commands.add_parser(name).add_argument("key", help="the key (sk-...) or its token")
    commands.add_parser("list")
    spend = commands.add_parser("spend")
    spend.add_argument("--by", choices=("key", "model", "day"), default="key")
    spend.add_argument("--start", help="YYYY-MM-DD (default: the first of this month, UTC)")
    spend.add_argument("--end", help="YYYY-MM-DD (default: today, UTC)")
    return top


def main() -> int:
    try:
        status, body = run(parser().parse_args())
    except urllib.error.URLError as failure:
        print(f"keys.py: cannot reach the gateway: {failure.reason}", file=sys.stderr)
        return 2
    print(json.dumps(body, indent=2))
    return 0 if status < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
