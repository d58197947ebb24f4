"""Aggregated views: a subject's profile across the four crowds with its credit standing.

The parts are asked in parallel, each with its own timeout, with the caller's own credentials (every service
authorises for itself). A part that fails is named in `missing` with its status; the view is never refused whole
because one service is down. Whatever the parts say passes through `mask_personal_numbers`: an aggregated view
is no place for a whole identity number.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel

from gateway.models import Organisation, Person
from shared.auth import CurrentPrincipal, authorise_owner
from shared.masking import mask_personal_numbers
from shared.problems import DomainError
from shared.tracing import propagate
from shared.validation import ResourceId

router = APIRouter(tags=["aggregated views"])
CROWDS = ("crowdsourcing", "crowdfunding", "crowdsupport", "makerspace")
PartStatus = Literal["ok", "not_found", "refused", "unavailable", "timeout"]
# what credit's /records/{id} says of the subject's standing: the score and the black/red entries in force
STANDING_FIELDS = ("score", "dimensions", "as_of", "policy_version", "listing")
REFUSALS: dict[int, PartStatus] = {404: "not_found", 401: "refused", 403: "refused"}
CREDENTIAL_HEADERS = ("authorization", "x-api-key")


class Part(BaseModel):
    status: PartStatus
    http_status: int | None = None
    detail: str | None = None
    data: dict[str, Any] | None = None


class Profile(BaseModel):
    subject_id: str
    kind: Literal["person", "organisation"]
    identity: dict[str, Any]
    parts: dict[str, Part]
    credit_standing: dict[str, Any] | None
    missing: list[str]
    complete: bool


async def _ask(client: httpx.AsyncClient, url: str, headers: dict[str, str], timeout: float) -> Part:
    try:
        response = await asyncio.wait_for(client.get(url, headers=headers), timeout)
    except (TimeoutError, httpx.TimeoutException):
        return Part(status="timeout", detail=f"no answer within {timeout} s")
    except httpx.HTTPError as exc:
        return Part(status="unavailable", detail=type(exc).__name__)
    if response.status_code == 200:
        try:
            return Part(status="ok", http_status=200, data=mask_personal_numbers(response.json()))
        except ValueError:
            return Part(status="unavailable", http_status=200, detail="the answer was not JSON")
    status = REFUSALS.get(response.status_code, "unavailable")
    return Part(status=status, http_status=response.status_code, detail=response.text[:300])


def credit_standing(part: Part) -> dict[str, Any] | None:
    """The subject's score and its current listing (black and red: tier, window, reasons), or None when credit
    did not answer (the `credit` part then says why, and `missing` names it when credit is down)."""
    if part.status != "ok" or part.data is None:
        return None
    return {key: part.data[key] for key in STANDING_FIELDS if key in part.data}


@router.get("/subjects/{subject_id}/profile", response_model=Profile)
async def profile(subject_id: ResourceId, request: Request, principal: CurrentPrincipal) -> Profile:
    """The subject itself (a person, or an organisation's owner), admins and regulators. The identity is read in
    a session closed before the parts are asked, so no database connection waits on another service."""
    async with request.app.state.db.reading() as session:
        person = await session.get(Person, subject_id)
        organisation = None if person is not None else await session.get(Organisation, subject_id)
    if person is None and organisation is None:
        raise DomainError(404, f"no person or organisation {subject_id}")
    if person is not None:
        authorise_owner(principal, person.id, "admin", "regulator")
        identity = {"display_name": person.display_name, "verified": person.verified_at is not None,
                    "resident_id_masked": person.resident_id_masked, "roles": sorted(person.role_set)}
    else:
        assert organisation is not None
        authorise_owner(principal, organisation.owner_id, "admin", "regulator")
        identity = {"name": organisation.name, "verified": organisation.verified_at is not None,
                    "uscc_masked": organisation.uscc_masked, "region_code": organisation.region_code,
                    "owner_id": organisation.owner_id}
    settings = request.app.state.settings
    headers = propagate({name: request.headers[name] for name in CREDENTIAL_HEADERS if name in request.headers})
    targets = {crowd: f"{settings.service_urls[crowd]}/subjects/{subject_id}/summary" for crowd in CROWDS}
    targets["credit"] = f"{settings.service_urls['credit']}/records/{subject_id}"
    answers = await asyncio.gather(*(_ask(request.app.state.http, url, headers, settings.profile_part_timeout_seconds)
                                     for url in targets.values()))
    parts = dict(zip(targets, answers, strict=True))
    missing = sorted(name for name, part in parts.items() if part.status in ("unavailable", "timeout"))
    return Profile(subject_id=subject_id, kind="person" if person is not None else "organisation",
                   identity=identity, parts=parts, credit_standing=credit_standing(parts["credit"]),
                   missing=missing, complete=not missing)
