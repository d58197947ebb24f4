"""Credit's adjustable clock on the session-wide platform, put back on the real time after a test that moved it.

The clock only moves forward and lives in credit's process, so a test that moves it past a notice period would
leave every later test (whatever reads credit's clock: notices, feedback deadlines, publication windows) a week
or more in the future. `restore_credit_clock` restarts credit (its database, the broker, its port and its
consumer group stay) and checks the clock is at offset 0 again; the `credit_clock_restored` fixture in
tests/conftest.py calls it after the test, even when the test failed."""

from __future__ import annotations

import httpx

from tests.support.platform import PlatformUnderTest


def credit_offset(platform: PlatformUnderTest) -> float:
    """How far credit's clock is ahead of the real time, in seconds."""
    with httpx.Client(base_url=platform.url("credit"), timeout=30) as client:
        response = client.get("/testing/clock", headers=platform.admin)
    assert response.status_code == 200, response.text
    return float(response.json()["offset_seconds"])


def restore_credit_clock(platform: PlatformUnderTest) -> None:
    """Restart credit if its clock was moved; afterwards it runs on the real time."""
    if credit_offset(platform) == 0:
        return
    platform.platform.services["credit"].stop()
    platform.platform.start_service("credit").wait_healthy(probe="/readyz")
    assert credit_offset(platform) == 0
