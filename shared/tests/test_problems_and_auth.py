"""Problem+json for every error and the role/ownership checks, on a small app through real ASGI."""

from __future__ import annotations

from typing import Annotated, get_args

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from shared.auth import ROLES, CurrentPrincipal, Principal, Role, authorise_owner, issue_token, require_roles
from shared.problems import PROBLEM, BodySizeLimit, install_problem_handlers
from shared.validation import Limit, Offset, Strict

SECRET = "s" * 40


class Body(BaseModel):
    name: str = Field(min_length=2)
    count: int


class StrictBody(Strict):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.settings = type("S", (), {"jwt_secret": SECRET, "jwt_issuer": "sizhong-gateway"})()
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=2048)

    @app.post("/things")
    async def create(body: Body, principal: Annotated[Principal, require_roles("enterprise")]) -> dict[str, str]:
        return {"owner": principal.subject}

    @app.get("/things/{owner}")
    async def read(owner: str, principal: CurrentPrincipal) -> dict[str, str]:
        authorise_owner(principal, owner, "regulator")
        return {"owner": owner}

    @app.post("/strict")
    async def strict(body: StrictBody, limit: Limit = 50, offset: Offset = 0) -> dict[str, object]:
        return {"name": body.name, "limit": limit, "offset": offset}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


def token(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, 'sizhong-gateway', subject, set(roles))}"}


@pytest.fixture
async def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://test")


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"name": "x", "count": 1}, 422, "name"),
    ({"name": "xyz"}, 422, "count"),
    ({"name": "xyz", "count": "many"}, 422, "count"),
])
async def test_invalid_bodies_name_the_field(client: httpx.AsyncClient, body: dict[str, object], status: int,
                                             field: str) -> None:
    response = await client.post("/things", json=body, headers=token("p1", "enterprise"))
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert field in {error["field"] for error in response.json()["errors"]}


@pytest.mark.parametrize(("query", "body", "field"), [
    ("limit=0", {"name": "x"}, "query.limit"), ("limit=201", {"name": "x"}, "query.limit"),
    ("offset=-1", {"name": "x"}, "query.offset"), ("offset=1000001", {"name": "x"}, "query.offset"),
    ("", {"name": "x", "extra": 1}, "extra"),
])
async def test_shared_paging_and_strict_bodies_name_the_field(client: httpx.AsyncClient, query: str,
                                                              body: dict[str, object], field: str) -> None:
    response = await client.post(f"/strict?{query}", json=body)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert field in {error["field"] for error in response.json()["errors"]}, response.text
    fine = await client.post("/strict?limit=200&offset=1000000", json={"name": "x"})
    assert fine.json() == {"name": "x", "limit": 200, "offset": 1_000_000}
    assert (await client.post("/strict", json={"name": "x"})).json() == {"name": "x", "limit": 50, "offset": 0}


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", content=b"{nope", headers={**token("p1", "enterprise"),
                                                                        "content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


async def test_oversized_bodies_are_refused_before_parsing(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "x" * 5000, "count": 1},
                                 headers=token("p1", "enterprise"))
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"


async def test_roles_and_ownership(client: httpx.AsyncClient) -> None:
    assert (await client.post("/things", json={"name": "ok", "count": 1})).status_code == 401
    assert (await client.post("/things", json={"name": "ok", "count": 1},
                              headers=token("p1", "solver"))).status_code == 403
    assert (await client.post("/things", json={"name": "ok", "count": 1},
                              headers=token("p1", "enterprise"))).json() == {"owner": "p1"}
    assert (await client.get("/things/p1", headers=token("p1", "solver"))).status_code == 200
    assert (await client.get("/things/p1", headers=token("p2", "solver"))).status_code == 403
    assert (await client.get("/things/p1", headers=token("p9", "regulator"))).status_code == 200
    forged = {"Authorization": "Bearer " + issue_token("x" * 40, "sizhong-gateway", "p1", {"regulator"})}
    assert (await client.get("/things/p1", headers=forged)).status_code == 401


async def test_unexpected_errors_are_problems_without_internals(client: httpx.AsyncClient) -> None:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as quiet:
        response = await quiet.get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("claims", [{"roles": 5}, {"roles": [1, 2]}, {"sub": 7}, {"kind": "root"}])
async def test_tokens_with_malformed_claims_are_401_not_500(client: httpx.AsyncClient, claims: dict) -> None:
    import jwt

    from shared.ids import utcnow

    now = int(utcnow().timestamp())
    body = {"iss": "sizhong-gateway", "sub": "p1", "roles": ["regulator"], "iat": now, "exp": now + 60, **claims}
    headers = {"Authorization": f"Bearer {jwt.encode(body, SECRET, algorithm='HS256')}"}
    assert (await client.get("/things/p1", headers=headers)).status_code == 401


def test_the_role_type_is_the_role_list() -> None:
    """`Role` (request models) and `ROLES` (checks) are one list: DESIGN §5's roles and `institute`."""
    assert len(get_args(Role)) == len(ROLES) == 15
    assert set(get_args(Role)) == ROLES == {
        "enterprise", "solver", "founder", "backer", "investor", "space_operator", "resident", "mentor", "provider",
        "agency", "reviewer", "mediator", "regulator", "admin", "institute"}
