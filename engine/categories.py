"""Category indexes: how category ids (text) become the small integers every model uses.

One definition for the corpus (training), the product metadata and the served catalogue, so a
category has the same index wherever it is read from the same items.
"""

from __future__ import annotations

NO_CATEGORY = -1
"""Category index of an item whose category is unknown."""
