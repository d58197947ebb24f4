"""The one list of events the crowdsupport service subscribes to, each mapped to its handler."""

from __future__ import annotations

from credit.contracts import ListingCurrent

from shared.consumer import Subscription, Subscriptions
from shared.listings import remember_listing
from shared.replica import subject_replica_subscriptions

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway", "credit"),
    handlers=(*subject_replica_subscriptions(), Subscription(ListingCurrent, remember_listing)),
)
