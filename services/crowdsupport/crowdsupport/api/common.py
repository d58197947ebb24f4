"""What the crowd-support routes share: role dependencies, input types, paging."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from shared.auth import Principal, require_roles
from shared.validation import ID_PATTERN, PlainText, Strict

AGENCY_ROLES = ("agency", "admin")
ENTERPRISE_ROLES = ("enterprise",)
PROVIDER_ROLES = ("provider",)  # service providers and instrument-owner institutions
MENTOR_ROLES = ("mentor",)
STARTUP_ROLES = ("enterprise", "founder", "resident")
BOOKER_ROLES = ("enterprise", "founder", "resident", "solver", "provider")
HOLDER_ROLES = ("provider", "enterprise")  # public-welfare institutions (as providers) and enterprises
VOIDER_ROLES = ("agency", "reviewer", "admin")
STAFF_ROLES = ("reviewer", "admin")
READERS = ("admin", "regulator")
# An admin acts for the owner side of a record (DESIGN §5: admin is a role; the handlers check ownership with
# `owner_or_admin`): an instrument's owner, a session's mentor, a patent's holder. What a subject does as itself
# (apply, redeem, book, list, keep a profile) stays with the subject.
ACTS_FOR_OWNERS = ("admin",)

Agency = Annotated[Principal, require_roles(*AGENCY_ROLES)]
Enterprise = Annotated[Principal, require_roles(*ENTERPRISE_ROLES)]
Provider = Annotated[Principal, require_roles(*PROVIDER_ROLES)]
MentorRole = Annotated[Principal, require_roles(*MENTOR_ROLES)]
Startup = Annotated[Principal, require_roles(*STARTUP_ROLES)]
Booker = Annotated[Principal, require_roles(*BOOKER_ROLES)]
Holder = Annotated[Principal, require_roles(*HOLDER_ROLES)]
Voider = Annotated[Principal, require_roles(*VOIDER_ROLES)]
Staff = Annotated[Principal, require_roles(*STAFF_ROLES)]
InstrumentOwner = Annotated[Principal, require_roles(*PROVIDER_ROLES, *ACTS_FOR_OWNERS)]
SessionMentor = Annotated[Principal, require_roles(*MENTOR_ROLES, *ACTS_FOR_OWNERS)]
PatentHolder = Annotated[Principal, require_roles(*HOLDER_ROLES, *ACTS_FOR_OWNERS)]

Id = Annotated[str, Field(pattern=ID_PATTERN)]
Name = Annotated[PlainText, Field(min_length=1, max_length=200)]
Text = Annotated[PlainText, Field(max_length=4000)]
Label = Annotated[PlainText, Field(min_length=1, max_length=100)]
Region = Annotated[str, Field(pattern=r"^\d{6}$")]
ZoneName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")]
FenAmount = Annotated[int, Field(ge=0, le=10**13)]
PositiveFen = Annotated[int, Field(ge=1, le=10**13)]


def _plausible(moment: datetime) -> datetime:
    """Far-off years would overflow date arithmetic (a 500); nothing here is booked beyond 2200."""
    if not 1970 <= moment.year <= 2200:
        raise ValueError("the year must be between 1970 and 2200")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]


class Slot(Strict):
    start: Moment = Field(description="RFC 3339 with offset, e.g. 2026-05-04T10:00:00+08:00")
    end: Moment
