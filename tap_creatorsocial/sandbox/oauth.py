"""OAuth endpoints and consent dialogs of both login paths (reference §2).

Facebook Login: ``www.facebook.com/vNN.0/dialog/oauth`` → ``{redirect_uri}?code&state``; ``GET
graph.facebook.com/vNN.0/oauth/access_token`` (code grant → short-lived token, ``fb_exchange_token`` → long-lived,
``client_credentials`` → app token); ``/debug_token``; ``GET/DELETE /me/permissions``.

Instagram Login: ``www.instagram.com/oauth/authorize`` → ``{redirect_uri}?code&state#_``; ``POST
api.instagram.com/oauth/access_token`` (form) → ``{"data":[{access_token,user_id,permissions}]}`` (or the flat shape
when ``Scenario.ig_flat_token_response``); ``graph.instagram.com/access_token`` (``ig_exchange_token``) and
``/refresh_access_token`` (``ig_refresh_token``; the token must be >= 24 h old and unexpired).

The consent pages are plain HTML forms that POST back to the same URL, so they work in-process and behind the HTTP
server's ``/<host>/`` prefix alike. Codes are single use, valid 1 hour, bound to client_id and redirect_uri.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import errors, rules
from .errors import GraphError
from .model import Account, LoginKind
from .tokens import CodeError, TokenRecord

if TYPE_CHECKING:
    from .api import GraphEmulator, GraphRequest, SandboxResponse

FACEBOOK_SCOPES = frozenset(
    {
        "public_profile",
        "email",
        "instagram_basic",
        "instagram_manage_insights",
        "instagram_manage_comments",
        "instagram_content_publish",
        "instagram_manage_messages",
        "instagram_manage_contents",
        "instagram_manage_engagement",
        "pages_show_list",
        "pages_read_engagement",
        "pages_read_user_content",
        "pages_manage_metadata",
        "business_management",
        "ads_management",
        "ads_read",
    }
)
# The pre-2025-01-27 names (business_basic, ...) stopped working and are rejected as invalid scopes.
INSTAGRAM_SCOPES = frozenset(
    {
        "instagram_business_basic",
        "instagram_business_manage_insights",
        "instagram_business_manage_comments",
        "instagram_business_content_publish",
        "instagram_business_manage_messages",
    }
)
CODE_VERIFY_MESSAGE = (
    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the "
    "OAuth dialog request"
)


# ---------------------------------------------------------------------------------------------- helpers


def _with_query(uri: str, params: dict[str, str], fragment: str = "") -> str:
    sep = "&" if "?" in uri else "?"
    return f"{uri}{sep}{urlencode(params)}{fragment}"


def _split_scopes(raw: str) -> list[str]:
    return [s.strip() for s in raw.replace(" ", ",").split(",") if s.strip()]


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto}"
        ".sbx{background:#fde68a;padding:.3rem .6rem;border-radius:.3rem;font-size:.8rem}"
        "button{margin:.3rem;padding:.5rem 1rem}</style></head><body>"
        "<p class='sbx'>tap-creatorsocial SANDBOX - not Meta. No real account is involved.</p>"
        f"{body}</body></html>"
    )


def _error_page(emu: GraphEmulator, title: str, message: str) -> SandboxResponse:
    from .api import html_response

    return html_response(400, _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"))


def _ig_json_error(message: str, status: int = 400) -> SandboxResponse:
    """api.instagram.com's own error format (not the Graph ``{"error":{...}}`` shape)."""
    from .api import json_response

    return json_response(status, {"error_type": "OAuthException", "code": 400, "error_message": message})


# ---------------------------------------------------------------------------------------------- dialogs


def handle_web(
    emu: GraphEmulator, method: str, host: str, path: str, params: dict[str, str], base_url: str
) -> SandboxResponse:
    """Requests to www.facebook.com, www.instagram.com and api.instagram.com."""
    from .api import FB_WWW, IG_API, IG_WWW, SandboxResponse

    segments = [s for s in path.split("/") if s]
    if host == FB_WWW:
        if segments and segments[0].startswith("v") and rules.parse_version(segments[0], emu.now()) is not None:
            segments = segments[1:]
        if segments == ["dialog", "oauth"]:
            return _dialog(emu, "facebook", method, params)
    elif host == IG_WWW:
        if segments == ["oauth", "authorize"]:
            return _dialog(emu, "instagram", method, params)
    elif host == IG_API and segments == ["oauth", "access_token"]:
        return _ig_code_exchange(emu, method, params)
    page = _page("Not found", "<h1>404</h1>").encode()
    return SandboxResponse(404, {"Content-Type": "text/html; charset=utf-8"}, page)


def _identities(emu: GraphEmulator, login: LoginKind) -> list[tuple[str, str, list[str]]]:
    """(owner id, display name, grantable scopes) of the people who can log in on this dialog."""
    if login == "facebook":
        return [(u.id, u.name, list(u.scopes)) for u in emu.dataset.facebook_users]
    out = []
    for ig in emu.dataset.instagram_users:
        acct: Account | None = emu.dataset.accounts.get(ig.account_id)
        out.append((ig.account_id, f"@{acct.username}" if acct else ig.account_id, list(ig.scopes)))
    return out


def _dialog(emu: GraphEmulator, login: LoginKind, method: str, params: dict[str, str]) -> SandboxResponse:
    """Consent page (GET) and the user's decision (POST) → 302 to the app's redirect_uri."""
    from .api import html_response, redirect_response

    app = emu.dataset.app
    brand = "Facebook" if login == "facebook" else "Instagram"
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if client_id != app.id:
        return _error_page(
            emu, "Invalid App ID", f"The provided app ID {client_id!r} does not look like a valid app ID."
        )
    if redirect_uri not in app.redirect_uris:
        return _error_page(
            emu,
            "URL Blocked",
            "This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.",
        )
    response_type = params.get("response_type", "code" if login == "facebook" else "")
    if response_type != "code":
        return _error_page(emu, "Invalid Request", "response_type must be code")
    scopes = _split_scopes(params.get("scope", ""))
    valid = FACEBOOK_SCOPES if login == "facebook" else INSTAGRAM_SCOPES
    invalid = [s for s in scopes if s not in valid]
    if invalid:
        return _error_page(emu, "Invalid Scopes", f"Invalid Scopes: {', '.join(invalid)}")
    if login == "instagram" and not scopes:
        return _error_page(emu, "Invalid Request", "scope is required")
    people = _identities(emu, login)
    if not people:
        return _error_page(emu, "No account", f"The sandbox dataset has no {brand}-login account.")
    state = params.get("state")
    if method == "GET":
        hidden = "".join(
            f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
            for k, v in params.items()
            if k != "decision"
        )
        buttons = "".join(
            f"<button name='decision' value='allow:{html.escape(pid)}'>Continue as {html.escape(name)}</button>"
            for pid, name, _ in people
        )
        scope_list = "".join(f"<li>{html.escape(s)}</li>" for s in scopes) or "<li>public_profile</li>"
        body = (
            f"<h1>Log in with {brand}</h1><p>The app <b>{html.escape(app.id)}</b> is requesting:</p>"
            f"<ul>{scope_list}</ul><form method='post' action=''>{hidden}{buttons}"
            "<button name='decision' value='cancel'>Cancel</button></form>"
        )
        return html_response(200, _page(f"{brand} login - sandbox", body))
    if method != "POST":
        return _error_page(emu, "Invalid Request", f"Unsupported method {method}")
    decision = params.get("decision", "")
    extra = {"state": state} if state is not None else {}
    if decision == "cancel":
        if login == "facebook":
            denied = {"error_reason": "user_denied", "error": "access_denied", "error_description": "Permissions error"}
        else:
            denied = {
                "error": "access_denied",
                "error_reason": "user_denied",
                "error_description": "The user denied your request",
            }
        return redirect_response(_with_query(redirect_uri, {**denied, **extra}))
    if not decision.startswith("allow"):
        return _error_page(emu, "Invalid Request", "decision must be allow or cancel")
    chosen = decision.partition(":")[2] or people[0][0]
    person = next((p for p in people if p[0] == chosen), None)
    if person is None:
        return _error_page(emu, "Invalid Request", f"unknown account {chosen}")
    granted = [s for s in scopes if s in person[2]] or (["public_profile"] if login == "facebook" else [])
    code = emu.tokens.issue_code(
        login=login, client_id=client_id, redirect_uri=redirect_uri, owner_id=person[0], scopes=granted, now=emu.now()
    )
    fragment = "#_" if login == "instagram" else ""
    return redirect_response(_with_query(redirect_uri, {"code": code, **extra}, fragment))


# ---------------------------------------------------------------------------------------------- token endpoints


def _check_client(emu: GraphEmulator, params: dict[str, str], *, need_secret: bool = True) -> None:
    app = emu.dataset.app
    client_id = params.get("client_id")
    if not client_id:
        raise GraphError("Missing client_id parameter.", code=101)
    if client_id != app.id:
        raise GraphError("Error validating application. Invalid application ID.", code=101)
    if need_secret and params.get("client_secret") != app.secret:
        raise GraphError("Error validating client secret.", code=1)


def _token_payload(rec: TokenRecord, emu: GraphEmulator) -> dict[str, Any]:
    return {"access_token": rec.token, "token_type": "bearer", "expires_in": rec.expires_in(emu.now())}


def handle_graph(emu: GraphEmulator, req: GraphRequest) -> SandboxResponse:
    """graph.facebook.com ``oauth/access_token`` + ``debug_token``; graph.instagram.com token exchange / refresh."""
    from .api import FB_GRAPH, json_response

    path = "/".join(req.segments)
    p = req.params
    now = emu.now()
    if req.host == FB_GRAPH and path == "oauth/access_token":
        _check_client(emu, p)
        grant = p.get("grant_type")
        if grant == "fb_exchange_token":
            if not p.get("fb_exchange_token"):
                raise errors.missing_parameter("fb_exchange_token")
            return json_response(200, _token_payload(emu.tokens.exchange_fb(p["fb_exchange_token"], now), emu))
        if grant == "client_credentials":
            return json_response(200, {"access_token": emu.tokens.app_token(), "token_type": "bearer"})
        if grant not in (None, "authorization_code"):
            raise errors.invalid_parameter(f"Unsupported grant_type: {grant}")
        if "redirect_uri" not in p:
            raise GraphError("Missing redirect_uri parameter.", code=191)
        if not p.get("code"):
            raise errors.missing_parameter("code")
        try:
            code = emu.tokens.redeem_code(
                p["code"], login="facebook", client_id=p["client_id"], redirect_uri=p["redirect_uri"], now=now
            )
        except CodeError as exc:
            reason = str(exc)
            if reason == "code already used":
                raise GraphError("This authorization code has been used.", code=100, subcode=36009) from None
            if reason == "code expired":
                raise GraphError("This authorization code has expired.", code=100, subcode=36007) from None
            raise GraphError(CODE_VERIFY_MESSAGE, code=100, subcode=36008) from None
        emu.tokens.renew_data_access(code.owner_id, now)
        rec = emu.tokens.issue_fb_user(code.owner_id, long_lived=False, now=now, scopes=code.scopes)
        return json_response(200, _token_payload(rec, emu))
    if req.host == FB_GRAPH and path == "debug_token":
        if not req.token:
            raise GraphError("An access token is required to request this resource.", code=104)
        inspector = emu.tokens.validate(req.token, "facebook", now)
        if inspector.kind not in ("app", "user") or inspector.app_id != emu.dataset.app.id:
            raise GraphError(
                "(#100) You must provide an app access token, or a user access token that is an owner "
                "or developer of the app",
                code=100,
            )
        if not p.get("input_token"):
            raise errors.missing_parameter("input_token")
        return json_response(200, {"data": emu.tokens.debug(p["input_token"], now)})
    if path == "access_token":  # graph.instagram.com
        if p.get("grant_type") != "ig_exchange_token":
            raise errors.invalid_parameter("Unsupported grant_type. Use ig_exchange_token")
        if p.get("client_secret") != emu.dataset.app.secret:
            raise GraphError("Error validating client secret.", code=1)
        if not req.token:
            raise GraphError("An access token is required to request this resource.", code=104)
        return json_response(200, _token_payload(emu.tokens.exchange_ig(req.token, now), emu))
    if path == "refresh_access_token":
        if p.get("grant_type") != "ig_refresh_token":
            raise errors.invalid_parameter("Unsupported grant_type. Use ig_refresh_token")
        if not req.token:
            raise GraphError("An access token is required to request this resource.", code=104)
        return json_response(200, _token_payload(emu.tokens.refresh_ig(req.token, now), emu))
    raise errors.unknown_path("/" + path)


def _ig_code_exchange(emu: GraphEmulator, method: str, params: dict[str, str]) -> SandboxResponse:
    """``POST api.instagram.com/oauth/access_token`` (form) → short-lived IG token (1 h)."""
    from .api import json_response

    if method != "POST":
        return _ig_json_error("Invalid request: this endpoint only accepts POST", 405)
    for name in ("client_id", "client_secret", "grant_type", "redirect_uri", "code"):
        if not params.get(name):
            return _ig_json_error(f"You must provide a {name}")
    app = emu.dataset.app
    if params["client_id"] != app.id:
        return _ig_json_error("Invalid platform app")
    if params["client_secret"] != app.secret:
        return _ig_json_error("Error validating client secret.")
    if params["grant_type"] != "authorization_code":
        return _ig_json_error("Unsupported grant_type")
    try:
        code = emu.tokens.redeem_code(
            params["code"],
            login="instagram",
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            now=emu.now(),
        )
    except CodeError as exc:
        if str(exc) == "redirect_uri mismatch":
            return _ig_json_error(CODE_VERIFY_MESSAGE)
        return _ig_json_error("Matching code was not found or was already used")
    rec = emu.tokens.issue_ig(code.owner_id, long_lived=False, now=emu.now(), scopes=code.scopes)
    acct = emu.dataset.accounts.get(code.owner_id)
    scoped = (acct.ig_scoped_user_id if acct else None) or code.owner_id
    if emu.scenario.ig_flat_token_response:
        user_id: Any = int(scoped) if scoped.isdigit() else scoped
        return json_response(200, {"access_token": rec.token, "user_id": user_id, "permissions": list(rec.scopes)})
    return json_response(
        200, {"data": [{"access_token": rec.token, "user_id": scoped, "permissions": ",".join(rec.scopes)}]}
    )


# ---------------------------------------------------------------------------------------------- permissions


def permissions(emu: GraphEmulator, req: GraphRequest, rec: TokenRecord, node: str, rest: list[str]) -> Any:
    """``GET /me/permissions`` (granted + declined), ``DELETE /me/permissions[/{perm}]`` (revoke / de-authorize)."""
    from .api import unsupported

    if rec.kind != "user" or node != rec.owner_id or len(rest) > 1:
        raise unsupported(req.method, node)
    if req.method == "GET" and not rest:
        user = emu.fb_users.get(rec.owner_id)
        data = [{"permission": s, "status": "granted"} for s in rec.scopes]
        if user is not None:
            data += [{"permission": s, "status": "declined"} for s in user.scopes if s not in rec.scopes]
        return {"data": data}
    if req.method == "DELETE":
        if rest:
            emu.tokens.revoke_scope(rec.owner_id, rest[0])
        else:
            emu.tokens.deauthorize_user(rec.owner_id)
        return {"success": True}
    raise unsupported(req.method, node)
