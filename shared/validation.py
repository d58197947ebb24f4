"""Input types every service uses, so that odd input is a 422 naming the field and never a database error.

PostgreSQL refuses NUL characters in text, and control characters have no business in names, so
free text is `PlainText`; identifiers in paths are `ResourceId`. List endpoints page with `Limit` and `Offset`
(bounded, so a page is never the whole table), and request bodies are `Strict` models: an unknown field is a
422 naming it, not silently dropped.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

PlainText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
ResourceId = Annotated[str, Path(pattern=ID_PATTERN, description="an identifier (1-64 of A-Z a-z 0-9 _ . : -)")]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class Strict(BaseModel):
    """A request body that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")
