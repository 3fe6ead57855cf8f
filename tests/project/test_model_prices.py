"""Every model the gateway ships has a price in the LiteLLM it runs: a model priced $0 books no spend, so
no `max_budget` would ever hold for it.

The installed LiteLLM loads the shipped model lists as its proxy does (a Router over them: config
`model_info` registered in its cost map, its bundled price map and nothing fetched, as container/start.sh
runs it) and prices each model name both ways the gateway reads a cost: LiteLLM's own figure for a
request (`x-litellm-response-cost`, here for a mocked call) and the per-token prices its /v1/model/info
answers (metering.pricing, for streams). Run in a subprocess: loading LiteLLM changes its global cost map.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [ROOT / "litellm_config.yaml", ROOT / "container" / "demo_models.yaml"]
# The offline demo models (make dev, DEMO_MODELS=true): LiteLLM answers them itself, nothing is billed.
DELIBERATELY_FREE = {"demo", "demo-claude"}

PROBE = r"""
import copy, json, sys, yaml
import litellm
from litellm.proxy.proxy_server import _enrich_model_info_with_litellm_data

litellm.suppress_debug_info = True
model_list = [entry for path in sys.argv[1:] for entry in yaml.safe_load(open(path))["model_list"]]
router = litellm.Router(model_list=model_list)
found = {}
for deployment in router.get_model_list():
    name = deployment["model_name"]
    shown = _enrich_model_info_with_litellm_data(copy.deepcopy(deployment), llm_router=router)["model_info"]
    mode = shown.get("mode") or "chat"
    if mode == "embedding":
        answer = router.embedding(model=name, input=["price me"], mock_response=[0.1, 0.2])
    elif mode == "completion":
        answer = router.text_completion(model=name, prompt="price me", mock_response="priced")
    else:
        answer = router.completion(model=name, messages=[{"role": "user", "content": "price me"}],
                                   mock_response="priced")
    found[name] = {"mode": mode, "request_cost": answer._hidden_params.get("response_cost"),
                   "input_cost_per_token": shown.get("input_cost_per_token"),
                   "output_cost_per_token": shown.get("output_cost_per_token")}
print(json.dumps(found))
"""


def shipped_names() -> set[str]:
    return {entry["model_name"] for path in SHIPPED for entry in yaml.safe_load(path.read_text())["model_list"]}


@pytest.fixture(scope="module")
def prices() -> dict[str, dict]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "sk-unused",
           "ANTHROPIC_API_KEY": "sk-ant-unused", "LITELLM_LOG": "ERROR"}
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, SHIPPED)], env=env, capture_output=True,
                          text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_shipped_model_was_priced(prices: dict[str, dict]) -> None:
    assert set(prices) == shipped_names()
    assert shipped_names() >= DELIBERATELY_FREE, "a model named free here is no longer shipped"


def test_every_model_but_the_demo_ones_costs_something(prices: dict[str, dict]) -> None:
    unpriced = {}
    for name, price in prices.items():
        if name in DELIBERATELY_FREE:
            continue
        # Embeddings have no output tokens, so no output price.
        needed = ["request_cost", "input_cost_per_token"] + ([] if price["mode"] == "embedding"
                                                             else ["output_cost_per_token"])
        missing = [field for field in needed if not (price[field] or 0) > 0]
        if missing:
            unpriced[name] = missing
    assert unpriced == {}, f"priced $0 by the LiteLLM the gateway runs: {unpriced}"


def test_the_demo_models_are_free(prices: dict[str, dict]) -> None:
    for name in DELIBERATELY_FREE:
        assert not prices[name]["request_cost"], prices[name]
