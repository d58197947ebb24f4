"""End-to-end fixtures: one platform (every service as a process, a real Tansu broker) per test run.

Tests share it and use fresh identifiers; tests that stop the broker or kill processes start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.settings import SERVICES
from tests.support.credit_clock import restore_credit_clock
from tests.support.platform import PlatformUnderTest, start_platform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """Every service, started once for the whole run."""
    yield from start_platform(tmp_path_factory.mktemp("platform"), SERVICES)



@pytest.fixture
def credit_clock_restored(platform: PlatformUnderTest) -> Iterator[None]:
    """For a test that moves credit's clock (past a notice period): credit is back on the real time afterwards,
    even if the test failed (tests.support.credit_clock)."""
    yield
    restore_credit_clock(platform)
