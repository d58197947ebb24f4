"""The gateway's tables: people and organisations. Identity numbers are kept as a keyed hash and masked."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.db import utc_column


class Person(SQLModel, table=True):
    __tablename__ = "people"

    id: str = Field(primary_key=True, max_length=64)
    username: str = Field(unique=True, max_length=64)
    display_name: str = Field(max_length=100)
    password_hash: str = Field(max_length=200)
    roles: str = Field(max_length=500, description="space-separated role names")
    created_at: datetime = Field(sa_column=utc_column())

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    uscc_hash: str = Field(unique=True, max_length=64)
    uscc_masked: str = Field(max_length=32)
    region_code: str = Field(max_length=6)
    owner_id: str = Field(foreign_key="people.id", max_length=64, index=True)
    created_at: datetime = Field(sa_column=utc_column())
