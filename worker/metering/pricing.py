"""What a request cost: LiteLLM's own figure when it sends one, else tokens x the model's prices.

Prices come from LiteLLM's `/v1/model/info` (the `model_info` of each `model_name`), which the Durable
Object in front of the container asks with the container key and caches (see PRICES_TTL_MS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from metering.usage import Usage

COST_HEADER = "x-litellm-response-cost"
MODEL_INFO_PATH = "/v1/model/info"
PRICES_TTL_MS = 300_000  # a price change in litellm_config.yaml needs a redeploy anyway; 5 min is plenty


@dataclass(frozen=True)
class Price:
    input_per_token: float = 0.0
    output_per_token: float = 0.0


def prices_from_model_info(body: Any) -> dict[str, Price]:
    """`{"data": [{"model_name", "model_info": {"input_cost_per_token", "output_cost_per_token"}}]}`."""
    prices: dict[str, Price] = {}
    rows = body.get("data") if isinstance(body, dict) else None
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("model_name"), str):
            continue
        info = row.get("model_info") if isinstance(row.get("model_info"), dict) else {}
        price = Price(_rate(info.get("input_cost_per_token")), _rate(info.get("output_cost_per_token")))
        prices.setdefault(row["model_name"], price)  # a group's first deployment prices the group
    return prices


def unpriced(prices: dict[str, Price]) -> list[str]:
    """The models LiteLLM would serve for free: budgets never bind on them, so the operator must see them."""
    return sorted(name for name, price in prices.items() if price == Price())


def request_cost(header_value: str | None, model: str | None, usage: Usage, prices: dict[str, Price]) -> float:
    from_header = _rate(header_value)
    if header_value is not None and (from_header > 0 or usage.total_tokens == 0):
        return from_header
    price = prices.get(model or "")
    if price is None:
        return 0.0
    return usage.prompt_tokens * price.input_per_token + usage.completion_tokens * price.output_per_token


def _rate(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0
