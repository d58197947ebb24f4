"""REAL_NAME_VERIFIER chooses the real-name verifier: the sandbox by default (named as such), any registered one
by its name, and an unknown name stops the gateway before it starts."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from gateway import verification
from gateway.main import create_app, install_verifier
from gateway.settings import GatewaySettings
from gateway.verification import SandboxRealNameVerifier, VerificationResult, choose_verifier
from pydantic import ValidationError

SECRETS = {"jwt_secret": "j" * 32, "pii_key": "p" * 32}


class LicensedVerifier:
    """Stands in for a licensed provider's adapter."""

    async def verify_person(self, name: str, resident_id: str) -> VerificationResult:
        return VerificationResult(True, "licensed:id_and_name")

    async def verify_organisation(self, name: str, uscc: str, representative: str) -> VerificationResult:
        return VerificationResult(True, "licensed:uscc")


async def installed(settings: GatewaySettings) -> object:
    app = create_app(settings)
    assert isinstance(app, FastAPI)
    await install_verifier(app)
    return app.state.verifier


async def test_the_sandbox_is_the_default_and_says_so() -> None:
    settings = GatewaySettings(**SECRETS)
    assert settings.real_name_verifier == "sandbox"
    verifier = await installed(settings)
    assert isinstance(verifier, SandboxRealNameVerifier) and verifier.name == "sandbox"


async def test_the_setting_chooses_the_verifier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(verification.VERIFIERS, "licensed", LicensedVerifier)  # type: ignore[arg-type]
    verifier = await installed(GatewaySettings(**SECRETS, real_name_verifier="licensed"))
    assert isinstance(verifier, LicensedVerifier)
    assert (await verifier.verify_person("张三", "11010519491231002X")).level == "licensed:id_and_name"


def test_an_unknown_verifier_stops_the_gateway_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "j" * 32)
    monkeypatch.setenv("PII_KEY", "p" * 32)
    monkeypatch.setenv("REAL_NAME_VERIFIER", "acme-registry")
    with pytest.raises(ValidationError) as refused:
        create_app()  # the factory uvicorn calls: the settings are read, and refused, before anything starts
    assert refused.value.errors()[0]["loc"] == ("real_name_verifier",)
    assert "acme-registry" in str(refused.value) and "sandbox" in str(refused.value)
    with pytest.raises(ValueError, match="unknown real-name verifier 'acme-registry'"):
        choose_verifier("acme-registry")
