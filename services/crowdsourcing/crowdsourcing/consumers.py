"""The one list of events the crowdsourcing service subscribes to, each mapped to its handler."""

from __future__ import annotations

from credit.contracts import ListingCurrent
from gateway.contracts import OrganisationRegistered

from shared.consumer import Subscription, Subscriptions
from shared.listings import remember_listing
from shared.replica import remember_organisation

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway", "credit"),
    handlers=(Subscription(OrganisationRegistered, remember_organisation),
              Subscription(ListingCurrent, remember_listing)),
)
