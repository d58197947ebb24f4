"""What commands and jobs need from a running service, for code that manages its own transactions.

Routes that call the payment provider cannot run inside the request-wide unit of work (on SQLite there is
one writer, and the payments module takes its own short transactions around the provider call), and
scheduler jobs have no request at all. Both take a `ServiceContext` and open units of work from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from shared.clock import Clock
from shared.db import Database
from shared.payments import Payments
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class ServiceContext:
    db: Database
    payments: Payments
    clock: Clock
    service: str
    wake: Callable[[], None] | None = None

    @classmethod
    def of(cls, app: FastAPI) -> ServiceContext:
        state = app.state
        return cls(state.db, state.payments, state.clock, state.settings.service_name, state.relay.wake)

    def uow(self) -> UnitOfWork:
        """A new unit of work (one transaction) whose commit wakes the relay."""
        return UnitOfWork(self.db, self.service, self.wake)


def _context(request: Request) -> ServiceContext:
    return ServiceContext.of(request.app)


ContextDep = Annotated[ServiceContext, Depends(_context)]
