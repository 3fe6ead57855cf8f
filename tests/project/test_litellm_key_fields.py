"""Every field of the installed LiteLLM's key requests is handled one way or another, so a LiteLLM upgrade
that adds a restriction cannot have it accepted and silently dropped: each field is a setting the gateway
enforces, one it refuses unless left at its default (keys.fields.UNENFORCED), or harmless to drop (below).
And what LiteLLM's clients send when they leave every field alone is accepted."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

from keys.fields import SETTINGS, UNENFORCED, parse_settings

HANDLED = {"key", "new_key"}  # the key itself: generate's own key, regenerate's new one
# Verdict and dropped: none restricts what a key may do, so nothing is promised that does not hold.
HARMLESS = {
    "send_invite_email": "an e-mail to the key's user",
    "enable_prompt_caching": "LiteLLM adding cache_control to requests: a saving, not a limit",
    "disable_global_guardrails": "this gateway runs no guardrails to disable",
    "new_master_key": "rotates LiteLLM's master key; here the master key is the LITELLM_MASTER_KEY secret",
    "logging": "per-key logging callbacks (in metadata)",
    "secret_manager_settings": "where LiteLLM reads provider keys for the key (in metadata)",
    "team_member_key_duration": "a team's default for its members' keys (in metadata)",
}
REQUESTS = ("GenerateKeyRequest", "UpdateKeyRequest", "RegenerateKeyRequest")


@pytest.fixture(scope="module")
def litellm_types() -> tuple[ModuleType, ModuleType]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import: no price-map download
    return (importlib.import_module("litellm.types.proxy.management_endpoints.key_requests"),
            importlib.import_module("litellm.proxy._types"))


def test_every_key_field_is_enforced_refused_or_harmless(litellm_types: tuple[ModuleType, ModuleType]) -> None:
    requests, proxy_types = litellm_types
    fields = {name for request in REQUESTS for name in getattr(requests, request).model_fields}
    known = set(SETTINGS) | set(UNENFORCED) | HANDLED | set(HARMLESS)
    assert sorted(fields - known) == [], "classify these LiteLLM key fields in keys.fields or HARMLESS"
    # LiteLLM moves these from the request into the key's metadata, and reads them there.
    in_metadata = set(proxy_types.LiteLLM_ManagementEndpoint_MetadataFields) | set(
        proxy_types.LiteLLM_ManagementEndpoint_MetadataFields_Premium)
    assert sorted(in_metadata - set(UNENFORCED) - set(HARMLESS)) == []
    assert sorted(set(HARMLESS) & set(UNENFORCED)) == []


@pytest.mark.parametrize("request_name", REQUESTS)
def test_litellms_defaults_are_accepted(litellm_types: tuple[ModuleType, ModuleType], request_name: str) -> None:
    """A client that sends the whole request model with nothing set (LiteLLM's CLI sends part of it)."""
    request = getattr(litellm_types[0], request_name)
    body = request(key="sk-some-key-0000000000").model_dump(mode="json")
    assert set(parse_settings(body)) <= set(SETTINGS)
