"""A/B experiments: what a variant serves, how sessions are assigned, how variants compare.

- :mod:`engine.experiments.config`: experiments declared by the shop, validated.
- :mod:`engine.experiments.assignment`: sticky assignment of a session to a variant, fixed
  weights or Thompson sampling.
- :mod:`engine.experiments.stats`: the report's statistics (session as the unit).
"""
