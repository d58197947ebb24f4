"""The one list of events the crowdsourcing service subscribes to, each mapped to its handler."""

from __future__ import annotations

from credit.contracts import ListingCurrent
from gateway.contracts import PersonRegistered, RoleGranted

from crowdsourcing.handlers.roster import remember_roles
from shared.consumer import Subscription, Subscriptions
from shared.listings import remember_listing
from shared.replica import subject_replica_subscriptions
from shared.supervision import ORDERS_TOPIC, supervision_subscription

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway", "credit", "audit"),  # audit: only its supervision orders, read from their own topic
    handlers=(*subject_replica_subscriptions(),
              Subscription(PersonRegistered, remember_roles),
              Subscription(RoleGranted, remember_roles),  # both carry the person's full `roles`
              Subscription(ListingCurrent, remember_listing),
              supervision_subscription("crowdsourcing")),
    topic_overrides={"audit": ORDERS_TOPIC},
)
