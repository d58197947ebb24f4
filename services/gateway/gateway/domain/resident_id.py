"""Resident identity number (居民身份证号码), GB 11643-1999: structure, birth date and check digit. Pure.

18 characters: administrative division (6 digits), birth date YYYYMMDD (8), sequence (3, odd for men),
check character (ISO 7064 MOD 11-2: a digit or X).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.masking import mask_resident_id

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
# Provinces, autonomous regions and municipalities (first two digits of GB/T 2260), plus Taiwan, Hong Kong and
# Macao residents' permits (71, 81, 82, 83).
PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43",
    "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83",
})
EARLIEST_BIRTH = date(1900, 1, 1)


class InvalidResidentId(ValueError):
    """Says what is wrong, in words the person typing the number can act on."""


@dataclass(frozen=True)
class ResidentId:
    number: str

    @property
    def region_code(self) -> str:
        return self.number[:6]

    @property
    def birth_date(self) -> date:
        n = self.number
        return date(int(n[6:10]), int(n[10:12]), int(n[12:14]))

    @property
    def masked(self) -> str:
        """Public display: region and the last four visible, birth date and sequence hidden."""
        return mask_resident_id(self.number)


def check_digit(first17: str) -> str:
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def parse_resident_id(raw: str, today: date) -> ResidentId:
    """Validate a number as typed (spaces around and a lower-case x are forgiven)."""
    number = raw.strip().upper()
    if len(number) != 18:
        raise InvalidResidentId(f"must be 18 characters, got {len(number)}")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidResidentId("must be 17 digits followed by a digit or X")
    if number[:2] not in PROVINCES or (number[2:6] == "0000" and number[:2] not in {"71", "81", "82", "83"}):
        raise InvalidResidentId(f"administrative division {number[:6]} is not a plausible GB/T 2260 code")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidResidentId(f"birth date {number[6:14]} is not a calendar date") from exc
    if born > today:
        raise InvalidResidentId(f"birth date {born.isoformat()} is in the future")
    if born < EARLIEST_BIRTH:
        raise InvalidResidentId(f"birth date {born.isoformat()} is before {EARLIEST_BIRTH.isoformat()}")
    expected = check_digit(number[:17])
    if number[17] != expected:
        raise InvalidResidentId(f"check character is {number[17]!r} but GB 11643 gives {expected!r}")
    return ResidentId(number)
