"""Messages to people: the outbox (and, with the messaging capability, channels and cadence)."""
