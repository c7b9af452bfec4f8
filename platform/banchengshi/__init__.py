"""The Banchengshi Django project: settings, URLs, the Celery app and shared building blocks."""

from banchengshi.celery import app as celery_app

__all__ = ["celery_app"]
