"""The one list of events the crowdfunding service subscribes to, each mapped to its handler."""

from __future__ import annotations

from gateway.contracts import OrganisationRegistered

from crowdfunding.supervision import supervision
from shared.consumer import Subscription, Subscriptions
from shared.replica import remember_organisation
from shared.supervision import ORDERS_TOPIC

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway", "audit"),  # audit: only its supervision orders, read from their own topic
    handlers=(Subscription(OrganisationRegistered, remember_organisation), supervision()),
    topic_overrides={"audit": ORDERS_TOPIC},
)
