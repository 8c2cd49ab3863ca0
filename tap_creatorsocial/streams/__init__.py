"""Streams, split by domain: profile, media, stories, insights, audience, engagement."""

from tap_creatorsocial.streams.account_insights import AccountInsightsStream
from tap_creatorsocial.streams.accounts import AccountsStream
from tap_creatorsocial.streams.audience import AudienceStream, OnlineFollowersStream
from tap_creatorsocial.streams.connections import ConnectionsStream
from tap_creatorsocial.streams.engagement import CommentsStream, TagsStream
from tap_creatorsocial.streams.insights import MediaInsightsStream, StoryInsightsStream
from tap_creatorsocial.streams.media import MediaStream
from tap_creatorsocial.streams.stories import StoriesStream

__all__ = [
    "AccountInsightsStream",
    "AccountsStream",
    "AudienceStream",
    "CommentsStream",
    "ConnectionsStream",
    "MediaInsightsStream",
    "MediaStream",
    "OnlineFollowersStream",
    "StoriesStream",
    "StoryInsightsStream",
    "TagsStream",
]
