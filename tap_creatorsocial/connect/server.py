"""Running the connect page: Flask's development server for local use and demos, or any WSGI server in production.

Production: `gunicorn -w 2 -b 127.0.0.1:8000 'tap_creatorsocial.connect.wsgi:app'` (or `waitress-serve --call
tap_creatorsocial.connect.server:create_app_from_environ`) behind an HTTPS reverse proxy; settings then come from
TAP_CREATORSOCIAL_* environment variables and the optional JSON file named by TAP_CREATORSOCIAL_CONFIG_FILE.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TextIO

from flask import Flask

from .app import create_app
from .settings import ConnectSettings

log = logging.getLogger("tap-creatorsocial.connect")


def create_app_from_environ(environ: Mapping[str, str] | None = None) -> Flask:
    """The app configured like `tap-creatorsocial-auth` (for WSGI servers, which cannot pass CLI flags)."""
    from tap_creatorsocial.auth_cli import load_config

    env = os.environ if environ is None else environ
    files = [env["TAP_CREATORSOCIAL_CONFIG_FILE"]] if env.get("TAP_CREATORSOCIAL_CONFIG_FILE") else []
    config = load_config(files, env)
    return create_app(config, ConnectSettings.from_config(config, env))


def serve(app: Flask, settings: ConnectSettings, host: str, port: int, *, out: TextIO) -> None:
    """Flask's development server (threaded): fine on localhost and for demos, not on the open internet."""
    print(
        f"Creator connect page: admin at {settings.public_url}/admin (sign in with the admin secret).\n"
        f"Meta redirects consent to {settings.redirect_uri}: it must be a Valid OAuth Redirect URI of the app.\n"
        f"Listening on http://{host}:{port} (development server; see README for gunicorn behind HTTPS). Ctrl+C stops.",
        file=out,
        flush=True,
    )
    if not settings.secure and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Serving plain HTTP on %s: put it behind an HTTPS reverse proxy and set connect_public_url", host)
    app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False, load_dotenv=False)
