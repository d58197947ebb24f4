"""Routes that exist only when CLOCK_MODE=adjustable (tests and demonstrations): move the clock, run a job.

They let an end-to-end test pass an acceptance window or a deadline without sleeping. Admin only, and
absent from every deployment that keeps the default system clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from shared.auth import Principal, require_roles
from shared.clock import AdjustableClock


class Advance(BaseModel):
    seconds: float = Field(gt=0, le=10 * 365 * 24 * 3600)


Admin = Annotated[Principal, require_roles("admin")]


def testing_router() -> APIRouter:
    router = APIRouter(prefix="/testing", tags=["testing"])

    @router.get("/clock")
    async def read_clock(request: Request, _admin: Admin) -> dict[str, Any]:
        clock: AdjustableClock = request.app.state.clock
        return {"now": clock.now().isoformat(), "offset_seconds": clock.offset.total_seconds()}

    @router.post("/clock/advance")
    async def advance_clock(body: Advance, request: Request, _admin: Admin) -> dict[str, Any]:
        clock: AdjustableClock = request.app.state.clock
        now = clock.advance(timedelta(seconds=body.seconds))
        return {"now": now.isoformat(), "offset_seconds": clock.offset.total_seconds()}

    @router.post("/jobs/{name}/run")
    async def run_job(name: str, request: Request, _admin: Admin) -> dict[str, Any]:
        scheduler = request.app.state.scheduler
        if scheduler is None or name not in scheduler.runs:
            raise HTTPException(404, f"no scheduled job named {name!r}")
        return {"job": name, "acted": await scheduler.run_now(name)}

    return router
