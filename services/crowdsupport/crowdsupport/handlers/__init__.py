"""Crowd-support commands, one unit of work (one transaction) each: state, ledger postings and outbox events
together. Ownership is checked here against rows read in the same transaction."""
