"""WSGI entry point for production servers: `gunicorn 'tap_creatorsocial.connect.wsgi:app'`."""

from __future__ import annotations

from .server import create_app_from_environ

app = create_app_from_environ()
