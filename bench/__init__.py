"""`make bench`: the gateway's cost next to LiteLLM direct and the provider direct, measured in one run."""
