"""Streams, split by domain: profile, media, stories, insights, audience, engagement."""

from tap_creatorsocial.streams.accounts import AccountsStream
from tap_creatorsocial.streams.media import MediaStream

__all__ = ["AccountsStream", "MediaStream"]
