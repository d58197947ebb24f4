"""What commands and jobs need from a running service, for code that manages its own transactions.

Scheduler jobs have no request, and routes that call the payment provider cannot run inside the
request-wide unit of work (on SQLite there is one writer, and the payments module takes its own short
transactions around the provider call). Both take a context and open units of work from it:
`ServiceContext` for every service, `MoneyContext` for those that move money.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from shared.clock import Clock
from shared.db import Database
from shared.payments import Payments
from shared.uow import CommitListener, UnitOfWork


@dataclass(frozen=True)
class ServiceContext:
    db: Database
    clock: Clock
    service: str
    wake: CommitListener | None  # the relay's wake-up, so commits publish at once

    @classmethod
    def of(cls, app: FastAPI) -> ServiceContext:
        state = app.state
        return cls(state.db, state.clock, state.settings.service_name, state.relay.wake)

    def uow(self) -> UnitOfWork:
        """A new unit of work (one transaction) whose commit wakes the relay."""
        return UnitOfWork(self.db, self.service, self.wake)


@dataclass(frozen=True)
class MoneyContext(ServiceContext):
    payments: Payments

    @classmethod
    def of(cls, app: FastAPI) -> MoneyContext:
        state = app.state
        if state.payments is None:
            raise RuntimeError("this service does not move money (ServiceDefinition.moves_money)")
        return cls(state.db, state.clock, state.settings.service_name, state.relay.wake, state.payments)


def _money_context(request: Request) -> MoneyContext:
    return MoneyContext.of(request.app)


MoneyContextDep = Annotated[MoneyContext, Depends(_money_context)]
