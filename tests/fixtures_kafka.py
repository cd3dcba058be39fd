"""Fixtures for the real kafka server (see tests/conftest.py)."""
