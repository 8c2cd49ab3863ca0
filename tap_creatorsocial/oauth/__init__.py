"""Persisted OAuth for many creators: the store (`store`), the login/renewal calls (`flows`) and the run-time
bridge to the tap's connections (`manager`). The `tap-creatorsocial-auth` CLI (`auth_cli.py`) drives them."""

from __future__ import annotations

from .flows import (
    DEFAULT_CALLBACK_URL,
    OAuthClient,
    OAuthFlowError,
    OAuthSettings,
    OAuthStateError,
    browser_login,
    parse_instagram_token_response,
    parse_redirect,
)
from .manager import MODES, AuthProblem, AuthSetupError, OAuthManager, initiate_mode, usable_connection_count
from .store import (
    FileStore,
    Health,
    MemoryStore,
    OAuthStore,
    OAuthStoreError,
    StoreData,
    StoredConnection,
    assess,
    default_store_path,
    open_store,
)

__all__ = [
    "DEFAULT_CALLBACK_URL",
    "MODES",
    "AuthProblem",
    "AuthSetupError",
    "FileStore",
    "Health",
    "MemoryStore",
    "OAuthClient",
    "OAuthFlowError",
    "OAuthManager",
    "OAuthSettings",
    "OAuthStateError",
    "OAuthStore",
    "OAuthStoreError",
    "StoreData",
    "StoredConnection",
    "assess",
    "browser_login",
    "default_store_path",
    "initiate_mode",
    "open_store",
    "parse_instagram_token_response",
    "parse_redirect",
    "usable_connection_count",
]
