"""Crowd-support routes: parse, authorise by role (ownership is checked in the handlers against the rows they
lock, or here for reads), call one handler, shape the response."""

from __future__ import annotations

from fastapi import APIRouter

from crowdsupport.api import catalogue, instruments, mentors, vouchers

router = APIRouter()
for part in (vouchers.router, instruments.router, mentors.router, catalogue.router):
    router.include_router(part)
