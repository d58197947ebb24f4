"""Events the gateway publishes (identity context). Consumers import these models; wire names are fixed."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.envelope import EventData


class OrganisationRegistered(EventData):
    event_type = "cn.sizhong.identity.organisation.registered.v1"

    organisation_id: str
    name: str = Field(max_length=200)
    uscc_masked: str
    region_code: str = Field(pattern=r"^\d{6}$")
    owner_id: str


class PersonRegistered(EventData):
    event_type = "cn.sizhong.identity.person.registered.v1"

    person_id: str
    username: str
    roles: list[str]
    display_name: str = Field(default="", max_length=100, description="the name the person chose (not its real name)")


class PersonVerified(EventData):
    """Real-name verification passed (resident identity number and name confirmed by the verifier)."""

    event_type = "cn.sizhong.identity.person.verified.v1"

    person_id: str
    display_name: str = Field(max_length=100)
    resident_id_masked: str
    verified_at: datetime
    level: str = Field(description="verifier and method, e.g. 'sandbox:id_and_name'")


class OrganisationVerified(EventData):
    """The organisation's USCC and name confirmed by the verifier; the code is bound to `owner_id`."""

    event_type = "cn.sizhong.identity.organisation.verified.v1"

    organisation_id: str
    name: str = Field(max_length=200)
    uscc_masked: str
    owner_id: str
    verified_at: datetime
    level: str


class RoleGranted(EventData):
    event_type = "cn.sizhong.identity.role.granted.v1"

    person_id: str
    role: str
    granted_by: str
    roles: list[str] = Field(description="every role the person holds after the grant")


class ApiKeyIssued(EventData):
    """A machine client's key; only the secret's SHA-256 travels, never the secret."""

    event_type = "cn.sizhong.identity.api_key.issued.v1"

    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    subject_id: str
    roles: list[str]
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    expires_at: datetime


class ApiKeyRevoked(EventData):
    event_type = "cn.sizhong.identity.api_key.revoked.v1"

    key_id: str
    subject_id: str
    revoked_at: datetime
