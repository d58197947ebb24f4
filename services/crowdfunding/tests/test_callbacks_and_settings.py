"""Signed payment callbacks (HMAC-SHA256 of the raw body) and the decline reason they carry (kept on the pledge, shown
to its backer), the service's settings (false-advertising phrases, the callback secret, the payment provider) and
how they reach the running app: read once, at start."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from crowdfunding import flows
from crowdfunding.api.money import Callback
from crowdfunding.callbacks import SIGNATURE_HEADER, PaymentCallbacks, SandboxCallbacks, derived_secret, sign, verified
from crowdfunding.domain.policy import FORBIDDEN_PHRASES
from crowdfunding.handlers import placing
from crowdfunding.main import create_app, service_definition
from crowdfunding.settings import CrowdfundingSettings
from pydantic import ValidationError

from shared.auth import Principal
from shared.db import Database
from shared.logs import JsonFormatter
from shared.payments import PAYMENT_PROVIDERS, SandboxPaymentProvider, payment_provider
from shared.problems import DomainError
from tests.support.crowdfunding import FOUNDER, api, backer, live_campaign

JWT = "j" * 40
SECRET = b"s" * 32


def test_a_signature_covers_every_byte_of_the_body() -> None:
    body = b'{"pledge_id":"p1","status":"succeeded","reference":"r"}'
    header = sign(SECRET, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verified(SECRET, body, header) is True
    assert verified(SECRET, body + b" ", header) is False
    assert verified(SECRET, body.replace(b"p1", b"p2"), header) is False
    assert verified(b"t" * 32, body, header) is False
    assert verified(SECRET, body, header.upper()) is False
    assert verified(SECRET, body, None) is None and verified(SECRET, body, "") is None


def test_the_endpoint_side_refuses_missing_401_and_wrong_403() -> None:
    callbacks = PaymentCallbacks(SECRET, "provider:sandbox")
    body, headers = SandboxCallbacks(SECRET).notification("p1", "succeeded", "ref")
    callbacks.check(body, headers[SIGNATURE_HEADER])  # the sandbox provider signs as the provider does
    assert json.loads(body) == {"pledge_id": "p1", "status": "succeeded", "reference": "ref"}
    for header, status in ((None, 401), ("sha256=" + "0" * 64, 403),
                           (SandboxCallbacks(b"x" * 32).notification("p1", "succeeded", "ref")[1][SIGNATURE_HEADER],
                            403)):
        with pytest.raises(DomainError) as refused:
            callbacks.check(body, header)
        assert refused.value.status == status and refused.value.field == SIGNATURE_HEADER


def test_settings_callback_secret_explicit_or_derived() -> None:
    explicit = CrowdfundingSettings(jwt_secret=JWT, payment_callback_secret="c" * 32)
    assert explicit.callback_secret == b"c" * 32
    derived = CrowdfundingSettings(jwt_secret=JWT)
    assert derived.callback_secret == derived_secret(JWT) != JWT.encode()
    with pytest.raises(ValidationError):
        CrowdfundingSettings(jwt_secret=JWT, payment_callback_secret="short")


async def test_a_derived_callback_secret_is_warned_of_at_start_in_the_json_log(
        caplog: pytest.LogCaptureFixture) -> None:
    async def warnings_at_start(settings: CrowdfundingSettings) -> list[logging.LogRecord]:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            for hook in service_definition(settings).on_start:
                await hook(create_app(settings))
        return [r for r in caplog.records if "PAYMENT_CALLBACK_SECRET" in r.getMessage()]

    [warning] = await warnings_at_start(CrowdfundingSettings(jwt_secret=JWT))
    line = json.loads(JsonFormatter("crowdfunding").format(warning))
    assert (line["level"], line["setting"], line["derived_from"]) == ("WARNING", "PAYMENT_CALLBACK_SECRET",
                                                                       "JWT_SECRET")
    assert await warnings_at_start(CrowdfundingSettings(jwt_secret=JWT, payment_callback_secret="c" * 32)) == []


def test_forbidden_phrases_are_a_setting_with_the_default_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CrowdfundingSettings(jwt_secret=JWT).forbidden_phrases == FORBIDDEN_PHRASES
    monkeypatch.setenv("FORBIDDEN_PHRASES", json.dumps(["包赚", " 躺赚 ", "包赚"]))
    assert CrowdfundingSettings(jwt_secret=JWT).forbidden_phrases == ("包赚", "躺赚")
    for bad in ([], [""], ["x" * 101]):
        monkeypatch.setenv("FORBIDDEN_PHRASES", json.dumps(bad))
        with pytest.raises(ValidationError):
            CrowdfundingSettings(jwt_secret=JWT)


def test_the_app_builds_its_policy_and_callback_check_once_from_the_settings() -> None:
    app = create_app(CrowdfundingSettings(jwt_secret=JWT, forbidden_phrases=("包赚",),
                                          payment_callback_secret="c" * 32))
    assert app.state.crowdfunding_policy.forbidden_phrases == ("包赚",)
    assert app.state.payment_callbacks == PaymentCallbacks(b"c" * 32, "provider:sandbox")


def test_the_payment_provider_setting_chooses_the_provider_and_refuses_unknown_names(tmp_path: Path) -> None:
    assert CrowdfundingSettings(jwt_secret=JWT).payment_provider == "sandbox"
    with pytest.raises(ValidationError):
        CrowdfundingSettings(jwt_secret=JWT, payment_provider="paypal")
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/p.db")
    assert isinstance(payment_provider("sandbox", db), SandboxPaymentProvider)
    with pytest.raises(ValueError, match="unknown payment provider 'paypal'"):
        payment_provider("paypal", db)
    assert set(PAYMENT_PROVIDERS) == {"sandbox"}


def test_a_callback_reference_longer_than_a_pledge_keeps_is_refused_naming_the_field() -> None:
    """A 422 naming `reference`, not a write that PostgreSQL refuses (a 500) after the signature was checked."""
    Callback.model_validate({"pledge_id": "p1", "status": "succeeded", "reference": "r" * 120})
    with pytest.raises(ValidationError) as refused:
        Callback.model_validate({"pledge_id": "p1", "status": "succeeded", "reference": "r" * 121})
    assert [e["loc"] for e in refused.value.errors()] == [("reference",)]


async def test_the_longest_callback_reference_is_kept_on_the_pledge(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx)
    async with ctx.uow() as uow:
        placed = await placing.place_reward_pledge(uow, backer(1), campaign.id, placing.PledgeInput(
            tier_id=tier, shipping_region="CN"), ctx.clock.now())
    paid = await flows.payment_callback(ctx, placed.id, True, "r" * 120, None, "provider:sandbox")
    assert (paid.state, paid.payment_reference) == ("paid", "r" * 120)


async def test_a_callback_s_failure_is_kept_on_the_pledge_and_shown_to_its_backer_not_the_founder(
        ctx: flows.Context) -> None:
    """The provider's reason for a decline (`failure`) is kept on the pledge with the outcome (applied once: a
    repeated callback does not rewrite it), cut to 300 characters rather than refused; the backer and supervisors
    read it, the founder sees the declined pledge without it (it is about the backer's card)."""
    campaign, tier = await live_campaign(ctx)
    placed = []
    for n in (1, 2):
        async with ctx.uow() as uow:
            placed.append(await placing.place_reward_pledge(uow, backer(n), campaign.id, placing.PledgeInput(
                tier_id=tier, shipping_region="CN"), ctx.clock.now()))
    async with api(ctx) as http:
        provider = SandboxCallbacks(http.settings.callback_secret)
        for failure in ("card expired (54)", "issuer unavailable"):  # the second is a late duplicate
            body, headers = provider.notification(placed[0].id, "failed", "ref-9", failure)
            answered = await http.client.post("/payments/callback", content=body, headers=headers)
            assert answered.status_code == 200, answered.text
            assert answered.json()["payment_failure"] == "card expired (54)"
        body, headers = provider.notification(placed[1].id, "failed", "", "x" * 2000)
        assert (await http.client.post("/payments/callback", content=body, headers=headers)).status_code == 200

        mine = (await http.client.get(f"/pledges/{placed[0].id}", headers=http.as_(backer(1)))).json()
        assert (mine["state"], mine["reason"], mine["payment_reference"], mine["payment_failure"]) == (
            "cancelled", "payment_failed", "ref-9", "card expired (54)")
        [listed] = (await http.client.get("/pledges", headers=http.as_(backer(1)))).json()
        assert listed["payment_failure"] == "card expired (54)"
        long = (await http.client.get(f"/pledges/{placed[1].id}", headers=http.as_(backer(2)))).json()
        assert (long["state"], long["payment_failure"]) == ("cancelled", "x" * 300)

        regulator = Principal(subject="regulator-1", roles=frozenset({"regulator"}))
        assert (await http.client.get(f"/pledges/{placed[0].id}", headers=http.as_(regulator))
                ).json()["payment_failure"] == "card expired (54)"
        founder_one = (await http.client.get(f"/pledges/{placed[0].id}", headers=http.as_(FOUNDER))).json()
        assert founder_one["state"] == "cancelled" and "payment_failure" not in founder_one
        founder_all = (await http.client.get(f"/campaigns/{campaign.id}/pledges", headers=http.as_(FOUNDER))).json()
        assert [(p["state"], "reason" in p, "payment_failure" in p) for p in founder_all] == [
            ("cancelled", False, False)] * 2  # the fulfilment view: nothing about why the payment failed


async def test_a_charge_declined_in_the_pledge_flow_says_why_in_the_402_and_on_the_pledge(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx)
    async with api(ctx) as http:
        refused = await http.client.post(f"/campaigns/{campaign.id}/pledges", headers=http.as_(backer(1)),
                                         json={"tier_id": tier, "shipping_region": "CN",
                                               "payment_party": "card-declined"})
        assert refused.status_code == 402
        problem = refused.json()
        assert (problem["rule"], problem["payment_failure"]) == ("payment_failed", "sandbox: declined (test party)")
        kept = (await http.client.get(f"/pledges/{problem['pledge_id']}", headers=http.as_(backer(1)))).json()
        assert (kept["state"], kept["payment_failure"]) == ("cancelled", "sandbox: declined (test party)")
