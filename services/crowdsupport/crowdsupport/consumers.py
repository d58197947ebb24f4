"""The one list of events the crowdsupport service subscribes to, each mapped to its handler."""

from __future__ import annotations

from shared.consumer import Subscriptions
from shared.replica import subject_replica_subscriptions

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway",),
    handlers=subject_replica_subscriptions(),
)
