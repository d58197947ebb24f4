"""The gateway's tables: people, organisations and issued API keys.

Identity numbers are kept as a keyed hash (duplicates), sealed (the few who may see them whole) and masked."""

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
    # Real-name verification (实名): the number as a keyed hash (duplicates), sealed (shown to the person itself,
    # admins and regulators only) and masked (everyone else).
    real_name: str | None = Field(default=None, max_length=100)
    resident_id_hash: str | None = Field(default=None, unique=True, max_length=64)
    resident_id_sealed: str | None = Field(default=None, max_length=300)
    resident_id_masked: str | None = Field(default=None, max_length=32)
    verified_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    verification_level: str | None = Field(default=None, max_length=60)

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
    uscc_sealed: str | None = Field(default=None, max_length=300, description="None for rows registered before 0002")
    verified_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    verification_level: str | None = Field(default=None, max_length=60)


class IssuedApiKey(SQLModel, table=True):
    """The gateway's record of the keys it issued (the secret itself is never stored)."""

    __tablename__ = "identity_api_keys"

    key_id: str = Field(primary_key=True, max_length=16)
    subject_id: str = Field(foreign_key="people.id", max_length=64, index=True)
    roles: str = Field(max_length=500)
    secret_sha256: str = Field(max_length=64)
    label: str = Field(max_length=100)
    issued_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
