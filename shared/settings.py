"""Settings common to every service, read from the environment and validated at start (fail fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PORTS: dict[str, int] = {
    "gateway": 8000,
    "crowdsourcing": 8001,
    "crowdfunding": 8002,
    "crowdsupport": 8003,
    "makerspace": 8004,
    "credit": 8005,
    "audit": 8006,
}
SERVICES: tuple[str, ...] = tuple(SERVICE_PORTS)


def default_service_urls() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{port}" for name, port in SERVICE_PORTS.items()}


class ServiceSettings(BaseSettings):
    """One instance per process, built in the app factory; never at import time."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    service_name: str
    database_url: str = ""
    # How SQLite is driven (PostgreSQL ignores it): "inloop" runs its calls in the event loop's thread,
    # "thread" is aiosqlite's helper thread (shared.sqlite_inloop says why the first is the default).
    sqlite_driver: Literal["inloop", "thread"] = "inloop"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    jwt_secret: str = Field(min_length=32)
    jwt_issuer: str = "sizhong-gateway"
    service_urls: dict[str, str] = Field(default_factory=default_service_urls)
    topic_partitions: int = Field(default=3, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    relay_max_backoff_seconds: float = Field(default=5.0, gt=0, le=300)
    consumer_max_attempts: int = Field(default=3, ge=1, le=100)
    consumer_retry_backoff_seconds: float = Field(default=0.2, ge=0, le=60)
    # The dev broker completes a group join only after about this long (and a departed member's
    # session must expire first), so it bounds how fast a restarted consumer gets its partitions.
    consumer_session_timeout_ms: int = Field(default=6000, ge=1000, le=300_000)
    gap_grace_seconds: float = Field(default=1.0, ge=0, le=3600)
    reconcile_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    log_level: str = "INFO"
    # "adjustable" adds admin-only /testing routes that move this service's clock (tests, demos only).
    clock_mode: Literal["system", "adjustable"] = "system"
    payment_provider: Literal["sandbox"] = "sandbox"
    var_dir: Path = Path("var")
    # Fault injection for the crash tests: kill this process after the handler's commit and
    # before the offset commit, once, for an event of this type. Empty in every real deployment.
    fault_kill_after_commit_type: str = ""

    @field_validator("service_name")
    @classmethod
    def _known_service(cls, value: str) -> str:
        if value not in SERVICE_PORTS:
            raise ValueError(f"unknown service {value!r}; expected one of {', '.join(SERVICES)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return value

    @property
    def effective_database_url(self) -> str:
        """SQLite file under var/ unless DATABASE_URL names another database."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.var_dir / (self.service_name + '.db')}"

    @property
    def topic(self) -> str:
        return topic_for(self.service_name)


def topic_for(service: str) -> str:
    return f"sizhong.{service}.events"


def dlq_for(topic: str) -> str:
    return f"{topic}.dlq"
