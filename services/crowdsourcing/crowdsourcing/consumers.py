"""The one list of events the crowdsourcing service subscribes to, each mapped to its handler."""

from __future__ import annotations

from gateway.contracts import OrganisationRegistered, PersonRegistered

from crowdsourcing.handlers.roster import remember_roles
from shared.consumer import Subscription, Subscriptions
from shared.replica import remember_organisation

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway",),
    handlers=(Subscription(OrganisationRegistered, remember_organisation),
              Subscription(PersonRegistered, remember_roles)),
)
