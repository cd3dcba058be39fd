"""HTTP API: one router per resource (recommendations, products, events, admin, health).

Only this package speaks HTTP: it validates input, calls the serving parts, and turns their
errors into JSON error responses (:mod:`serving.api.errors`).
"""
