"""The one model a request is for, decided at the edge from every place LiteLLM 1.108.7 reads one (pure).

LiteLLM does not take a request's model from its body alone (docs/security.md, "One model per request"):
  - the path of an Azure deployment route (`/openai/deployments/{model}/…`) wins over the body, and so does
    `?model=` on chat, completions, embeddings and image generation: both are the handlers' `model` parameter;
  - the body's `model`, or an upload's `model` form fields (the last wins; `model[]` makes a list);
  - a stored response: `GET`/`DELETE /v1/responses/{id}`, its `input_items` and `cancel` go to the deployment
    its id names, and `previous_response_id` continues a response held by the provider;
  - `GET /v1/models/{id}` answers about the model in its path.
`x-litellm-*` request headers (`x-litellm-model`, …) never reach it (header_policy), and overrides in LiteLLM's
own config (`general_settings.completion_model`, …) are the operator's to leave unset.

A key with a model list is served only by a model in it: the edge refuses its request when the places
disagree, when they name no single model it can check, or when the model is not in the list, and asks LiteLLM
not to fall back to another model (request_policy.Caps). Other callers are never refused here; the model
LiteLLM serves is still what their request is booked under.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

from keys.client import model_allowed
from keys.record import ALL_MODELS
from rules import errors
from rules.routing import model_in_path, upstream_path

# The handlers whose `model` parameter is a query parameter (FastAPI reads the last `?model=`).
QUERY_MODEL_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                               "/v1/images/generations"})
MODELS_PATH = "/v1/models"  # the listing (filtered per key by key_gate) and, below it, one model's entry
RESPONSES_PATH = "/v1/responses"
RESPONSE_OPERATIONS = frozenset({"compact", "input_tokens"})  # /v1/responses/{these}: not a stored response


@dataclass(frozen=True)
class Places:
    """Where one request names its model, as LiteLLM reads them."""

    path: str | None = None  # an Azure deployment route's model, or the id of `/v1/models/{id}`
    query: tuple[str, ...] = ()  # every `model` in the query string
    query_served: bool = False  # LiteLLM serves the query's model (elsewhere it only has to agree)
    body: tuple[Any, ...] = ()  # the body's `model` as sent, or each model form field of an upload
    stored: Any = None  # the stored response the request addresses (an id in the path, previous_response_id)
    served: bool = True  # a model serves the request (not: the listing, or a method the endpoint lacks)
    lookup: bool = False  # `GET /v1/models/{id}`: a model outside a key's list does not exist for it

    def picked(self) -> Any:
        """The model LiteLLM serves: the path's or the query's (the last one) before the body's (the last one)."""
        query = self.query[-1] if self.query_served and self.query else None
        return self.path or query or (self.body[-1] if self.body else None)


@dataclass(frozen=True)
class Verdict:
    model: str | None  # what the request is booked under (None: it names none)
    refusal: errors.GatewayError | None = None


def places(method: str, path: str, query: str, body: tuple[Any, ...] = (), continues: Any = None) -> Places:
    """The places of a request to a forwarded `path`; `body` holds its model(s), `continues` its
    `previous_response_id` (both as sent)."""
    target = upstream_path(path)
    in_path, stored, lookup = model_in_path(path), continues, False
    if target.startswith(MODELS_PATH + "/"):
        in_path, lookup = target[len(MODELS_PATH) + 1:], method == "GET"
    elif target.startswith(RESPONSES_PATH + "/"):
        addressed = target[len(RESPONSES_PATH) + 1:].split("/")[0]
        stored = stored if addressed in RESPONSE_OPERATIONS else addressed
    # Starlette's reading of a query string (blank values kept, percent-escapes and `+` decoded).
    in_query = tuple(value for name, value in parse_qsl(query, keep_blank_values=True) if name == "model")
    served = method == "POST" or in_path is not None or stored is not None
    return Places(in_path, in_query, target in QUERY_MODEL_PATHS, body, stored, served, lookup)


def pinned(models: list[str] | None) -> bool:
    """Whether a key's `models` (None: the master key) restrict it: LiteLLM's empty list and its
    `all-proxy-models` mean every model."""
    return bool(models) and ALL_MODELS not in models  # type: ignore[operator]


def decide(at: Places, models: list[str] | None, stored_model: str | None = None) -> Verdict:
    """The model of a request from a virtual key with `models`, or from the master key (`models` None).
    `stored_model`: for a virtual key's request addressing a stored response, the model it was created on when
    the key's object says the key created it (None: another key's, or none)."""
    if models is not None and at.stored is not None:
        if stored_model is None:  # never says whether the id exists: it could be another key's
            return Verdict(None, errors.stored_response_not_found())
        # LiteLLM serves a stored response's deployment, whatever the body names: it counts as the path's model.
        at = replace(at, path=at.path or stored_model)
    picked = at.picked()
    model = picked if isinstance(picked, str) and picked else None
    booked = model if at.served and not at.lookup else None  # a lookup, or a method LiteLLM lacks: no model served
    if not pinned(models) or not at.served:
        return Verdict(booked)
    named: list[Any] = []
    for value in (at.path, *at.query, *at.body):
        if value not in (None, "") and value not in named:
            named.append(value)
    if len(named) > 1:
        return Verdict(booked, errors.model_conflict(len(named)))
    if model is None:
        return Verdict(None, errors.model_required("name one model as a string"))
    if not model_allowed(models, model):  # type: ignore[arg-type]
        return Verdict(booked, errors.not_found(f"{MODELS_PATH}/{model}") if at.lookup
                        else errors.model_not_allowed(model))
    return Verdict(booked)
