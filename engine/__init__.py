"""nowrec engine: pure library (no network clients, no web framework, no environment reads)."""
