"""Media and story insights as tidy rows: one row per (object, metric, breakdown value), plus each metric's total.

Tidy, because Meta's metric set changes with every API version and product type: a metric is a value in the
`metric` column, so a new or retired metric never changes the schema. What the tap asks for comes from the metric
catalog (`tap_creatorsocial.catalog`), per product type, media type, login and API version.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import threading
import typing as t
from urllib.parse import urlencode

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_creatorsocial.catalog import (
    MEDIA_METRICS,
    MEDIA_METRICS_BY_NAME,
    insight_requests,
    parse_api_version,
    serving_version,
)
from tap_creatorsocial.client import TOTAL_ROW, GraphStream, utc_now
from tap_creatorsocial.error_policy import Action, classify, rejected_metrics
from tap_creatorsocial.errors import GraphAPIError
from tap_creatorsocial.graph import BATCH_LIMIT
from tap_creatorsocial.streams.media import list_media_refs, run_now, window_start
from tap_creatorsocial.streams.stories import list_story_refs

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

    from tap_creatorsocial.directory import AccountRoute
    from tap_creatorsocial.media_index import MediaRef

STORY_LIFETIME = dt.timedelta(hours=24)  # graph-api.md §8
#: insights calls per round of one account: 8 full batch requests, sent `max_workers` at once
ROUND_CALLS = 8 * BATCH_LIMIT


def _metric_catalog_text() -> str:
    """Every media/story metric the catalog knows, for the `metric` column's description."""
    parts = []
    for m in MEDIA_METRICS:
        notes = [", ".join(sorted(m.product_types)), m.versions_text]
        if m.breakdown:
            notes.append(f"breakdown {m.breakdown} unless media_insight_breakdowns is false")
        if m.login == "facebook":
            notes.append("Facebook Login only")
        if m.needs_facebook_share:
            notes.append("only with facebook_share_metrics, for media shared to Facebook")
        if m.unit != "count":
            notes.append(m.unit)
        if m.retired:
            notes.append("retired")
        parts.append(f"{m.name} ({'; '.join(notes)}): {m.description}")
    return " | ".join(parts)


@dataclasses.dataclass(frozen=True)
class InsightCall:
    """One `/{id}/insights` call for one object."""

    ref: MediaRef
    metrics: tuple[str, ...]
    breakdown: str | None

    @property
    def shape(self) -> tuple[t.Any, ...]:
        """What Meta accepts or refuses whatever the object: product type, metrics, breakdown."""
        return (self.ref.media_product_type, self.metrics, self.breakdown)

    @property
    def relative_url(self) -> str:
        params = {"metric": ",".join(self.metrics)}
        if self.breakdown:
            params["breakdown"] = self.breakdown
        return f"{self.ref.id}/insights?{urlencode(params, safe=',')}"


def insight_rows(call: InsightCall, body: t.Any) -> list[dict[str, t.Any]]:
    """Tidy rows from one insights answer: each metric's total (breakdown "") plus one row per dimension value.

    Meta answers `{"data": []}` (not zeros) when it has no data, so a metric without a value gets no row.
    """
    rows: list[dict[str, t.Any]] = []
    for item in (body or {}).get("data") or []:
        metric = item.get("name")
        if not metric:
            continue
        total_value = item.get("total_value") or {}
        values = item.get("values") or []
        total = values[0].get("value") if values else total_value.get("value")
        if isinstance(total, int | float):
            rows.append({"metric": metric, "breakdown": TOTAL_ROW, "breakdown_value": TOTAL_ROW, "value": total})
        for breakdown in total_value.get("breakdowns") or []:
            keys = breakdown.get("dimension_keys") or []
            name = call.breakdown if call.breakdown in keys or not keys else keys[-1]
            position = keys.index(name) if name in keys else -1
            for result in breakdown.get("results") or []:
                dims = result.get("dimension_values") or []
                value = result.get("value")
                if dims and isinstance(value, int | float):
                    rows.append(
                        {"metric": metric, "breakdown": name, "breakdown_value": str(dims[position]), "value": value}
                    )
    return rows


def _not_shared_to_facebook(call: InsightCall, error: GraphAPIError) -> bool:
    """A code-100 refusal of a call holding one Facebook-share metric: the media was not cross-posted (§4a)."""
    metric = MEDIA_METRICS_BY_NAME.get(call.metrics[0])
    return error.code == 100 and len(call.metrics) == 1 and metric is not None and metric.needs_facebook_share


C = t.TypeVar("C", bound="ShapedCall")


class ShapedCall(t.Protocol):
    """A media or account insights call; `shape` is what Meta accepts or refuses whatever the object or days."""

    @property
    def shape(self) -> tuple[t.Any, ...]: ...


def calls_to_try_first(calls: list[C], proven: set[tuple[t.Any, ...]], *, batched: bool) -> list[C]:
    """The calls an account sends alone before the rest, so that a refused metric costs one call, not hundreds:
    none once every shape is proven (by another account while this one waited for the lock); all of them when
    they go in one batch request anyway; else the first call of each shape Meta has not answered yet this run."""
    firsts: dict[tuple[t.Any, ...], C] = {}
    for call in calls:
        if call.shape not in proven:
            firsts.setdefault(call.shape, call)
    if firsts and batched and len(calls) <= BATCH_LIMIT:
        return calls
    return list(firsts.values())


def _rounds(refs: list[MediaRef], by_ref: dict[str, list[InsightCall]]) -> Iterator[list[MediaRef]]:
    """`refs` in consecutive groups whose calls fill `ROUND_CALLS` (whole objects per group): an account's rows are
    built and written a round at a time, so memory does not grow with its media count."""
    chunk: list[MediaRef] = []
    calls = 0
    for ref in refs:
        chunk.append(ref)
        calls += len(by_ref.get(ref.id, []))
        if calls >= ROUND_CALLS:
            yield chunk
            chunk, calls = [], 0
    if chunk:
        yield chunk


class InsightRowsStream(GraphStream, abc.ABC):
    """Shared logic of `media_insights` and `story_insights`: which calls, how they are sent, what an error means.

    Per-object errors never stop the account: an object Meta cannot report on (posted before the business
    conversion, deleted, fewer than 5 story viewers) is skipped with its reason logged once; a metric Meta rejects
    (a deprecation newer than the catalog) is dropped for that product type for the rest of the run with one
    warning, and the object is asked again without it. Each object is requested once per run.

    Transport: Facebook-Login accounts get one batch item per call (`GraphClient.batch`, 50 per HTTP request,
    per-item errors). Instagram-Login accounts get the same calls as individual GETs, because batch support on
    graph.instagram.com is UNCERTAIN (graph-api.md §7a). The sandbox accepts batches on both hosts, but it is a model
    built from the same reference, so it cannot settle what Meta does; individual GETs cost the same API calls (Meta
    counts batch items one by one) and only more round trips. `directory.BATCH_PROVIDERS` holds the choice.
    """

    #: Rows are built here with the schema's types, so singer-sdk's per-value type conformance (the costliest step
    #: per record) has nothing to do.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    #: the id column of the object the row describes (`media_id`, `story_id`)
    object_column: t.ClassVar[str] = "media_id"
    object_label: t.ClassVar[str] = "media"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.dropped: dict[str, set[str]] = {}  # product type -> metrics Meta rejected this run
        self.skipped: dict[str, str] = {}  # object id -> why it has no rows
        self._requested: set[str] = set()
        #: call shapes Meta answered this run, and the lock under which one account at a time tries a new shape
        self.proven_shapes: set[tuple[t.Any, ...]] = set()
        self.proving = threading.Lock()

    # -- what to read (per subclass) -------------------------------------------------------------------------------
    @abc.abstractmethod
    def object_refs(self, context: Context, route: AccountRoute) -> list[MediaRef]:
        """The objects (media or stories) of one account whose insights this run reads."""

    def row_columns(self, ref: MediaRef) -> dict[str, t.Any]:
        """Columns describing the object, added to each of its rows."""
        return {}

    def skip_reason(self, ref: MediaRef, error: GraphAPIError) -> str | None:
        """Why a per-object error means "no insights for this object" (None: the error is not about the object)."""
        if classify(error) is Action.SKIP_OBJECT:
            return error.user_title or error.message
        return None

    # -- reading ---------------------------------------------------------------------------------------------------
    @property
    def rules_version(self) -> int:
        """The version whose metric rules apply: an expired version is served by a newer one (graph-api.md §0)."""
        return serving_version(parse_api_version(self.tap.api_version), run_now(self.tap).date())

    def calls_for(self, ref: MediaRef, login: str) -> list[InsightCall]:
        """The catalog's calls for one object, without metrics Meta rejected earlier in the run.

        Two settings decide how many: `media_insight_breakdowns` (profile_activity / navigation broken down, one more
        call each, or asked as totals in the main call) and `facebook_share_metrics` (facebook_views /
        crossposted_views probed in a call each; Meta offers no field saying "shared to Facebook", so an unshared
        media's refusal costs that call and nothing else).
        """
        calls = []
        for metrics, breakdown in insight_requests(
            ref.media_product_type,
            ref.media_type,
            self.rules_version,
            login,
            ref.timestamp,
            include_non_default=self.config.get("facebook_share_metrics") is True,
            breakdowns=self.config.get("media_insight_breakdowns") is not False,
        ):
            call = self._without_dropped(InsightCall(ref, tuple(metrics), breakdown))
            if call is not None:
                calls.append(call)
        return calls

    def fetch(self, route: AccountRoute, calls: list[InsightCall]) -> list[t.Any | GraphAPIError]:
        """Each call's body or its error."""
        urls = [call.relative_url for call in calls]
        return self.graph.get_many(
            route.base_url, route.access_token, urls, batch=route.supports_batch, account_id=route.account_id
        )

    def account_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        return self._account_rows(context)

    def _account_rows(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        assert context is not None
        route = self.route(context)
        refs = [ref for ref in self.object_refs(context, route) if ref.id not in self._requested]
        self._requested.update(ref.id for ref in refs)
        pending = [call for ref in refs for call in self.calls_for(ref, route.login)]
        rows: dict[str, list[dict[str, t.Any]]] = {}
        if any(call.shape not in self.proven_shapes for call in pending):
            # The first call of each shape in the run goes alone (all of them when they go in one batch), one
            # account at a time: accounts are read several at once, and a metric Meta refuses must cost one refused
            # call, not one per object under way.
            with self.proving:  # (another account may have dropped metrics meanwhile)
                pending = [kept for call in pending if (kept := self._without_dropped(call))]
                firsts = calls_to_try_first(pending, self.proven_shapes, batched=route.supports_batch)
                self._collect(route, firsts, rows)
            pending = [kept for call in pending if call not in firsts and (kept := self._without_dropped(call))]
        by_ref: dict[str, list[InsightCall]] = {}
        for call in pending:
            by_ref.setdefault(call.ref.id, []).append(call)
        extracted_at = utc_now()
        for chunk in _rounds(refs, by_ref):
            self._collect(route, [call for ref in chunk for call in by_ref.get(ref.id, [])], rows)
            for ref in chunk:
                ref_rows = rows.pop(ref.id, [])
                if ref.id in self.skipped:
                    continue
                base = {"account_id": ref.account_id, self.object_column: ref.id, **self.row_columns(ref)}
                for row in ref_rows:
                    yield {**base, **row, "extracted_at": extracted_at}

    def _collect(self, route: AccountRoute, calls: list[InsightCall], rows: dict[str, list[dict[str, t.Any]]]) -> None:
        """Send `calls` (and the retries their errors call for), adding each object's rows to `rows`."""
        pending = calls
        while pending:
            retry: list[InsightCall] = []
            for call, outcome in zip(pending, self.fetch(route, pending), strict=True):
                if call.ref.id in self.skipped:
                    continue
                if isinstance(outcome, GraphAPIError):
                    retry += self._handle_item_error(call, outcome)
                    if classify(outcome) is Action.REJECTED_METRIC:
                        continue
                self.proven_shapes.add(call.shape)  # Meta took the metric names (it may still refuse the object)
                if isinstance(outcome, GraphAPIError):
                    continue
                rows.setdefault(call.ref.id, []).extend(insight_rows(call, outcome))
            pending = retry

    def _without_dropped(self, call: InsightCall) -> InsightCall | None:
        """The call without metrics Meta rejected meanwhile (None when none is left)."""
        dropped = self.dropped.get(call.ref.media_product_type, set())
        kept = tuple(m for m in call.metrics if m not in dropped)
        if not kept:
            return None
        return call if kept == call.metrics else dataclasses.replace(call, metrics=kept)

    def _handle_item_error(self, call: InsightCall, error: GraphAPIError) -> list[InsightCall]:
        """Skip the object, or drop rejected metrics and return the call to send again; anything else is raised."""
        reason = self.skip_reason(call.ref, error)
        if reason is not None:
            self.skipped[call.ref.id] = reason
            self.logger.info("No insights for %s %s: %s", self.object_label, call.ref.id, reason)
            return []
        action = classify(error)
        if action is not Action.REJECTED_METRIC and _not_shared_to_facebook(call, error):
            self.logger.debug("%s %s is not shared to Facebook: no %s", self.object_label, call.ref.id, call.metrics[0])
            return []
        if action is not Action.REJECTED_METRIC:
            raise error
        named = rejected_metrics(error, list(call.metrics))
        if named is None:  # the error names no metric we sent: find the culprit one metric per call
            return [dataclasses.replace(call, metrics=(m,)) for m in call.metrics]
        product = call.ref.media_product_type
        new = [m for m in named if m not in self.dropped.setdefault(product, set())]
        if new:
            self.dropped[product].update(new)
            self.logger.warning(
                "Meta rejected metric(s) %s for %s media on %s (%s); not requesting them again this run. "
                "The metric catalog needs an update.",
                ", ".join(new),
                product,
                self.tap.api_version,
                error.message,
            )
        kept = tuple(m for m in call.metrics if m not in self.dropped[product])
        return [dataclasses.replace(call, metrics=kept)] if kept else []


_TIDY_COLUMNS = (
    th.Property(
        "metric",
        th.StringType,
        required=True,
        description="Metric name as Meta reports it. Metrics the tap knows (product types; API versions): "
        + _metric_catalog_text(),
    ),
    th.Property(
        "breakdown",
        th.StringType,
        required=True,
        description="Breakdown dimension (action_type, story_navigation_action_type; none with "
        "`media_insight_breakdowns: false`); `total` on total rows.",
    ),
    th.Property(
        "breakdown_value",
        th.StringType,
        required=True,
        description="Dimension value as Meta reports it (e.g. tap_forward); `total` on total rows.",
    ),
    th.Property("value", th.NumberType, description="Lifetime value (counts; milliseconds / rates where noted)."),
    th.Property("extracted_at", th.DateTimeType, description="When this run read the value (UTC)."),
)


class MediaInsightsStream(InsightRowsStream):
    """`GET /{ig-media-id}/insights` for every media in the run's media index (new and within the lookback).

    The media come from the index the `media` stream filled (no second `/media` walk); if `media` did not run, or
    covered a shorter window than this stream's own bookmark needs, this stream lists `/media` itself. The
    bookmark is the newest media timestamp seen, so a later run re-reads only new media plus the lookback window.
    `AD` media and carousel children get no calls (the catalog returns none: Meta has no organic insights there).
    """

    name = "media_insights"
    primary_keys: t.ClassVar[list[str]] = ["media_id", "metric", "breakdown", "breakdown_value"]
    replication_key = "media_timestamp"
    is_sorted = False
    object_column = "media_id"
    object_label = "media"

    schema = th.PropertiesList(
        th.Property("account_id", th.StringType, required=True, description="Owner IG user id."),
        th.Property("media_id", th.StringType, required=True, description="IG media id."),
        th.Property("media_product_type", th.StringType, description="FEED or REELS."),
        th.Property("media_timestamp", th.DateTimeType, required=True, description="Publish time of the media."),
        *_TIDY_COLUMNS,
    ).to_dict()

    def object_refs(self, context: Context, route: AccountRoute) -> list[MediaRef]:
        # The index holds what `media` read this run; if that window is shorter than this stream's bookmark needs
        # (e.g. `media` was not selected on an earlier run), `/media` is listed here for the longer window.
        start = window_start(self, context)
        return self.tap.media_index.covering(route.account_id, start, lambda s: list_media_refs(self.tap, route, s))

    def row_columns(self, ref: MediaRef) -> dict[str, t.Any]:
        return {"media_product_type": ref.media_product_type, "media_timestamp": ref.timestamp.isoformat()}


class StoryInsightsStream(InsightRowsStream):
    """`GET /{story-id}/insights` for each live story (full table: stories and their insights last 24 h).

    Navigation comes broken down by `story_navigation_action_type`, profile activity by `action_type` (as totals only
    with `media_insight_breakdowns: false`). A story with
    fewer than 5 viewers answers `(#10) Not enough viewers` and is skipped with that reason; so is a story that
    expired between listing and reading its insights.
    """

    name = "story_insights"
    primary_keys: t.ClassVar[list[str]] = ["story_id", "metric", "breakdown", "breakdown_value"]
    replication_key = None
    object_column = "story_id"
    object_label = "story"

    schema = th.PropertiesList(
        th.Property("account_id", th.StringType, required=True, description="Owner IG user id."),
        th.Property("story_id", th.StringType, required=True, description="IG media id of the story."),
        th.Property("story_timestamp", th.DateTimeType, description="Publish time of the story."),
        *_TIDY_COLUMNS,
    ).to_dict()

    def object_refs(self, context: Context, route: AccountRoute) -> list[MediaRef]:
        return self.tap.story_index.refs(route.account_id, lambda _: list_story_refs(self.tap, route))

    def row_columns(self, ref: MediaRef) -> dict[str, t.Any]:
        return {"story_timestamp": ref.timestamp.isoformat()}

    def skip_reason(self, ref: MediaRef, error: GraphAPIError) -> str | None:
        if error.code in (10, 100) and run_now(self.tap) - ref.timestamp >= STORY_LIFETIME:
            return f"the story expired before its insights were read ({error.message})"
        return super().skip_reason(ref, error)
