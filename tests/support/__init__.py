"""Shared helpers for the test suite (fixtures live in tests/conftest.py)."""
