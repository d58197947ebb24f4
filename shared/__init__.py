"""Mechanisms shared by every Sizhong service: envelope, outbox, inbox, bus, db, settings, auth, ids."""
