"""Test doubles: the fake LLM provider and the LiteLLM config that points at it."""
