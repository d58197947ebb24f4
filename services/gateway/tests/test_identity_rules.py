"""GB 11643 resident identity numbers, who may grant which role, API-key rules and the sandbox verifier."""

from __future__ import annotations

from datetime import date
from typing import get_args

import pytest
from cryptography.fernet import InvalidToken
from gateway.api import SignUp
from gateway.api_identity import ApiKeyCreate, RoleGrant
from gateway.domain import api_keys
from gateway.domain.passwords import open_number, seal_number
from gateway.domain.resident_id import InvalidResidentId, check_digit, parse_resident_id
from gateway.domain.roles import ADMIN_GRANTED, SELF_SERVICE, SelfServiceRole, may_grant
from gateway.verification import SandboxRealNameVerifier, VerifierUnavailable
from pydantic import ValidationError

from shared.auth import ROLES

TODAY = date(2026, 3, 2)


def number(prefix: str = "110105", born: str = "19491231", sequence: str = "002") -> str:
    first17 = prefix + born + sequence
    return first17 + check_digit(first17)


@pytest.mark.parametrize("raw", ["11010519491231002X", "11010519491231002x", " 440308199003076511 "])
def test_published_and_generated_numbers_pass(raw: str) -> None:
    parsed = parse_resident_id(raw, TODAY)
    assert parsed.number == raw.strip().upper()
    assert parsed.masked == parsed.number[:6] + "*" * 8 + parsed.number[-4:]
    assert parsed.birth_date <= TODAY


@pytest.mark.parametrize(("raw", "reason"), [
    ("110105194912310021", "check character"),
    ("11010519491231002", "18 characters"),
    ("1101051949123100XX", "17 digits"),
    (number(prefix="990105"), "administrative division"),
    (number(prefix="110000"), "administrative division"),
    (number(born="19490230"), "not a calendar date"),
    (number(born="20260303"), "in the future"),
    (number(born="18991231"), "before 1900"),
])
def test_bad_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidResidentId, match=reason):
        parse_resident_id(raw, TODAY)


def test_every_wrong_check_character_is_caught() -> None:
    good = number()
    for wrong in "0123456789X".replace(good[-1], ""):
        with pytest.raises(InvalidResidentId, match="check character"):
            parse_resident_id(good[:17] + wrong, TODAY)


def test_born_today_is_accepted() -> None:
    assert parse_resident_id(number(born=TODAY.strftime("%Y%m%d")), TODAY).birth_date == TODAY


def test_roles_split_into_self_service_and_admin_granted() -> None:
    assert SELF_SERVICE | ADMIN_GRANTED == ROLES and not SELF_SERVICE & ADMIN_GRANTED
    assert {"reviewer", "mediator", "regulator", "admin"} <= ADMIN_GRANTED
    assert set(get_args(SelfServiceRole)) == SELF_SERVICE  # sign-up offers exactly the self-service roles


def test_an_api_key_may_carry_every_role_and_no_more_entries_than_there_are_roles() -> None:
    every = sorted(ROLES)
    assert ApiKeyCreate.model_validate({"roles": every}).roles == every
    with pytest.raises(ValidationError) as refused:
        ApiKeyCreate.model_validate({"roles": [*every, "admin"]})
    assert [e["loc"] for e in refused.value.errors()] == [("roles",)]
    with pytest.raises(ValidationError):
        ApiKeyCreate.model_validate({"roles": ["superuser"]})
    assert {RoleGrant.model_validate({"role": role}).role for role in ROLES} == ROLES


def test_sign_up_may_take_every_self_service_role_and_no_other() -> None:
    person = {"username": "alice", "password": "password123", "display_name": "Alice"}
    every = sorted(SELF_SERVICE)
    assert SignUp.model_validate({**person, "roles": every}).roles == every
    for role in ADMIN_GRANTED:
        with pytest.raises(ValidationError):
            SignUp.model_validate({**person, "roles": [role]})


@pytest.mark.parametrize(("granter", "roles", "grantee", "role", "allowed"), [
    ("p1", frozenset({"solver"}), "p1", "founder", True),
    ("p1", frozenset({"solver"}), "p2", "founder", False),  # not for someone else
    ("p1", frozenset({"solver"}), "p1", "reviewer", False),  # admin-granted
    ("p1", frozenset({"regulator"}), "p2", "regulator", False),  # a regulator does not make regulators
    ("p1", frozenset({"regulator"}), "p1", "admin", False),
    ("a1", frozenset({"admin"}), "p2", "mediator", True),
    ("a1", frozenset({"admin"}), "p2", "nonsense", False),
])
def test_who_may_grant_which_role(granter: str, roles: frozenset[str], grantee: str, role: str,
                                  allowed: bool) -> None:
    assert (may_grant(granter, roles, grantee, role) is None) is allowed


def test_api_key_issuers_and_roles() -> None:
    assert api_keys.may_issue("r1", frozenset({"regulator"}), "r1") is None
    assert "itself" in (api_keys.may_issue("r1", frozenset({"regulator"}), "r2") or "")
    assert api_keys.may_issue("a1", frozenset({"admin"}), "anyone") is None
    assert api_keys.may_issue("p1", frozenset({"founder"}), "p1") is not None
    held = frozenset({"regulator", "solver"})
    assert api_keys.key_roles(None, held) == held
    assert api_keys.key_roles({"regulator"}, held) == frozenset({"regulator"})
    assert "admin" in str(api_keys.key_roles({"admin"}, held))


def test_api_keys_are_random_and_only_their_hash_is_kept() -> None:
    first, second = api_keys.generate(), api_keys.generate()
    assert first.key_id != second.key_id and first.secret != second.secret
    assert first.presented == f"sz_{first.key_id}_{first.secret}"
    assert len(first.secret_sha256) == 64 and first.secret not in first.secret_sha256


def test_sealed_numbers_open_with_the_key_only() -> None:
    sealed = seal_number("k" * 32, "11010519491231002X")
    assert "11010519491231002X" not in sealed
    assert open_number("k" * 32, sealed) == "11010519491231002X"
    with pytest.raises(InvalidToken):
        open_number("j" * 32, sealed)


async def test_sandbox_verifier_test_data() -> None:
    verifier = SandboxRealNameVerifier()
    assert (await verifier.verify_person("张三", "11010519491231002X")).confirmed
    refused = await verifier.verify_person("Mismatch Li", "11010519491231002X")
    assert not refused.confirmed and refused.level.startswith("sandbox")
    with pytest.raises(VerifierUnavailable):
        await verifier.verify_organisation("unavailable Ltd", "91350100M000100Y43", "张三")
    assert (await verifier.verify_organisation("示例科技", "91350100M000100Y43", "张三")).level.startswith("sandbox")
