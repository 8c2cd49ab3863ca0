"""Invite links: signed, expiring, single use, and recorded in the OAuth store's `invites` section.

A link carries only a signed invite id (itsdangerous `URLSafeTimedSerializer`, key derived from the admin secret),
so it cannot be forged or extended; the store's record is what makes it single use and cancellable, and it is
changed only through `OAuthStore.update` (the same lock and atomic writes as the connections). An invite holds at
most one consent in flight: starting a consent stores the SHA-256 of its OAuth `state` on the invite, and the
callback consumes it, so a `state` works once, only for its invite, and a restarted consent voids the earlier one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from tap_creatorsocial.oauth.store import Provider, StoreData

InviteKind = Literal["new", "reconnect"]
InviteStatus = Literal["open", "used", "expired", "cancelled"]
INVITE_SALT = "tap-creatorsocial.connect.invite"
CONSENT_TTL = dt.timedelta(hours=1)  # a consent started longer ago than this is stale (Meta's codes live 1 hour)
KEEP_CLOSED = dt.timedelta(days=30)  # closed invites stay listed this long, then are pruned


class InviteError(Exception):
    """An invite link or consent that must be refused; the message is safe to show the creator."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _ts(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _parse(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def state_digest(state: str) -> str:
    """What the store keeps of an OAuth `state`: enough to check it, useless to replay it."""
    return hashlib.sha256(state.encode()).hexdigest()


@dataclass
class Invite:
    """One invite: for whom, new or reconnect (then bound to one connection), and where it stands."""

    id: str
    label: str
    kind: InviteKind
    created_at: dt.datetime
    expires_at: dt.datetime
    connection: str | None = None  # reconnect: the connection key (provider:user_id) the login must match
    provider: Provider | None = None  # reconnect: the login path of that connection
    used_at: dt.datetime | None = None
    result: str | None = None  # the connection key the invite produced
    cancelled_at: dt.datetime | None = None
    consent_state: str | None = field(default=None, repr=False)  # SHA-256 of the `state` in flight
    consent_provider: Provider | None = None
    consent_started_at: dt.datetime | None = None

    def status(self, now: dt.datetime) -> InviteStatus:
        if self.used_at is not None:
            return "used"
        if self.cancelled_at is not None:
            return "cancelled"
        if now >= self.expires_at:
            return "expired"
        return "open"

    def providers(self) -> tuple[Provider, ...]:
        """The login buttons the creator sees (a reconnect must use the connection's own login path)."""
        return (self.provider,) if self.provider else ("facebook", "instagram")

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "connection": self.connection,
            "provider": self.provider,
            "created_at": _ts(self.created_at),
            "expires_at": _ts(self.expires_at),
            "used_at": _ts(self.used_at),
            "result": self.result,
            "cancelled_at": _ts(self.cancelled_at),
            "consent_state": self.consent_state,
            "consent_provider": self.consent_provider,
            "consent_started_at": _ts(self.consent_started_at),
        }

    @classmethod
    def from_dict(cls, invite_id: str, raw: dict[str, Any]) -> Invite:
        kind = raw.get("kind")
        if kind not in ("new", "reconnect"):
            raise ValueError(f"invite {invite_id!r} has unknown kind {kind!r}")
        created, expires = _parse(raw.get("created_at")), _parse(raw.get("expires_at"))
        if created is None or expires is None:
            raise ValueError(f"invite {invite_id!r} lacks its timestamps")
        return cls(
            id=invite_id,
            label=str(raw.get("label") or ""),
            kind=cast(InviteKind, kind),
            created_at=created,
            expires_at=expires,
            connection=raw.get("connection"),
            provider=_provider(raw.get("provider")),
            used_at=_parse(raw.get("used_at")),
            result=raw.get("result"),
            cancelled_at=_parse(raw.get("cancelled_at")),
            consent_state=raw.get("consent_state"),
            consent_provider=_provider(raw.get("consent_provider")),
            consent_started_at=_parse(raw.get("consent_started_at")),
        )


def _provider(value: Any) -> Provider | None:
    return cast(Provider, value) if value in ("facebook", "instagram") else None


def load_invites(data: StoreData) -> list[Invite]:
    """Every invite in the store (unreadable entries are skipped: they can only be refused)."""
    out = []
    for invite_id, raw in data.invites.items():
        try:
            out.append(Invite.from_dict(invite_id, raw))
        except ValueError:
            continue
    return sorted(out, key=lambda i: i.created_at, reverse=True)


def get_invite(data: StoreData, invite_id: str) -> Invite | None:
    raw = data.invites.get(invite_id)
    if raw is None:
        return None
    try:
        return Invite.from_dict(invite_id, raw)
    except ValueError:
        return None


def put_invite(data: StoreData, invite: Invite) -> None:
    data.invites[invite.id] = invite.to_dict()


def prune(data: StoreData, now: dt.datetime) -> None:
    """Forget invites closed (used, cancelled or expired) for longer than KEEP_CLOSED."""
    for invite in load_invites(data):
        closed_at = invite.used_at or invite.cancelled_at or invite.expires_at
        if invite.status(now) != "open" and now - closed_at > KEEP_CLOSED:
            del data.invites[invite.id]


class InviteSigner:
    """Turns invite ids into link tokens and back; a token that fails the signature or age check is refused."""

    def __init__(self, key: bytes, lifetime: dt.timedelta) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt=INVITE_SALT)
        self.lifetime = lifetime

    def sign(self, invite_id: str) -> str:
        return str(self._serializer.dumps({"i": invite_id}))

    def unsign(self, token: str) -> str:
        """The invite id, or `InviteError` (forged, altered, or older than the invite lifetime)."""
        try:
            payload = self._serializer.loads(token, max_age=int(self.lifetime.total_seconds()))
        except SignatureExpired:
            raise InviteError("This link has expired. Ask the person who sent it for a new one.", 410) from None
        except BadSignature:
            raise InviteError(
                "This link is not valid. Check that it was copied completely, or ask for a new one.", 404
            ) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("i"), str):
            raise InviteError("This link is not valid. Ask for a new one.", 404)
        return str(payload["i"])


def new_invite(
    label: str,
    now: dt.datetime,
    lifetime: dt.timedelta,
    *,
    connection: str | None = None,
    provider: Provider | None = None,
) -> Invite:
    return Invite(
        id=secrets.token_urlsafe(12),
        label=label.strip()[:120],
        kind="reconnect" if connection else "new",
        created_at=now,
        expires_at=now + lifetime,
        connection=connection,
        provider=provider,
    )


def require_open(invite: Invite | None, now: dt.datetime) -> Invite:
    """The invite if a creator may still use it; otherwise the refusal to show them."""
    if invite is None:
        raise InviteError("This link is not valid. Ask the person who sent it for a new one.", 404)
    status = invite.status(now)
    if status == "used":
        raise InviteError(
            "This link has already been used, and each link works once. If you need to connect again, ask the "
            "person who sent it for a new link.",
            410,
        )
    if status == "cancelled":
        raise InviteError("This link was withdrawn. Ask the person who sent it for a new one.", 410)
    if status == "expired":
        raise InviteError("This link has expired. Ask the person who sent it for a new one.", 410)
    return invite


def begin_consent(data: StoreData, invite_id: str, provider: Provider, now: dt.datetime) -> tuple[Invite, str]:
    """Record a fresh `state` on an open invite (replacing any earlier one); returns it to send to Meta."""
    invite = require_open(get_invite(data, invite_id), now)
    if provider not in invite.providers():
        raise InviteError("This link is for reconnecting with the other login. Use the button shown on the page.")
    state = f"{invite.id}.{secrets.token_urlsafe(32)}"
    invite.consent_state = state_digest(state)
    invite.consent_provider = provider
    invite.consent_started_at = now
    put_invite(data, invite)
    return invite, state


def consume_consent(data: StoreData, invite_id: str, state: str, now: dt.datetime) -> Invite:
    """Check `state` against the invite's consent in flight and consume it (single use), or refuse."""
    invite = require_open(get_invite(data, invite_id), now)
    expected = invite.consent_state
    started = invite.consent_started_at
    if expected is None or not hmac.compare_digest(state_digest(state), expected):
        raise InviteError(
            "This login response does not match the login started from your link (it may be stale or forged), so "
            "it was refused. Open your link again and press the button once more.",
            400,
        )
    invite.consent_state = None
    put_invite(data, invite)
    if started is None or now - started > CONSENT_TTL:
        raise InviteError("This login took too long and has expired. Open your link again and retry.", 400)
    return invite


def mark_used(data: StoreData, invite_id: str, connection_key: str, now: dt.datetime) -> None:
    invite = get_invite(data, invite_id)
    if invite is None:
        return
    invite.used_at = now
    invite.result = connection_key
    invite.consent_state = None
    put_invite(data, invite)
