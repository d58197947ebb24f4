"""GB 32100 unified social credit code: check character, alphabet and structure."""

from __future__ import annotations

import pytest
from gateway.domain.passwords import hash_password, protect_number, verify_password
from gateway.domain.uscc import InvalidUSCC, check_character, parse_uscc


@pytest.mark.parametrize("code", [
    "91350100M000100Y43",  # the worked example published with the standard
    "91110000600037341L",
    "91350100m000100y43",  # lower case is accepted and normalised
])
def test_published_codes_pass(code: str) -> None:
    parsed = parse_uscc(code)
    assert parsed.code == code.upper()
    assert parsed.region_code == code[2:8]
    assert parsed.masked == f"{code[:8].upper()}******{code[-4:].upper()}"


@pytest.mark.parametrize(("code", "reason"), [
    ("91350100M000100Y44", "check character"),
    ("91350100M000100Y4", "18 characters"),
    ("91350100M000100Y433", "18 characters"),
    ("91350100M0001O0Y43", "alphabet: O"),
    ("91350100I000100Y43", "alphabet: I"),
    ("913501Z0M000100Y43", "alphabet: Z"),
    ("9135A100M000100Y43", "administrative division"),
])
def test_bad_codes_say_why(code: str, reason: str) -> None:
    with pytest.raises(InvalidUSCC, match=reason):
        parse_uscc(code)


def test_every_single_character_change_of_the_check_is_caught() -> None:
    base = "91350100M000100Y4"
    good = check_character(base)
    assert good == "3"
    for wrong in "0123456789ABCDEFGHJKLMNPQRTUWXY".replace(good, ""):
        with pytest.raises(InvalidUSCC):
            parse_uscc(base + wrong)


def test_passwords_hash_and_verify() -> None:
    stored = hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert not verify_password("x", "garbage")
    assert hash_password("correct horse") != stored  # salted


def test_protected_numbers_are_keyed() -> None:
    assert protect_number("k" * 32, "X") == protect_number("k" * 32, "X")
    assert protect_number("k" * 32, "X") != protect_number("j" * 32, "X")
