"""Commands: each runs in one unit of work (one transaction) and writes its events to the outbox there.

Split by aggregate: `campaigns` (lifecycle, review, tiers, updates, delivery), `pledges` (units, payment
outcomes, cancellation, refunds, confirmations, risk), `settlement` (deadlines, refunds, tranches, payouts),
`equity` (investor profiles and the investor-protection decisions)."""
