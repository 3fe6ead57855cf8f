"""One virtual key's record: its settings, current budget period and the LiteLLM-shaped views of it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from metering.periods import iso_ms, next_reset_ms, parse_period_ms

ALL_MODELS = "all-proxy-models"  # LiteLLM's spelling of "every model" in a key's `models`


@dataclass(frozen=True)
class KeyRecord:
    token: str  # sha256 hex of the key; the raw key is never stored
    key_name: str  # display form, e.g. sk-...abcd
    created_ms: int
    updated_ms: int
    key_alias: str | None = None
    models: list[str] = field(default_factory=list)  # empty = every model
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    max_budget: float | None = None  # USD per budget period (or for the key's life without one)
    budget_duration: str | None = None
    budget_anchor_ms: int = 0  # budget periods start here and repeat every budget_duration
    expires_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    team_id: str | None = None
    blocked: bool = False
    spend: float = 0.0  # USD spent in the current budget period
    deleted_ms: int | None = None

    def with_settings(self, settings: dict[str, Any], now_ms: int) -> KeyRecord:
        """Applies validated settings (see fields.parse_settings); `duration` counts from now."""
        changes = {name: value for name, value in settings.items() if name != "duration"}
        if "duration" in settings:
            period = settings["duration"]
            changes["expires_ms"] = None if period is None else now_ms + parse_period_ms(period)
        if "budget_duration" in settings and settings["budget_duration"] != self.budget_duration:
            changes["budget_anchor_ms"] = now_ms  # a new period length starts a new period now
        return replace(self, **changes, updated_ms=now_ms)

    def budget_reset_ms(self, now_ms: int) -> int | None:
        if self.budget_duration is None:
            return None
        return next_reset_ms(self.budget_anchor_ms, parse_period_ms(self.budget_duration), now_ms)

    def rolled_over(self, now_ms: int) -> KeyRecord:
        """The record with spend reset when now is past the period the spend belongs to."""
        if self.budget_duration is None or self.spend == 0:
            return self
        period = parse_period_ms(self.budget_duration)
        current_start = next_reset_ms(self.budget_anchor_ms, period, now_ms) - period
        if self.budget_anchor_ms >= current_start:
            return self
        return replace(self, spend=0.0, budget_anchor_ms=current_start)

    def allows_model(self, model: str) -> bool:
        return not self.models or ALL_MODELS in self.models or model in self.models

    def status(self, now_ms: int) -> str:
        """LiteLLM's key status: deleted, revoked (blocked), expired or active."""
        if self.deleted_ms is not None:
            return "deleted"
        if self.blocked:
            return "revoked"
        if self.expires_ms is not None and self.expires_ms <= now_ms:
            return "expired"
        return "active"

    def info(self, now_ms: int) -> dict[str, Any]:
        """The `info` object of LiteLLM's /key/info (no token, no key)."""
        return {
            "key_name": self.key_name,
            "key_alias": self.key_alias,
            "spend": self.spend,
            "max_budget": self.max_budget,
            "budget_duration": self.budget_duration,
            "budget_reset_at": iso_ms(self.budget_reset_ms(now_ms)),
            "models": list(self.models),
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "max_parallel_requests": self.max_parallel_requests,
            "metadata": dict(self.metadata),
            "user_id": self.user_id,
            "team_id": self.team_id,
            "blocked": self.blocked,
            "expires": iso_ms(self.expires_ms),
            "created_at": iso_ms(self.created_ms),
            "updated_at": iso_ms(self.updated_ms),
            "deleted_at": iso_ms(self.deleted_ms),
            "status": self.status(now_ms),
        }

    def full_object(self, now_ms: int) -> dict[str, Any]:
        """/key/list?return_full_object=true and /key/block: the info plus its token (the hash)."""
        return {"token": self.token, **self.info(now_ms)}

    def summary(self) -> dict[str, Any]:
        """What the directory keeps to list and filter keys without asking every key object."""
        return {"token": self.token, "key_name": self.key_name, "key_alias": self.key_alias,
                "user_id": self.user_id, "team_id": self.team_id, "blocked": self.blocked,
                "expires_ms": self.expires_ms, "created_ms": self.created_ms, "deleted_ms": self.deleted_ms}


def generate_response(record: KeyRecord, key: str, now_ms: int) -> dict[str, Any]:
    """LiteLLM's GenerateKeyResponse: the raw key appears here once, and nowhere else ever."""
    info = record.info(now_ms)
    info.pop("status")
    info.pop("deleted_at")
    return {"key": key, "token": record.token, "token_id": record.token, **info}
