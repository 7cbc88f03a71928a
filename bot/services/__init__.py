"""Use cases: load state, call the domain, persist fact and outbox in one transaction."""
