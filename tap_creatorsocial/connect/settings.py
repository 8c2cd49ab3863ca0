"""Settings of the creator connect page, read like the tap's: config keys `connect_*` or TAP_CREATORSOCIAL_CONNECT_*.

They are not tap settings (a tap run never needs them), so they are read here rather than through the tap's
config schema. The admin secret is the one secret of the app: it gates the admin pages and, through a derived
key, signs invite links and session cookies, so rotating it logs admins out and voids every outstanding link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "TAP_CREATORSOCIAL_"
DEFAULT_PORT = 33333  # http://localhost:33333/callback is the redirect URI the sandbox app (and the docs) register
DEFAULT_INVITE_DAYS = 7.0
MIN_SECRET_LENGTH = 16
SETTING_NAMES = (
    "connect_admin_secret",
    "connect_public_url",
    "connect_invite_days",
    "connect_organization",
    "connect_proxy_hops",
)
ADMIN_FIX = (
    "Fix: set TAP_CREATORSOCIAL_CONNECT_ADMIN_SECRET (or `connect_admin_secret` in the --config file) to a long "
    "random value, e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


class ConnectSetupError(ValueError):
    """A connect-page setting is missing or wrong; the message says which and how to fix it (never its value)."""


def connect_config(config: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The `connect_*` values: from `config`, then TAP_CREATORSOCIAL_CONNECT_* environment variables on top."""
    values = {name: config[name] for name in SETTING_NAMES if config.get(name) not in (None, "")}
    for name in SETTING_NAMES:
        raw = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if raw not in (None, ""):
            values[name] = raw
    return values


@dataclass(frozen=True)
class ConnectSettings:
    """What the connect page needs besides the tap's OAuth settings (app id/secret, Graph hosts, store)."""

    admin_secret: str = field(repr=False)
    public_url: str = f"http://localhost:{DEFAULT_PORT}"
    invite_lifetime: dt.timedelta = dt.timedelta(days=DEFAULT_INVITE_DAYS)
    organization: str = ""
    proxy_hops: int = 0  # reverse proxies in front that set X-Forwarded-For/-Proto/-Host (0: trust none)

    def __post_init__(self) -> None:
        if len(self.admin_secret) < MIN_SECRET_LENGTH:
            raise ConnectSetupError(
                f"The connect page's admin secret is missing or shorter than {MIN_SECRET_LENGTH} characters. "
                + ADMIN_FIX
            )
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConnectSetupError(
                f"`connect_public_url` {self.public_url!r} is not an http(s) base URL. Fix: set it to the address "
                "creators open, e.g. https://connect.example.com (its /callback must be a Valid OAuth Redirect URI)."
            )
        if self.invite_lifetime <= dt.timedelta(0):
            raise ConnectSetupError("`connect_invite_days` must be positive. Fix: e.g. 7.")
        if self.proxy_hops < 0:
            raise ConnectSetupError("`connect_proxy_hops` must be 0 or more. Fix: 1 behind one reverse proxy.")

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        environ: Mapping[str, str],
        *,
        port: int = DEFAULT_PORT,
        overrides: Mapping[str, Any] | None = None,
    ) -> ConnectSettings:
        """Config file values, then environment, then command-line `overrides` (non-None ones)."""
        values = connect_config(config, environ)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        try:
            days = float(values.get("connect_invite_days", DEFAULT_INVITE_DAYS))
            hops = int(values.get("connect_proxy_hops", 0))
        except (TypeError, ValueError):
            raise ConnectSetupError(
                "`connect_invite_days` must be a number and `connect_proxy_hops` an integer. Fix: e.g. 7 and 1."
            ) from None
        return cls(
            admin_secret=str(values.get("connect_admin_secret") or ""),
            public_url=str(values.get("connect_public_url") or f"http://localhost:{port}").rstrip("/"),
            invite_lifetime=dt.timedelta(days=days),
            organization=str(values.get("connect_organization") or ""),
            proxy_hops=hops,
        )

    @property
    def redirect_uri(self) -> str:
        """The OAuth redirect URI: must be listed in the Meta app's Valid OAuth Redirect URIs, exactly."""
        return f"{self.public_url}/callback"

    @property
    def secure(self) -> bool:
        """Served over HTTPS (directly or by a reverse proxy): cookies get the Secure flag."""
        return self.public_url.startswith("https://")

    def derived_key(self, purpose: str) -> bytes:
        """A key for one purpose (cookies, invites) derived from the admin secret, so one secret is all to manage."""
        return hmac.new(
            self.admin_secret.encode(), f"tap-creatorsocial connect/{purpose}".encode(), hashlib.sha256
        ).digest()
