"""worker/edge/litellm_params.py is LiteLLM's own list, not a guess: compared with the LiteLLM the image installs."""

from __future__ import annotations

import textwrap

from edge.litellm_params import LITELLM_OWN_PARAMS


def test_denied_names_match_the_installed_litellm() -> None:
    from litellm.proxy.auth.auth_utils import _BANNED_REQUEST_BODY_PARAMS
    from litellm.types.utils import all_litellm_params

    expected = set(all_litellm_params) | set(_BANNED_REQUEST_BODY_PARAMS)
    listing = textwrap.fill(", ".join(repr(n) for n in sorted(expected)), 114, break_on_hyphens=False)
    assert set(LITELLM_OWN_PARAMS) == expected, f"regenerate worker/edge/litellm_params.py with:\n{listing}"
