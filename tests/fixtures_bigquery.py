"""Fixtures for the real bigquery server (see tests/conftest.py)."""
