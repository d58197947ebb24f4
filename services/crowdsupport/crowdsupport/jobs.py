"""Scheduled jobs of the crowd-support service: `voucher_payments` executes every voucher payout or claw-back
still owed (a provider timeout left it pending), by its idempotency key, so each is executed once."""

from __future__ import annotations

from fastapi import FastAPI

from crowdsupport import flows
from shared.context import MoneyContext
from shared.scheduler import Job


def crowdsupport_jobs(app: FastAPI) -> list[Job]:
    return [Job("voucher_payments", lambda: flows.settle_pending(MoneyContext.of(app)), every_seconds=60)]
