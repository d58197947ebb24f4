"""Masking of personal numbers for anything shown outside their owner: public lists, the regulator stream.

Two kinds of numbers identify subjects here: the 18-character unified social credit code of an
organisation (GB 32100) and the 18-digit resident identity number of a person (GB 11643). Both are
shown with the middle hidden. `mask_personal_numbers` walks any JSON value and masks every string
that is, or contains, something shaped like either number, so a new event field cannot leak one.
"""

from __future__ import annotations

import re
from typing import Any

# A resident id: 17 digits then a digit or X. A USCC: 18 characters of GB 32100's alphabet with
# digits in positions 3-8. Word boundaries keep longer tokens (uuids, hashes) intact.
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3})([\dXx])(?![0-9A-Za-z])")
_USCC = re.compile(r"(?<![0-9A-Za-z])([0-9A-HJ-NP-RTUWXY]{2}\d{6})([0-9A-HJ-NP-RTUWXY]{6})([0-9A-HJ-NP-RTUWXY]{4})"
                   r"(?![0-9A-Za-z])")


def mask_resident_id(number: str) -> str:
    """Region (6) and the last 4 visible; the birth date and sequence hidden."""
    number = number.strip()
    if len(number) != 18:
        return "*" * len(number)
    return f"{number[:6]}********{number[-4:]}"


def mask_uscc(code: str) -> str:
    """Authority, type and region (8) and the last 4 visible; the organisation code hidden."""
    code = code.strip()
    if len(code) != 18:
        return "*" * len(code)
    return f"{code[:8]}******{code[-4:]}"


def mask_person_name(name: str) -> str:
    """A person's name on a public page: the first character (and the last of three or more) visible, e.g. 张三 ->
    张*, 欧阳娜娜 -> 欧**娜. Organisation names are public registration facts and are not masked."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{'*' * (len(name) - 2)}{name[-1]}"


def mask_text(text: str) -> str:
    text = _RESIDENT_ID.sub(lambda m: mask_resident_id(m.group(0)), text)
    return _USCC.sub(lambda m: mask_uscc(m.group(0)), text)


def mask_personal_numbers(value: Any) -> Any:
    """A copy of a JSON value with every personal number in every string masked."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: mask_personal_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_personal_numbers(item) for item in value]
    return value
