"""Messaging commands: `buddy dispatch` and `buddy scheduler` (with the messaging capability)."""

COMMANDS: list = []
