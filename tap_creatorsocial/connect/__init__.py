"""The creator connect page: `tap-creatorsocial-auth serve`, a small Flask app writing into the tap's OAuth store.

Agencies send each creator a signed, single-use invite link; the creator grants read-only access through Meta's
consent dialog and the connection lands in the same store the tap reads. See README "Creator connect page".
"""

from __future__ import annotations

from .app import create_app
from .server import create_app_from_environ, serve
from .settings import ConnectSettings, ConnectSetupError

__all__ = ["ConnectSettings", "ConnectSetupError", "create_app", "create_app_from_environ", "serve"]
