"""Settings of the audit service."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from audit.domain.checkpoint import decode_seed
from shared.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    service_name: str = "audit"
    # Ed25519 seed for signing checkpoints, base64 of 32 bytes. When absent, one is generated at first start and
    # kept in VAR_DIR/audit-signing-key (mode 0600), so a restart keeps the same key. Set it in production.
    audit_signing_key: SecretStr | None = None
    # How often the checkpoint job signs the log (only when it has grown since the last checkpoint).
    audit_checkpoint_interval_seconds: float = Field(default=10.0, gt=0, le=86_400)
    # A supervision order not confirmed by every obeying service within this window is flagged (and re-sent).
    audit_order_confirm_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # A sequence gap still open this long (longer than GAP_GRACE_SECONDS + RECONCILE_INTERVAL_SECONDS, so the
    # backfill was tried) is reported as unfilled.
    audit_gap_report_after_seconds: float = Field(default=30.0, ge=0, le=86_400)
    # How often the supervision and gap jobs look.
    audit_watch_interval_seconds: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("audit_signing_key")
    @classmethod
    def _seed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            decode_seed(value.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"AUDIT_SIGNING_KEY {exc}") from None
        return value
