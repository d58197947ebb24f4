"""The one list of events the credit service subscribes to, each mapped to its handler.

The gateway's registrations open records (organisations and people) and a person's real-name verification brings
the masked number; every event type of the fact table (credit.domain.facts) is scored by the same handler, which
dates notices by the service clock it is given.
"""

from __future__ import annotations

from gateway.contracts import OrganisationRegistered, PersonRegistered, PersonVerified

from credit.domain.facts import FACT_TABLE
from credit.handlers import Scoring, open_record_for_organisation, open_record_for_person, record_person_verified
from shared.clock import Clock
from shared.consumer import Subscription, Subscriptions

SOURCES = ("gateway", "crowdsourcing", "crowdfunding", "makerspace", "crowdsupport")


def credit_subscriptions(clock: Clock) -> Subscriptions:
    scoring = Scoring(clock)
    return Subscriptions(
        sources=SOURCES,
        handlers=(Subscription(OrganisationRegistered, open_record_for_organisation),
                  Subscription(PersonRegistered, open_record_for_person),
                  Subscription(PersonVerified, record_person_verified),
                  *(Subscription(model, scoring.score_event) for model in FACT_TABLE)),
        before_batch=scoring.preload,
    )
