"""Product updates shared by every API process and kept across restarts.

``PUT /v1/products/{id}`` writes the product's metadata after the update to a product log
before it answers; every API process applies every update of that log, at start and as they
come, and re-applies them to every model it loads (serving/model_manager.py):

- ``file`` (embedded mode, one API process): an append-only, fsync'd JSON-lines file
  (file_log.py), by default ``product-updates.jsonl`` in the artifacts root;
- ``kafka`` (several pods): a compacted topic keyed by product id (topic.py).

record.py is the record's schema; updater.py ties the log to the model manager and builds
both from the settings (``make_product_updates``).
"""
