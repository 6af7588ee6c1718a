"""The clinician web app and JSON API (``maswatch serve``; docs/service.md).

Routes translate, services (maswatch.monitoring) decide, the core computes. ``create_app``
reads the configuration once; the engine and the in-server monitor live in ``lifespan``.
"""

from .app import create_app

__all__ = ["create_app"]
