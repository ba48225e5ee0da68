"""Messages to people: outbox, cadence, channels, dispatch, replies (see README.md here)."""
