"""Crowdfunding routes, split by aggregate: campaigns (lifecycle and review), pledges, equity, money (ledger,
payouts, provider callback), CSV exports."""

from __future__ import annotations

from fastapi import APIRouter

from crowdfunding.api import campaigns, equity, exports, money, pledges


def routers() -> list[APIRouter]:
    # exports first: `/pledges/export.csv` before `/pledges/{pledge_id}`
    return [exports.router, campaigns.router, pledges.router, equity.router, money.router]
