"""The one list of events the crowdsourcing service subscribes to, each mapped to its handler."""

from __future__ import annotations

from gateway.contracts import OrganisationRegistered, PersonRegistered

from crowdsourcing.handlers.roster import remember_roles
from shared.consumer import Subscription, Subscriptions
from shared.replica import remember_organisation
from shared.supervision import ORDERS_TOPIC, supervision_subscription

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway", "audit"),  # audit: only its supervision orders, read from their own topic
    handlers=(Subscription(OrganisationRegistered, remember_organisation),
              Subscription(PersonRegistered, remember_roles), supervision_subscription("crowdsourcing")),
    topic_overrides={"audit": ORDERS_TOPIC},
)
