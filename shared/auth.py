"""Token verification and authorisation by role and ownership, used by every service's routes.

The gateway issues the tokens; every service verifies them itself, so the gateway is not the only lock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, get_args

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, StrictStr, ValidationError

from shared.api_keys import resolve_key
from shared.ids import utcnow

# DESIGN §5's roles (and `institute`, a research institute posting tasks): the one list. Request models type a
# role field as `Role`, so a new role is offered by every API at once; `ROLES` is the same list as a set.
Role = Literal[
    "enterprise", "solver", "founder", "backer", "investor", "space_operator", "resident", "mentor", "provider",
    "agency", "reviewer", "mediator", "regulator", "admin", "institute",
]
ROLES: frozenset[str] = frozenset(get_args(Role))
SERVICE_ROLE = "service"  # machine role held only by tokens the services mint for each other
ALGORITHM = "HS256"


class Principal(BaseModel):
    subject: StrictStr
    roles: frozenset[StrictStr]
    kind: Literal["person", "service", "api_key"] = "person"

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def issue_token(secret: str, issuer: str, subject: str, roles: set[str] | frozenset[str],
                kind: str = "person", ttl: timedelta = timedelta(hours=1)) -> str:
    now = utcnow()
    claims = {"iss": issuer, "sub": subject, "roles": sorted(roles), "kind": kind,
              "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp())}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, issuer: str, token: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=issuer,
                            options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.PyJWTError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {exc}",
                            headers={"WWW-Authenticate": "Bearer"}) from exc
    try:
        return Principal.model_validate({"subject": claims["sub"], "roles": claims.get("roles", []),
                                         "kind": claims.get("kind", "person")})
    except ValidationError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token: malformed claims",
                            headers={"WWW-Authenticate": "Bearer"}) from exc


_bearer = HTTPBearer(auto_error=False)
API_KEY_SCHEME = "apikey"


def presented_api_key(request: Request) -> str | None:
    """`Authorization: ApiKey <key>` or `X-API-Key: <key>` (machine clients); None when neither is sent."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == API_KEY_SCHEME and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    settings = request.app.state.settings
    if credentials is not None:
        return verify_token(settings.jwt_secret, settings.jwt_issuer, credentials.credentials)
    key = presented_api_key(request)
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token or an API key is required",
                            headers={"WWW-Authenticate": "Bearer"})
    async with request.app.state.db.reading() as session:
        holder = await resolve_key(session, key, utcnow())
    if holder is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid, expired or revoked API key",
                            headers={"WWW-Authenticate": "ApiKey"})
    return Principal(subject=holder.subject_id, roles=holder.roles, kind="api_key")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Any:
    """A dependency that admits a principal holding any of `roles`."""

    def _check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"requires one of the roles: {', '.join(roles)}")
        return principal

    return Depends(_check)


def authorise_owner(principal: Principal, owner_id: str, *override_roles: str) -> None:
    """Ownership check: the owner, or a holder of one of `override_roles` (e.g. regulator, admin)."""
    if principal.subject != owner_id and not principal.has_any(*override_roles):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not the owner of this resource")
