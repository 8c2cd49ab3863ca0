"""The `account_insights` stream: daily account-level metrics per creator (graph-api.md §4b).

Meta answers `total_value` metrics with one number per `since`/`until` window, so a daily row needs a one-day window
per day; those windows go out as batch items (50 per HTTP request). `time_series` metrics (follower_count, and reach
when no total_value-only metric is selected) return one value per day for a window of up to 30 days. Which metrics
go which way is the catalog's plan (`account_insight_requests`), from the `account_insight_metrics` and
`account_insight_breakdowns` settings. Days are Meta's Pacific-time days: a value's `end_time` is the Pacific
midnight that closes the day, and the row's `date` is that Pacific day.
"""

from __future__ import annotations

import datetime as dt
import threading
import typing as t
from dataclasses import dataclass, replace
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_creatorsocial.catalog.metrics import (
    ACCOUNT_METRICS_BY_NAME,
    TIME_SERIES,
    TOTAL_VALUE,
    account_insight_requests,
    unavailable_account_metrics,
    unused_account_breakdowns,
)
from tap_creatorsocial.catalog.versions import parse_api_version
from tap_creatorsocial.client import TOTAL_ROW, GraphStream, utc_now
from tap_creatorsocial.error_policy import Action, classify, rejected_metrics
from tap_creatorsocial.errors import GraphAPIError
from tap_creatorsocial.streams.insights import calls_to_try_first
from tap_creatorsocial.streams.media import run_now

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

PACIFIC = ZoneInfo("America/Los_Angeles")
MAX_WINDOW_SECONDS = 30 * 86_400  # "There cannot be more than 30 days (2592000 s) between since and until" (§4b)
MAX_WINDOW_DAYS = 30


# -- Meta's days ------------------------------------------------------------------------------------------------------


def last_closed_day(now: dt.datetime) -> dt.date:
    """The newest Pacific day whose bucket has closed at `now` (today's bucket is still open)."""
    return now.astimezone(PACIFIC).date() - dt.timedelta(days=1)


def day_start(day: dt.date) -> dt.datetime:
    """Pacific midnight that opens `day` (DST-aware), as an aware datetime."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=PACIFIC)


def unix(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def closed_day(end_time: str) -> dt.date:
    """The Pacific day an `end_time` closes (`2018-01-12T08:00:00+0000` → 2018-01-11).

    Stepping back 12 hours before converting keeps the answer right whichever offset (07:00/08:00 UTC) Meta used.
    """
    moment = dt.datetime.strptime(end_time, "%Y-%m-%dT%H:%M:%S%z")
    return (moment - dt.timedelta(hours=12)).astimezone(PACIFIC).date()


def date_windows(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Consecutive inclusive day ranges covering first..last whose since/until span stays within Meta's 30 days.

    Thirty Pacific days can be 30 days and one hour across the autumn DST change, so such a window is shortened.
    """
    windows: list[tuple[dt.date, dt.date]] = []
    start = first
    while start <= last:
        end = min(last, start + dt.timedelta(days=MAX_WINDOW_DAYS - 1))
        while unix(day_start(end + dt.timedelta(days=1))) - unix(day_start(start)) > MAX_WINDOW_SECONDS:
            end -= dt.timedelta(days=1)
        windows.append((start, end))
        start = end + dt.timedelta(days=1)
    return windows


def parse_day(value: t.Any) -> dt.date | None:
    """A bookmark or `start_date` (date or date-time text) as a date; None when absent."""
    if not value:
        return None
    text = str(value)
    if len(text) == 10:
        return dt.date.fromisoformat(text)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def retention_first(metric: str, last: dt.date) -> dt.date:
    """The oldest day Meta keeps `metric` for, when `last` is the newest closed day (unknown metric: no limit)."""
    known = ACCOUNT_METRICS_BY_NAME.get(metric)
    days = known.retention_days if known is not None and known.retention_days else 10_000
    return last - dt.timedelta(days=days - 1)


def spans(firsts: dict[str, dt.date], last: dt.date) -> list[tuple[tuple[str, ...], dt.date, dt.date]]:
    """Split the days from the earliest first day to `last` wherever a metric's first day falls, as
    `(metrics, first, last)`: each span holds the metrics (in the given order) that have data on all of its days."""
    starts = sorted({first for first in firsts.values() if first <= last})
    out = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - dt.timedelta(days=1) if i + 1 < len(starts) else last
        out.append((tuple(m for m, first in firsts.items() if first <= start), start, end))
    return out


# -- one insights call ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InsightCall:
    """One `/{ig-user-id}/insights` request: metrics, how to ask, and the days it covers (inclusive) if any."""

    metrics: tuple[str, ...]
    metric_type: str | None
    period: str
    breakdown: str | None = None
    first: dt.date | None = None
    last: dt.date | None = None
    timeframe: str | None = None

    def relative_url(self, account_id: str) -> str:
        params: dict[str, str | int] = {"metric": ",".join(self.metrics), "period": self.period}
        if self.metric_type:
            params["metric_type"] = self.metric_type
        if self.breakdown:
            params["breakdown"] = self.breakdown
        if self.timeframe:
            params["timeframe"] = self.timeframe
        if self.first is not None and self.last is not None:
            params["since"] = unix(day_start(self.first))
            params["until"] = unix(day_start(self.last + dt.timedelta(days=1)))
        return f"{account_id}/insights?{urlencode(params)}"

    @property
    def shape(self) -> tuple[t.Any, ...]:
        """What Meta accepts or refuses whatever the days: metrics, metric type, period, breakdown, timeframe."""
        return (self.metrics, self.metric_type, self.period, self.breakdown, self.timeframe)

    @property
    def covers(self) -> str:
        """What the call is about, for log lines."""
        if self.timeframe:
            return f"timeframe {self.timeframe}"
        return f"{self.first}..{self.last}" if self.first else "default window"


class InsightsFetcher:
    """Sends insights calls for one account as batch items and drops metrics Meta refuses (then asks again).

    An item refused for naming an unsupported metric fails as a whole (§4), so it is re-sent without the metrics the
    error names; skippable item errors are logged and skipped; anything else is raised for account-level handling.
    """

    def __init__(self, stream: InsightsStream, account_id: str) -> None:
        self.stream = stream
        self.account_id = account_id

    def fetch(self, calls: list[InsightCall]) -> t.Iterator[tuple[InsightCall, dict[str, t.Any]]]:
        """Each call's answer. The first call of each shape (metrics, type, breakdown) in the run goes alone (all
        of the account's calls when they go in one batch request), one account at a time: accounts are read several
        at once, and a metric Meta refuses must cost one refused call in the run, not one per day for every account
        already under way."""
        pending = self.without_refused(calls)
        if any(call.shape not in self.stream.proven_shapes for call in pending):
            with self.stream.proving:  # (another account may have found refused metrics meanwhile)
                pending = self.without_refused(pending)
                batched = self.stream.route({"account_id": self.account_id}).supports_batch
                firsts = calls_to_try_first(pending, self.stream.proven_shapes, batched=batched)
                yield from self._send(firsts)
            pending = self.without_refused([call for call in pending if call not in firsts])
        yield from self._send(pending)

    def _send(self, calls: list[InsightCall]) -> t.Iterator[tuple[InsightCall, dict[str, t.Any]]]:
        route = self.stream.route({"account_id": self.account_id})
        pending = self.without_refused(calls)
        while pending:
            urls = [call.relative_url(self.account_id) for call in pending]
            answers = self.stream.graph.get_many(
                route.base_url, route.access_token, urls, batch=route.supports_batch, account_id=self.account_id
            )
            retry: list[InsightCall] = []
            for call, answer in zip(pending, answers, strict=True):
                if not isinstance(answer, GraphAPIError):
                    self.stream.proven_shapes.add(call.shape)
                    yield call, answer
                    continue
                action = classify(answer)
                if action is Action.REJECTED_METRIC:
                    refused = set(rejected_metrics(answer, list(call.metrics)) or call.metrics)
                    self.stream.note_rejected(refused, answer)
                    kept = tuple(m for m in call.metrics if m not in refused)
                    if kept:
                        retry.append(replace(call, metrics=kept))
                elif action is Action.SKIP_OBJECT:
                    self.stream.proven_shapes.add(call.shape)  # Meta took the metric names, not this window
                    self.stream.logger.warning(
                        "Skipping %s for account %s (%s): %s",
                        ",".join(call.metrics),
                        self.account_id,
                        call.covers,
                        answer.message,
                    )
                else:
                    raise answer
            pending = retry

    def without_refused(self, calls: list[InsightCall]) -> list[InsightCall]:
        """Calls minus metrics Meta already refused this run (for an earlier account), so none is asked again."""
        refused = self.stream.refused_metrics
        out = []
        for call in calls:
            kept = tuple(m for m in call.metrics if m not in refused)
            if kept:
                out.append(replace(call, metrics=kept) if kept != call.metrics else call)
        return out


class InsightsStream(GraphStream):
    """Shared behaviour of the account-level insights streams (requests go through `InsightsFetcher`)."""

    #: Rows are built here with the schema's types, so singer-sdk's per-value type conformance (the costliest step
    #: per record) has nothing to do.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._rejected: set[str] = set()
        #: call shapes Meta answered this run, and the lock under which one account at a time tries a new shape
        self.proven_shapes: set[tuple[t.Any, ...]] = set()
        self.proving = threading.Lock()

    @property
    def version(self) -> int:
        return parse_api_version(self.tap.api_version)

    @property
    def refused_metrics(self) -> frozenset[str]:
        """Metrics Meta refused earlier in this run (the version decides, so every account would refuse them)."""
        return frozenset(self._rejected)

    def note_rejected(self, metrics: set[str], error: GraphAPIError) -> None:
        """Log each refused metric once per run (not once per day or account)."""
        new = sorted(metrics - self._rejected)
        if new:
            self._rejected.update(new)
            self.logger.warning("Meta refuses metric(s) %s on %s; not requested: %s", new, self.tap.api_version, error)

    def start_day(self, context: Context, retention_first: dt.date) -> dt.date:
        """First day to read: the bookmark minus the lookback, bounded by `start_date` and Meta's retention."""
        candidates = [retention_first]
        start_date = parse_day(self.config.get("start_date"))
        if start_date:
            candidates.append(start_date)
        bookmark = parse_day(self.get_context_state(context).get("replication_key_value"))
        if bookmark:
            lookback = int(self.config.get("account_insights_lookback_days", 3))
            candidates.append(bookmark - dt.timedelta(days=lookback - 1))
        return max(candidates)


# -- the stream -------------------------------------------------------------------------------------------------------


class AccountInsightsStream(InsightsStream):
    """Daily `/{ig-user-id}/insights` rows (`period=day`) per metric and breakdown value, incremental by `date`."""

    name = "account_insights"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "date", "metric", "breakdown", "breakdown_value"]
    replication_key = "date"
    is_sorted = False  # the lookback re-reads days before the bookmark

    schema = th.PropertiesList(
        th.Property("account_id", th.StringType, required=True, description="IG user id."),
        th.Property("date", th.DateType, required=True, description="Pacific-time day the value covers (Meta's day)."),
        th.Property("metric", th.StringType, required=True, description="Metric name, e.g. reach."),
        th.Property("metric_type", th.StringType, description="total_value or time_series, as requested."),
        th.Property("period", th.StringType, description="Always day."),
        th.Property(
            "breakdown", th.StringType, required=True, description="Breakdown dimension; `total` on total rows."
        ),
        th.Property(
            "breakdown_value", th.StringType, required=True, description="Dimension value; `total` on total rows."
        ),
        th.Property("value", th.IntegerType, description="The metric's value for the day."),
        th.Property("extracted_at", th.DateTimeType, description="When this run read the value (UTC)."),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._plan_lock = threading.Lock()  # accounts may be read on several threads
        self._call_plan: list[tuple[list[str], str, str | None]] | None = None

    @property
    def call_plan(self) -> list[tuple[list[str], str, str | None]]:
        """The catalog's calls for one span, the same for every account (worked out once per run)."""
        with self._plan_lock:
            if self._call_plan is None:
                self._call_plan = self._make_call_plan()
            return self._call_plan

    def _make_call_plan(self) -> list[tuple[list[str], str, str | None]]:
        """The plan for `account_insight_metrics` and `account_insight_breakdowns` (unset: the catalog's defaults).
        A setting that asks for something the API version does not serve gets one warning, and is skipped."""
        metrics = self.config.get("account_insight_metrics")
        breakdowns = self.config.get("account_insight_breakdowns")
        if metrics is not None:
            unavailable = unavailable_account_metrics(metrics, self.version)
            if unavailable:
                self.logger.warning(
                    "account_insight_metrics: %s not served on %s; skipped (see the metric catalog for versions).",
                    ", ".join(unavailable),
                    self.tap.api_version,
                )
        if breakdowns:
            unused = unused_account_breakdowns(self.version, metrics, breakdowns)
            if unused:
                self.logger.warning(
                    "account_insight_breakdowns: no selected metric supports %s on %s; no call for it.",
                    ", ".join(unused),
                    self.tap.api_version,
                )
        return account_insight_requests(self.version, metrics=metrics, breakdowns=breakdowns)

    def plan(self, context: Context, last: dt.date) -> list[InsightCall]:
        """The calls for one account: one-day items for total_value, ≤ 30-day windows for time_series.

        Each metric starts at its own first day (its retention, `start_date`, the bookmark minus the lookback), so a
        call's days are split where a metric's data begins: no metric is asked for a day Meta no longer keeps.
        """
        calls: list[InsightCall] = []
        for metrics, metric_type, breakdown in self.call_plan:
            firsts = {m: self.start_day(context, retention_first(m, last)) for m in metrics}
            for names, first, end in spans(firsts, last):
                if metric_type == TIME_SERIES:
                    calls += [
                        InsightCall(names, TIME_SERIES, "day", None, start, stop)
                        for start, stop in date_windows(first, end)
                    ]
                    continue
                day = first
                while day <= end:
                    calls.append(InsightCall(names, metric_type, "day", breakdown, day, day))
                    day += dt.timedelta(days=1)
        return calls

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        account_id = str(context["account_id"])
        last = last_closed_day(run_now(self.tap))
        extracted_at = utc_now()
        rows: dict[tuple[str, str, str, str], dict[str, t.Any]] = {}
        for call, body in InsightsFetcher(self, account_id).fetch(self.plan(context, last)):
            for row in self.rows(call, body):
                row.update(account_id=account_id, extracted_at=extracted_at)
                rows[(row["date"], row["metric"], row["breakdown"], row["breakdown_value"])] = row
        yield from (rows[key] for key in sorted(rows))

    @staticmethod
    def rows(call: InsightCall, body: dict[str, t.Any]) -> t.Iterator[dict[str, t.Any]]:
        """Rows of one answer; metrics Meta has no data for are simply absent (§4: empty, not 0)."""
        assert call.first is not None
        assert call.last is not None
        for item in body.get("data") or []:
            metric = str(item.get("name"))
            base = {"metric": metric, "metric_type": call.metric_type or TIME_SERIES, "period": item.get("period")}
            if call.metric_type == TOTAL_VALUE:
                total = item.get("total_value") or {}
                if call.breakdown is None:
                    if total.get("value") is not None:
                        yield {
                            **base,
                            "date": call.first.isoformat(),
                            "breakdown": TOTAL_ROW,
                            "breakdown_value": TOTAL_ROW,
                            "value": total["value"],
                        }
                    continue
                for group in total.get("breakdowns") or []:
                    keys = ",".join(group.get("dimension_keys") or [call.breakdown])
                    for result in group.get("results") or []:
                        yield {
                            **base,
                            "date": call.first.isoformat(),
                            "breakdown": keys,
                            "breakdown_value": ",".join(str(v) for v in result.get("dimension_values") or []),
                            "value": result.get("value"),
                        }
                continue
            for point in item.get("values") or []:
                if not point.get("end_time") or point.get("value") is None:
                    continue
                day = closed_day(point["end_time"])
                if call.first <= day <= call.last:
                    yield {
                        **base,
                        "date": day.isoformat(),
                        "breakdown": TOTAL_ROW,
                        "breakdown_value": TOTAL_ROW,
                        "value": point["value"],
                    }
