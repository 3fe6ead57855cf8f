"""Warm-sibling routing (rules.instances.warm_first) with fake instances: who serves, and who is asked."""

from __future__ import annotations

import asyncio

import pytest

from rules.instances import instance_names, warm_first


def route(ready: set[str], count: int, start: str) -> tuple[str, list[tuple[str, str | None]]]:
    asked: list[tuple[str, str | None]] = []

    async def send(name: str, warm_only: str | None = None) -> dict:
        asked.append((name, warm_only))
        cold = warm_only is not None and name not in ready
        return {"name": name, "cold": cold}

    served, answer = asyncio.run(warm_first(send, lambda response: response["cold"], start, count))
    assert answer["name"] == served and not answer["cold"]
    return served, asked


def test_a_warm_instance_is_one_call() -> None:
    assert route({"litellm-0"}, 3, "litellm-0") == ("litellm-0", [("litellm-0", "boot")])


def test_a_cold_instance_starts_booting_and_a_ready_sibling_serves() -> None:
    served, asked = route({"litellm-2"}, 3, "litellm-0")
    assert served == "litellm-2"
    assert asked[0] == ("litellm-0", "boot") and ("litellm-2", "peek") in asked
    assert all(mode == "peek" for name, mode in asked[1:])  # siblings are only asked, never booted


def test_with_none_ready_it_waits_for_its_own_boot() -> None:
    served, asked = route(set(), 3, "litellm-1")
    assert served == "litellm-1" and asked[-1] == ("litellm-1", None)
    assert {name for name, _ in asked} == set(instance_names(3))  # every sibling was asked once


@pytest.mark.parametrize("count", [1, 2, 5])
def test_every_sibling_is_asked_at_most_once(count: int) -> None:
    _, asked = route(set(), count, "litellm-0")
    peeks = [name for name, mode in asked if mode == "peek"]
    assert len(peeks) == len(set(peeks)) == count - 1
