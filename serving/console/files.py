"""Static files served from the package: a closed set of names, never a path from a request."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def listing(folder: Path) -> dict[str, Path]:
    """The servable files of ``folder`` by name (not recursive; known types only)."""
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in _TYPES}


def file_response(files: dict[str, Path], name: str, max_age_s: int = 300) -> FileResponse:
    """``name`` from ``files`` (404 for any other name), with its type and a cache lifetime."""
    path = files.get(name)
    if path is None:
        raise HTTPException(404, f"no file {name[:80]!r} here")
    return FileResponse(
        path,
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": f"public, max-age={max_age_s}"},
    )
