"""Crowd-support helpers for the end-to-end tests (real HTTP against the platform's service): a programme with
its agency and one whitelisted provider, fresh principals, and a bookable slot."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.platform import mint


@dataclass
class Programme:
    client: httpx.AsyncClient
    id: str
    agency: dict[str, str]
    provider_id: str
    provider: dict[str, str]

    @classmethod
    async def create(cls, client: httpx.AsyncClient, budget_fen: int, **extra: Any) -> Programme:
        agency = mint(f"agency-{secrets.token_hex(4)}", "agency")
        provider_id = f"prov-{secrets.token_hex(4)}"
        created = await client.post("/programmes", headers=agency, json={
            "name": "Haidian innovation vouchers", "region_code": "110108", "budget_fen": budget_fen,
            "permitted_uses": ["testing", "design"], "providers": [provider_id], **extra})
        assert created.status_code == 201, created.text
        return cls(client, created.json()["id"], agency, provider_id, mint(provider_id, "provider"))

    async def voucher(self, enterprise: dict[str, str], face_fen: int = 70_000) -> dict[str, Any]:
        issued = await self.client.post(f"/programmes/{self.id}/vouchers", headers=enterprise,
                                        json={"face_fen": face_fen, "use": "testing"})
        assert issued.status_code == 201, issued.text
        return dict(issued.json())

    async def redeem(self, voucher_id: str, contract_fen: int = 100_000) -> httpx.Response:
        return await self.client.post(f"/vouchers/{voucher_id}/redemption", headers=self.provider, json={
            "contract_no": "HT-2026-001", "contract_amount_fen": contract_fen, "invoice_no": "FP-001",
            "payment_proof": "bank transfer 6222-xxxx"})

    async def ledger(self) -> dict[str, Any]:
        response = await self.client.get(f"/programmes/{self.id}/ledger", headers=self.agency)
        assert response.status_code == 200, response.text
        return dict(response.json())


def enterprise() -> dict[str, str]:
    return mint(f"ent-{secrets.token_hex(5)}", "enterprise")


def who(role: str) -> tuple[str, dict[str, str]]:
    subject = f"{role}-{secrets.token_hex(4)}"
    return subject, mint(subject, role)


def next_slot(days: int, hour: int = 10, length: int = 1) -> dict[str, str]:
    """A slot `days` ahead (UTC date) at `hour`:00 Shanghai time (the tests' mentors are available all day)."""
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    start = datetime(day.year, day.month, day.day, hour - 8, 0, tzinfo=UTC)
    return {"start": start.isoformat(), "end": (start + timedelta(hours=length)).isoformat()}
