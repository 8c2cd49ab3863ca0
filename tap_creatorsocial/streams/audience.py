"""Audience streams: demographics snapshots and the legacy `online_followers` histogram (graph-api.md §4b).

Demographics are lifetime metrics over a `timeframe` with no history, so each run stores a snapshot keyed by the run's
UTC date. `online_followers` is legacy (UNCERTAIN in the reference): the tap asks for it and, if Meta refuses it,
logs that once and emits nothing.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import typing as th

from tap_creatorsocial.catalog.metrics import audience_requests
from tap_creatorsocial.client import utc_now
from tap_creatorsocial.errors import GraphAPIError
from tap_creatorsocial.streams.account_insights import (
    InsightCall,
    InsightsFetcher,
    InsightsStream,
    closed_day,
    date_windows,
    last_closed_day,
)
from tap_creatorsocial.streams.media import run_now

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

ONLINE_FOLLOWERS = "online_followers"
ONLINE_FOLLOWERS_RETENTION_DAYS = 30  # "online_followers only last 30 days" (§4b)


class AudienceStream(InsightsStream):
    """Follower and engaged-audience demographics by age, gender, country and city, per accepted timeframe."""

    name = "audience"
    primary_keys: t.ClassVar[list[str]] = [
        "account_id",
        "snapshot_date",
        "metric",
        "timeframe",
        "breakdown",
        "dimension_value",
    ]
    replication_key = None

    schema = th.PropertiesList(
        th.Property("account_id", th.StringType, required=True, description="IG user id."),
        th.Property("snapshot_date", th.DateType, required=True, description="UTC date of the run that read it."),
        th.Property(
            "metric",
            th.StringType,
            required=True,
            description="follower_demographics or engaged_audience_demographics.",
        ),
        th.Property("timeframe", th.StringType, required=True, description="Timeframe asked for, e.g. this_month."),
        th.Property("breakdown", th.StringType, required=True, description="age, gender, country or city."),
        th.Property(
            "dimension_value",
            th.StringType,
            required=True,
            description="Bucket, e.g. 25-34, F, US or 'Lisbon, Lisbon District'.",
        ),
        th.Property("value", th.IntegerType, description="Accounts in the bucket (Meta lists the top 45 only)."),
        th.Property("extracted_at", th.DateTimeType, description="When this run read the value (UTC)."),
    ).to_dict()

    def plan(self) -> list[InsightCall]:
        """One call per metric, breakdown and timeframe the catalog says this version accepts."""
        return [
            InsightCall((r.metric,), r.metric_type, r.period, r.breakdown, timeframe=r.timeframe)
            for r in audience_requests(self.version)
            if r.metric != ONLINE_FOLLOWERS
        ]

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        account_id = str(context["account_id"])
        snapshot = run_now(self.tap).astimezone(dt.UTC).date().isoformat()
        extracted_at = utc_now()
        for call, body in InsightsFetcher(self, account_id).fetch(self.plan()):
            for row in self.rows(call, body):
                row.update(account_id=account_id, snapshot_date=snapshot, extracted_at=extracted_at)
                yield row

    @staticmethod
    def rows(call: InsightCall, body: dict[str, t.Any]) -> t.Iterator[dict[str, t.Any]]:
        """Rows of one answer; `dimension_keys` lead with `timeframe`, which is the call's own timeframe."""
        for item in body.get("data") or []:
            for group in (item.get("total_value") or {}).get("breakdowns") or []:
                keys = list(group.get("dimension_keys") or [])
                keep = [i for i, key in enumerate(keys) if key != "timeframe"]
                for result in group.get("results") or []:
                    values = list(result.get("dimension_values") or [])
                    yield {
                        "metric": str(item.get("name")),
                        "timeframe": call.timeframe,
                        "breakdown": ",".join(keys[i] for i in keep) or (call.breakdown or ""),
                        "dimension_value": ",".join(str(values[i]) for i in keep if i < len(values)),
                        "value": result.get("value"),
                    }


class OnlineFollowersStream(InsightsStream):
    """Followers online per hour of each day (legacy metric), incremental by `date` like `account_insights`."""

    name = "online_followers"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "date", "hour"]
    replication_key = "date"
    is_sorted = False  # the lookback re-reads days before the bookmark

    schema = th.PropertiesList(
        th.Property("account_id", th.StringType, required=True, description="IG user id."),
        th.Property("date", th.DateType, required=True, description="Pacific-time day (Meta's day)."),
        th.Property("hour", th.IntegerType, required=True, description="Hour of the day, 0-23 (Pacific time)."),
        th.Property("value", th.IntegerType, description="Followers online in that hour."),
        th.Property("extracted_at", th.DateTimeType, description="When this run read the value (UTC)."),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._unavailable = False

    def plan(self, context: Context, last: dt.date) -> list[InsightCall]:
        requests = [r for r in audience_requests(self.version) if r.metric == ONLINE_FOLLOWERS]
        if not requests or self._unavailable:
            return []
        req = requests[0]
        first = self.start_day(context, last - dt.timedelta(days=ONLINE_FOLLOWERS_RETENTION_DAYS - 1))
        return [
            InsightCall((req.metric,), req.metric_type, req.period, None, start, end)
            for start, end in date_windows(first, last)
        ]

    def note_rejected(self, metrics: set[str], error: GraphAPIError) -> None:
        """A refused legacy metric is expected: say so once and stop asking for it this run."""
        if ONLINE_FOLLOWERS in metrics and not self._unavailable:
            self._unavailable = True
            self.logger.warning(
                "Meta refuses online_followers on %s (legacy metric); emitting nothing: %s",
                self.tap.api_version,
                error.message,
            )

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        account_id = str(context["account_id"])
        last = last_closed_day(run_now(self.tap))
        extracted_at = utc_now()
        rows: dict[tuple[str, int], dict[str, t.Any]] = {}
        try:
            for call, body in InsightsFetcher(self, account_id).fetch(self.plan(context, last)):
                for item in body.get("data") or []:
                    for point in item.get("values") or []:
                        if not point.get("end_time") or not isinstance(point.get("value"), dict):
                            continue
                        day = closed_day(point["end_time"])
                        if not (call.first and call.last and call.first <= day <= call.last):
                            continue
                        for hour, value in point["value"].items():
                            rows[(day.isoformat(), int(hour))] = {
                                "account_id": account_id,
                                "date": day.isoformat(),
                                "hour": int(hour),
                                "value": value,
                                "extracted_at": extracted_at,
                            }
        except GraphAPIError as exc:
            if exc.code != 100:  # other failures are the account's, handled by the base stream
                raise
            self.note_rejected({ONLINE_FOLLOWERS}, exc)
        yield from (rows[key] for key in sorted(rows))
