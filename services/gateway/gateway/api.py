"""Gateway routes: sign-up, login (OAuth2 password flow, JWT), organisations."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm, OAuth2PasswordRequestFormStrict
from pydantic import BaseModel, ConfigDict, Field

from gateway import handlers
from gateway.domain.roles import SELF_SERVICE, SelfServiceRole
from gateway.models import Organisation
from shared.auth import CurrentPrincipal, Principal, authorise_owner, issue_token, require_roles
from shared.service_app import ReadSessionDep, UnitOfWorkDep
from shared.validation import PlainText, ResourceId

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
ORGANISATION_ROLES = ("enterprise", "founder", "provider", "agency", "space_operator", "institute", "admin")


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME.pattern)
    password: str = Field(min_length=8, max_length=128)
    display_name: PlainText = Field(min_length=1, max_length=100)
    roles: list[SelfServiceRole] = Field(min_length=1, max_length=len(SELF_SERVICE))


class PersonPublic(BaseModel):
    id: str
    username: str
    display_name: str
    roles: list[str]


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PlainText = Field(min_length=2, max_length=200)
    uscc: str = Field(min_length=1, max_length=32, description="unified social credit code (GB 32100)")


class OrganisationPublic(BaseModel):
    id: str
    name: str
    uscc_masked: str
    region_code: str
    owner_id: str

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationPublic:
        return cls(id=organisation.id, name=organisation.name, uscc_masked=organisation.uscc_masked,
                   region_code=organisation.region_code, owner_id=organisation.owner_id)


router = APIRouter()


@router.post("/auth/signup", status_code=status.HTTP_201_CREATED, response_model=PersonPublic, tags=["identity"])
async def sign_up(body: SignUp, uow: UnitOfWorkDep) -> PersonPublic:
    person = await handlers.register_person(uow, body.username, body.password, body.display_name, set(body.roles))
    return PersonPublic(id=person.id, username=person.username, display_name=person.display_name,
                        roles=sorted(person.role_set))


@router.post("/token", response_model=Token, tags=["identity"])
async def oauth2_token(form: Annotated[OAuth2PasswordRequestFormStrict, Depends()], request: Request,
                       response: Response) -> Token:
    """RFC 6749 §4.3 resource owner password credentials: form fields grant_type=password, username, password."""
    response.headers["Cache-Control"] = "no-store"
    return await log_in(form, request)


@router.post("/auth/token", response_model=Token, tags=["identity"])
async def log_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request) -> Token:
    """The same login with grant_type optional (the console and earlier clients)."""
    settings = request.app.state.settings
    if not USERNAME.fullmatch(form.username) or "\x00" in form.password:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    person = await handlers.authenticate(request.app.state.db, form.username, form.password)
    if person is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    token = issue_token(settings.jwt_secret, settings.jwt_issuer, person.id, person.role_set, ttl=ttl)
    return Token(access_token=token, expires_in=int(ttl.total_seconds()))


@router.get("/auth/me", tags=["identity"])
async def who_am_i(principal: CurrentPrincipal) -> Principal:
    return principal


@router.post("/organisations", status_code=status.HTTP_201_CREATED, response_model=OrganisationPublic,
             tags=["identity"])
async def register_organisation(
    body: OrganisationCreate, request: Request, uow: UnitOfWorkDep,
    principal: Annotated[Principal, require_roles(*ORGANISATION_ROLES)],
) -> OrganisationPublic:
    organisation = await handlers.register_organisation(uow, request.app.state.settings.pii_key, body.name,
                                                        body.uscc, principal.subject)
    return OrganisationPublic.of(organisation)


@router.get("/organisations/{organisation_id}", response_model=OrganisationPublic, tags=["identity"])
async def read_organisation(organisation_id: ResourceId, session: ReadSessionDep,
                            principal: CurrentPrincipal) -> OrganisationPublic:
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"organisation {organisation_id} not found")
    authorise_owner(principal, organisation.owner_id, "admin", "regulator")
    return OrganisationPublic.of(organisation)
