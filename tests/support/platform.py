"""The platform under test: a real broker and the services as processes, and the calls tests make."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from gateway.domain.resident_id import check_digit
from gateway.domain.uscc import ALPHABET, check_character

from shared.auth import issue_token
from shared.launcher import Broker, Platform, free_port
from shared.settings import SERVICES
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    platform_on_postgres,
    require_postgres,
)

JWT_SECRET = "test-jwt-secret-" + "x" * 32
ISSUER = "sizhong-gateway"
T = TypeVar("T")


def fresh_uscc() -> str:
    """A valid, never-before-seen unified social credit code (random organisation code)."""
    body = "91" + "110108" + "".join(secrets.choice(ALPHABET) for _ in range(9))
    return body + check_character(body)


def fresh_resident_id() -> str:
    """A valid GB 11643 resident identity number nobody has used (random birth date and sequence)."""
    born = date(1960, 1, 1) + timedelta(days=secrets.randbelow(15000))
    body = "110105" + born.strftime("%Y%m%d") + f"{secrets.randbelow(1000):03d}"
    return body + check_digit(body)


def mint(subject: str, *roles: str) -> dict[str, str]:
    """A token as the gateway would issue it (for roles that sign-up does not hand out)."""
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, ISSUER, subject, set(roles))}"}


async def eventually(check: Callable[[], Awaitable[T]], within: float = 10.0, every: float = 0.05) -> T:
    """Wait for an asynchronous effect (an event crossing services); fails with the last reason."""
    deadline = time.monotonic() + within
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            return await check()
        except (AssertionError, httpx.HTTPError) as exc:
            last = exc
        await asyncio.sleep(every)
    raise AssertionError(f"not true within {within}s: {last!r}")


class PlatformUnderTest:
    """The running platform plus the calls tests make against it."""

    def __init__(self, platform: Platform, log_path: Path) -> None:
        self.platform = platform
        self.log_path = log_path
        self.admin = mint("admin-1", "admin")
        self.regulator = mint("regulator-1", "regulator")

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.platform.ports[service]}"

    def client(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url(service), timeout=30)

    async def person(self, *roles: str) -> tuple[str, dict[str, str]]:
        """Sign up a fresh person through the gateway and log in; returns (id, auth headers)."""
        username = f"u{secrets.token_hex(6)}"
        async with self.client("gateway") as gateway:
            created = await gateway.post("/auth/signup", json={
                "username": username, "password": "password-123", "display_name": username,
                "roles": list(roles)})
            assert created.status_code == 201, created.text
            login = await gateway.post("/auth/token", data={"username": username, "password": "password-123"})
            assert login.status_code == 200, login.text
        return created.json()["id"], {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def register_organisation(self, headers: dict[str, str], name: str | None = None) -> dict[str, Any]:
        async with self.client("gateway") as gateway:
            response = await gateway.post("/organisations", headers=headers,
                                          json={"name": name or f"Org {secrets.token_hex(4)}", "uscc": fresh_uscc()})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def verify_person(self, headers: dict[str, str], real_name: str = "张三") -> dict[str, Any]:
        """Real-name verification through the gateway's sandbox verifier."""
        async with self.client("gateway") as gateway:
            response = await gateway.post("/people/me/verification", headers=headers,
                                          json={"real_name": real_name, "resident_id": fresh_resident_id()})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def verified_organisation(self, headers: dict[str, str]) -> dict[str, Any]:
        """The applicant verifies itself, registers an organisation and has it verified (the code bound to it)."""
        await self.verify_person(headers)
        organisation = await self.register_organisation(headers)
        async with self.client("gateway") as gateway:
            response = await gateway.post(f"/organisations/{organisation['id']}/verification", headers=headers)
        assert response.status_code == 200, response.text
        return organisation

    async def get(self, service: str, path: str, headers: dict[str, str] | None = None,
                  **params: Any) -> httpx.Response:
        async with self.client(service) as client:
            return await client.get(path, headers=headers or self.admin, params=params)

    async def credit_record(self, subject_id: str) -> dict[str, Any]:
        response = await self.get("credit", f"/records/{subject_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def audit_entries(self, **filters: Any) -> list[dict[str, Any]]:
        response = await self.get("audit", "/log/entries", self.regulator, limit=1000, **filters)
        assert response.status_code == 200, response.text
        return list(response.json()["entries"])

    async def feed_head(self, service: str) -> int:
        """The sequence of a service's latest outbox event: a mark to read its feed from later."""
        response = await self.get(service, "/events", limit=1)
        assert response.status_code == 200, response.text
        return int(response.json()["head"])

    async def feed(self, service: str, after: int = 0) -> list[dict[str, Any]]:
        """A service's outbox feed after `after`, every page of it (a long run outgrows any one page)."""
        events: list[dict[str, Any]] = []
        while True:
            response = await self.get(service, "/events", after=after, limit=1000)
            assert response.status_code == 200, response.text
            page = response.json()
            events += page["events"]
            if not page["events"] or page["next_after"] >= page["head"]:
                return events
            after = page["next_after"]

    async def completeness(self, service: str) -> dict[str, Any]:
        response = await self.get(service, "/completeness")
        assert response.status_code == 200, response.text
        return dict(response.json())


def start_platform(tmp: Path, names: Iterable[str], env: dict[str, str] | None = None) -> Iterator[PlatformUnderTest]:
    names = list(names)
    log_path = tmp / "platform.log"
    sink = log_path.open("a", encoding="utf-8")
    broker = Broker(free_port(), sink)
    broker.start()
    databases: dict[str, str] = {}
    created: list[str] = []
    if platform_on_postgres():
        require_postgres()
        for name in names:
            database = f"sz_{secrets.token_hex(4)}_{name}"
            databases[name] = create_postgres_database(database)
            created.append(database)
    base_env = {
        **os.environ, "JWT_SECRET": JWT_SECRET, "PII_KEY": "test-pii-key-" + "y" * 32,
        "VAR_DIR": str(tmp / "var"), "LOG_LEVEL": "INFO", "GAP_GRACE_SECONDS": "0.5",
        "RECONCILE_INTERVAL_SECONDS": "2", "RELAY_MAX_BACKOFF_SECONDS": "1",
        "CONSUMER_SESSION_TIMEOUT_MS": "3000", "CLOCK_MODE": "adjustable", **(env or {}),
    }
    ports = {name: free_port() for name in SERVICES}
    platform = Platform(broker=broker, ports=ports, base_env=base_env, database_urls=databases, sink=sink)
    try:
        platform.start(names)
        yield PlatformUnderTest(platform, log_path)
    finally:
        platform.stop()
        sink.close()
        for database in created:
            drop_postgres_database(database)
