"""The one list of events the credit service subscribes to, each mapped to its handler.

Every event type of the fact table (credit.domain.facts) is scored by the same handler; the organisation
registrations open records.
"""

from __future__ import annotations

from gateway.contracts import OrganisationRegistered

from credit.domain.facts import FACT_TABLE
from credit.handlers import open_record_for_organisation, score_event
from shared.consumer import Subscription, Subscriptions

SUBSCRIPTIONS = Subscriptions(
    sources=("gateway", "crowdsourcing", "crowdfunding", "makerspace", "crowdsupport"),
    handlers=(Subscription(OrganisationRegistered, open_record_for_organisation),
              *(Subscription(model, score_event) for model in FACT_TABLE)),
)
