"""Errors a use case raises to refuse a write; every path turns them into a user message."""
from __future__ import annotations


class WriteRefused(Exception):
    """The write breaks a rule; ``errors`` maps field name (or ``_``) to a message."""

    def __init__(self, errors: dict):
        self.errors = {k: str(m) for k, m in errors.items()}
        super().__init__("; ".join(self.errors.values()))
