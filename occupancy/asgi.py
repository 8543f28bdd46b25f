"""The ASGI entry point for uvicorn workers: ``occupancy.asgi:app``."""

from occupancy.app import create_app

app = create_app()
