"""Fixtures for the real redis server (see tests/conftest.py)."""
