"""Input types every service uses, so that odd input is a 422 naming the field and never a database error.

PostgreSQL refuses NUL characters in text, and control characters have no business in names, so
free text is `PlainText`; identifiers in paths are `ResourceId`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import StringConstraints

PlainText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
ResourceId = Annotated[str, Path(pattern=ID_PATTERN, description="an identifier (1-64 of A-Z a-z 0-9 _ . : -)")]
