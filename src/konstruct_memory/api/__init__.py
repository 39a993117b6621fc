"""The HTTP face: FastAPI app, errors, limits and metrics."""

from konstruct_memory.api.app import create_app

__all__ = ["create_app"]
