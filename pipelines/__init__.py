"""Batch jobs and their CLI: event sources, sessionization, training, evaluation, demo data."""
