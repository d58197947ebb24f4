"""Audit subscribes to every publishing service and appends whatever arrives (a catch-all)."""

from __future__ import annotations

from audit.handlers import append_to_log
from shared.consumer import Subscriptions
from shared.settings import SERVICES

SUBSCRIPTIONS = Subscriptions(
    sources=tuple(service for service in SERVICES if service != "audit"),
    catch_all=append_to_log,
)
