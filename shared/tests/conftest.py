"""Fixtures of the shared mechanisms' tests that need a real broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.launcher import Broker, free_port


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    """A Tansu broker of the test module's own, on a free port."""
    broker = Broker(free_port())
    broker.start()
    yield broker
    broker.stop()
