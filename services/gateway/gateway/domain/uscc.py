"""Unified social credit code (统一社会信用代码), GB 32100-2015: format and check character. Pure.

18 characters: registration authority (1), entity type (1), administrative division (6 digits),
organisation code (9), check character (1). The alphabet leaves out I, O, Z, S and V.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.masking import mask_uscc

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {char: value for value, char in enumerate(ALPHABET)}


class InvalidUSCC(ValueError):
    """Says what is wrong, in words a person registering an organisation can act on."""


@dataclass(frozen=True)
class USCC:
    code: str

    @property
    def region_code(self) -> str:
        return self.code[2:8]

    @property
    def masked(self) -> str:
        """Public display: authority, type and region visible; the organisation code hidden."""
        return mask_uscc(self.code)


def check_character(first17: str) -> str:
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def parse_uscc(raw: str) -> USCC:
    code = raw.strip().upper()
    if len(code) != 18:
        raise InvalidUSCC(f"must be 18 characters, got {len(code)}")
    bad = sorted({char for char in code if char not in _VALUE})
    if bad:
        raise InvalidUSCC(f"contains characters outside GB 32100's alphabet: {''.join(bad)}")
    if not code[2:8].isdigit():
        raise InvalidUSCC("characters 3-8 must be the 6-digit administrative division code")
    expected = check_character(code[:17])
    if code[17] != expected:
        raise InvalidUSCC(f"check character is {code[17]!r} but GB 32100 gives {expected!r}")
    return USCC(code)
