"""The yardstick of benchmarks/serve_load.py: what a user writes first with FastAPI.

A plain FastAPI app with one route returning a constant list of 20 items, on uvicorn with its
pure-Python HTTP parser and event loop pinned (``http="h11", loop="asyncio"``), so that no
choice of ours (parsers, loops, settings) moves it. Run: ``python benchmarks/support/yardstick.py
PORT``.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()
ITEMS = [{"product_id": str(1000 + i), "score": 1.0 - i / 100} for i in range(20)]


@app.get("/items")
async def items() -> list[dict]:
    return ITEMS


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="h11", loop="asyncio",
                log_level="warning", access_log=False)  # fmt: skip
