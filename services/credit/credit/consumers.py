"""The one list of events the credit service subscribes to, each mapped to its handler."""

from __future__ import annotations

from gateway.contracts import OrganisationRegistered

from credit.handlers import open_record_for_organisation
from shared.consumer import Subscription, Subscriptions

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway",),
    handlers=(Subscription(OrganisationRegistered, open_record_for_organisation),),
)
