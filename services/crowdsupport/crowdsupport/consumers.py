"""The one list of events the crowdsupport service subscribes to, each mapped to its handler."""

from __future__ import annotations

from credit.contracts import ListingCurrent

from crowdsupport.supervision import supervision
from shared.consumer import Subscription, Subscriptions
from shared.listings import remember_listing
from shared.replica import subject_replica_subscriptions
from shared.supervision import ORDERS_TOPIC

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway", "credit", "audit"),  # audit: only its supervision orders, read from their own topic
    handlers=(*subject_replica_subscriptions(), Subscription(ListingCurrent, remember_listing), supervision()),
    topic_overrides={"audit": ORDERS_TOPIC},
)
