"""Events the gateway publishes (identity context). Consumers import these models; wire names are fixed."""

from __future__ import annotations

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
