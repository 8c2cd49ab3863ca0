"""`media` window + index, `media_insights` and the shared insight-row logic, against the in-process sandbox.

Every assertion compares the tap's real Singer output with the sandbox truth built from the very emulator instance
the run talked to (`tap.sandbox_emulator.dataset`), so a wrong request, parse or skip shows up as a value mismatch.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import typing as t
from collections import Counter

import pytest

from scripts.check_duckdb import requested_truth
from tap_creatorsocial.media_index import MEDIA_REF_FIELDS
from tap_creatorsocial.sandbox import DatasetSpec, GraphEmulator, generate
from tap_creatorsocial.sandbox.api import SandboxResponse
from tap_creatorsocial.sandbox.truth import build_truth
from tap_creatorsocial.streams import insights as insights_module
from tap_creatorsocial.streams.insights import InsightCall, insight_rows
from tap_creatorsocial.tap import TapCreatorSocial
from tests.helpers import collect, make_tap, select_only

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
SMALL = {"accounts": 2, "media": 14, "stories": 3, "seed": 11}
INSIGHT_STREAMS = ("media", "stories", "media_insights", "story_insights")


class Call(t.NamedTuple):
    """One API call the emulator answered (a top-level request or a batch item)."""

    host: str
    path: str
    params: dict[str, str]
    status: int
    body: str


def record_calls(emu: GraphEmulator) -> list[Call]:
    """Record every API call the emulator answers, batch items included (they go through `_api_call` too)."""
    calls: list[Call] = []
    original = emu._api_call

    def wrapped(req: t.Any) -> SandboxResponse:
        resp = original(req)
        calls.append(Call(req.host, "/".join(req.segments), dict(req.params), resp.status, resp.body.decode()))
        return resp

    emu._api_call = wrapped  # type: ignore[method-assign]
    return calls


def sandbox_tap(
    config_extra: dict[str, t.Any] | None = None,
    state: dict[str, t.Any] | None = None,
    *,
    quirk_rate: float | None = None,
    options: dict[str, t.Any] | None = None,
    emulator: GraphEmulator | None = None,
) -> tuple[TapCreatorSocial, t.Any, list[Call]]:
    """A tap on the in-process sandbox, its capturing writer, and the emulator's call log.

    `quirk_rate` swaps in an emulator generated with that quirk share (sandbox_options has no such knob);
    `emulator` reuses one (a later run against the same Meta).
    """
    opts = {**SMALL, "now": NOW.isoformat(), **(options or {})}
    tap, writer = make_tap({"sandbox": True, "sandbox_options": opts, **(config_extra or {})}, state)
    if emulator is not None:
        tap.__dict__["sandbox_emulator"] = emulator
    elif quirk_rate is not None:
        spec = DatasetSpec(
            seed=opts["seed"], accounts=opts["accounts"], media=opts["media"], stories=opts["stories"],
            quirk_rate=quirk_rate,
        )  # fmt: skip
        tap.__dict__["sandbox_emulator"] = GraphEmulator(generate(spec, now=NOW))
    emu = tap.sandbox_emulator
    assert emu is not None
    select_only(tap, *INSIGHT_STREAMS)
    return tap, writer, record_calls(emu)


def tidy(rows: list[dict[str, t.Any]], id_column: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """Tap rows as truth-shaped maps: totals {id: {metric: value}}, breakdowns {id: {metric: {dim: value}}}."""
    totals: dict[str, dict[str, t.Any]] = {}
    breakdowns: dict[str, dict[str, dict[str, t.Any]]] = {}
    for row in rows:
        if row["breakdown"] == "total":
            totals.setdefault(row[id_column], {})[row["metric"]] = row["value"]
        else:
            breakdowns.setdefault(row[id_column], {}).setdefault(row["metric"], {})[row["breakdown_value"]] = row[
                "value"
            ]
    return totals, breakdowns


def truth_split(truth: dict[str, t.Any]) -> tuple[set[str], set[str]]:
    """Ids of (feed/reels media, live stories) in the truth."""
    stories = {s["id"] for s in truth["stories"]}
    media = {m["id"] for m in truth["media"]}
    return media, stories


def assert_matches_truth(
    records: dict[str, list[dict[str, t.Any]]],
    truth: dict[str, t.Any],
    ignore: set[str] = frozenset(),  # type: ignore[assignment]
    *,
    facebook_share_metrics: bool = False,
    media_insight_breakdowns: bool = True,
) -> None:
    """Every truth value (per object, metric, breakdown value) the settings ask for is in the output, and nothing
    else is (defaults: the tap's defaults)."""
    truth = requested_truth(
        truth, facebook_share_metrics=facebook_share_metrics, media_insight_breakdowns=media_insight_breakdowns
    )
    media_ids, story_ids = truth_split(truth)
    for stream, id_column, ids in (
        ("media_insights", "media_id", media_ids),
        ("story_insights", "story_id", story_ids),
    ):
        totals, breakdowns = tidy(records.get(stream, []), id_column)
        want_totals = {
            i: {m: v for m, v in values.items() if m not in ignore}
            for i, values in truth["media_insights"].items()
            if i in ids
        }
        want_breakdowns = {i: b for i, b in truth["media_insight_breakdowns"].items() if i in ids}
        assert totals == {i: v for i, v in want_totals.items() if v}, stream
        assert breakdowns == want_breakdowns, stream


def assert_unique_keys(tap: TapCreatorSocial, records: dict[str, list[dict[str, t.Any]]]) -> None:
    for name, rows in records.items():
        keys = tap.streams[name].primary_keys or []
        seen = Counter(tuple(row[k] for k in keys) for row in rows)
        assert all(n == 1 for n in seen.values()), f"duplicate primary keys in {name}"
        assert all(row[k] is not None for row in rows for k in keys), f"null primary key in {name}"


def insight_calls(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.path.endswith("/insights")]


# -- full extraction vs truth ------------------------------------------------------------------------------------------


def test_default_run_returns_every_truth_value_and_asks_nothing_twice(caplog: pytest.LogCaptureFixture) -> None:
    tap, writer, calls = sandbox_tap()
    caplog.set_level(logging.INFO)
    tap.sync_all()
    records, _ = collect(writer)
    truth = build_truth(tap.sandbox_emulator.dataset, 25)  # type: ignore[union-attr]

    assert records["media_insights"]
    assert records["story_insights"]
    assert_matches_truth(records, truth)
    assert_unique_keys(tap, records)
    # breakdown metrics come with their total row too
    assert {r["metric"] for r in records["media_insights"] if r["breakdown"] == "action_type"} == {"profile_activity"}
    assert {r["breakdown"] for r in records["story_insights"]} >= {"total", "story_navigation_action_type"}

    asked = Counter((c.path, c.params.get("metric"), c.params.get("breakdown")) for c in insight_calls(calls))
    assert asked
    assert max(asked.values()) == 1, "an insights call was sent twice"
    listings = Counter(c.path for c in calls if c.path.endswith(("/media", "/stories")))
    assert set(listings.values()) == {1}, "an account's /media or /stories was listed twice"
    # only per-object refusals: no metric Meta rejects for the product type / version was ever asked for
    refused = [c for c in insight_calls(calls) if c.status != 200]
    assert not [c for c in refused if "does not support" in c.body or "must be one of" in c.body]
    assert {'"code":100' in c.body or '"code":10' in c.body for c in refused} <= {True}
    assert "rejected metric" not in caplog.text.lower()
    output = json.dumps(records)
    for _, _, token in tap.sandbox_emulator.dataset.demo_tokens:  # type: ignore[union-attr]
        assert token not in output
        assert token not in caplog.text


def test_high_quirk_rates_still_return_every_value_and_skip_with_reasons(caplog: pytest.LogCaptureFixture) -> None:
    tap, writer, _ = sandbox_tap(quirk_rate=0.6, options={"accounts": 4})
    caplog.set_level(logging.INFO)
    tap.sync_all()
    records, _ = collect(writer)
    dataset = tap.sandbox_emulator.dataset  # type: ignore[union-attr]
    truth = build_truth(dataset, 25)

    assert_matches_truth(records, truth)
    assert_unique_keys(tap, records)

    media = [m for a in dataset.accounts.values() for m in a.media]
    live = {s["id"] for s in truth["stories"]}
    stories = [s for a in dataset.accounts.values() for s in a.stories if s.id in live]
    pre_conversion = {m.id for m in media if m.pre_conversion and m.media_product_type != "AD"}
    few_viewers = {s.id for s in stories if s.viewers < 5}
    assert pre_conversion
    assert few_viewers
    assert set(tap.streams["media_insights"].skipped) == pre_conversion  # type: ignore[attr-defined]
    assert set(tap.streams["story_insights"].skipped) == few_viewers  # type: ignore[attr-defined]
    for media_id in pre_conversion:
        assert f"No insights for media {media_id}: Media posted before business account conversion" in caplog.text
    for story_id in few_viewers:
        assert f"No insights for story {story_id}: (#10) Not enough viewers" in caplog.text
    assert not {r["media_id"] for r in records["media_insights"]} & pre_conversion
    assert not {r["story_id"] for r in records["story_insights"]} & few_viewers

    # the quirky fields: hidden likes and withheld media_url come through as null, never invented
    by_id = {r["id"]: r for r in records["media"]}
    hidden = [m for m in media if m.like_count_hidden]
    withheld = [m for m in media if m.media_url is None]
    assert hidden
    assert withheld
    assert all(by_id[m.id]["like_count"] is None for m in hidden)
    assert all(by_id[m.id]["media_url"] is None for m in withheld)
    want_stories = {s["id"]: s.get("media_url") for s in truth["stories"]}
    assert {r["id"]: r["media_url"] for r in records["stories"]} == want_stories


@pytest.mark.parametrize("version", ["v21.0", "v25.0"])
def test_versions_request_only_their_metrics(version: str) -> None:
    tap, writer, calls = sandbox_tap({"api_version": version})
    tap.sync_all()
    records, _ = collect(writer)
    number = int(version[1:3])
    truth = build_truth(tap.sandbox_emulator.dataset, number)  # type: ignore[union-attr]

    assert_matches_truth(records, truth)
    asked = {m for c in insight_calls(calls) for m in c.params["metric"].split(",")}
    assert all(c.path.split("/")[0] for c in insight_calls(calls))
    assert not [c for c in insight_calls(calls) if "does not support" in c.body or "must be one of" in c.body]
    if number == 21:
        assert "views" not in asked
        assert "impressions" in asked
    else:
        assert "views" in asked
        assert "impressions" not in asked


# -- a deprecation newer than the catalog --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("plays", "does not support the plays metric"),  # known name, refused for REELS on v25
        ("engagement", "must be one of"),  # a name Meta no longer accepts at all
    ],
)
def test_rejected_metric_is_dropped_once_and_everything_else_still_arrives(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, extra: str, message: str
) -> None:
    original = insights_module.insight_requests

    def with_new_deprecation(product_type: str, *args: t.Any, **kwargs: t.Any) -> list[tuple[list[str], str | None]]:
        calls = original(product_type, *args, **kwargs)
        if product_type == "REELS":
            calls[0] = ([*calls[0][0], extra], calls[0][1])
        return calls

    monkeypatch.setattr(insights_module, "insight_requests", with_new_deprecation)
    tap, writer, calls = sandbox_tap()
    caplog.set_level(logging.INFO)
    tap.sync_all()
    records, _ = collect(writer)
    truth = build_truth(tap.sandbox_emulator.dataset, 25)  # type: ignore[union-attr]

    assert_matches_truth(records, truth)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "rejected metric" in r.getMessage()]
    assert len(warnings) == 1
    assert extra in warnings[0].getMessage()
    assert tap.streams["media_insights"].dropped == {"REELS": {extra}}  # type: ignore[attr-defined]
    refused = [c for c in insight_calls(calls) if message in c.body]
    assert refused  # the sandbox really refused it
    # Refused in one request only: the first account with the shape tries it alone (its calls when they fit in one
    # batch, else one call per shape) while the accounts read at once wait, and the metric is never asked again.
    asked = [c for c in insight_calls(calls) if extra in c.params["metric"].split(",")]
    assert len(asked) == len(refused) <= 50
    owners = {m["id"]: m["account_id"] for m in truth["media"]}
    assert len({owners[c.path.split("/")[0]] for c in asked}) == 1


def test_insight_rows_tidy_total_plus_one_row_per_dimension() -> None:
    from tap_creatorsocial.media_index import MediaRef

    ref = MediaRef("1", "9", "VIDEO", "STORY", NOW)
    body = {
        "data": [
            {
                "name": "navigation",
                "values": [{"value": 25}],
                "total_value": {
                    "value": 25,
                    "breakdowns": [
                        {
                            "dimension_keys": ["story_navigation_action_type"],
                            "results": [
                                {"dimension_values": ["tap_forward"], "value": 19},
                                {"dimension_values": ["tap_back"], "value": 6},
                            ],
                        }
                    ],
                },
            },
            {"name": "reach", "values": []},  # no data: no row, not 0
        ]
    }
    nav = "story_navigation_action_type"
    rows = insight_rows(InsightCall(ref, ("navigation",), nav), body)
    assert rows == [
        {"metric": "navigation", "breakdown": "total", "breakdown_value": "total", "value": 25},
        {"metric": "navigation", "breakdown": nav, "breakdown_value": "tap_forward", "value": 19},
        {"metric": "navigation", "breakdown": nav, "breakdown_value": "tap_back", "value": 6},
    ]


# -- incremental: the second run reads new media plus the lookback window ------------------------------------------


def test_second_run_reads_only_new_media_and_the_lookback_window() -> None:
    lookback = 120
    tap, writer, _ = sandbox_tap({"insights_lookback_days": lookback})
    tap.sync_all()
    first, state = collect(writer)
    dataset = tap.sandbox_emulator.dataset  # type: ignore[union-attr]
    assert {r["id"] for r in first["media"]} == {m.id for a in dataset.accounts.values() for m in a.media}
    contexts = [p["context"] for stream in state["bookmarks"].values() for p in stream.get("partitions", [])]
    assert contexts
    assert all(set(c) == {"account_id"} for c in contexts)
    assert "token" not in json.dumps(state).lower()

    # Pretend account A's newest 4 media were posted after the first run: move its bookmarks back before them.
    account_a = next(iter(dataset.accounts.values()))
    cutoff = account_a.media[3].timestamp
    for stream in ("media", "media_insights"):
        for partition in state["bookmarks"][stream]["partitions"]:
            if partition["context"]["account_id"] == account_a.id:
                partition["replication_key_value"] = cutoff.isoformat()

    tap2, writer2, calls2 = sandbox_tap({"insights_lookback_days": lookback}, state, emulator=tap.sandbox_emulator)
    tap2.sync_all()
    second, _ = collect(writer2)

    horizon = tap.sandbox_emulator.now() - dt.timedelta(days=lookback)  # type: ignore[union-attr]
    want: set[str] = set()
    for account in dataset.accounts.values():
        bookmark = max(m.timestamp for m in account.media) if account is not account_a else cutoff
        start = min(bookmark, horizon)
        want |= {m.id for m in account.media if m.timestamp >= start}
    got = {r["id"] for r in second["media"]}
    assert got == want
    assert {m.id for m in account_a.media[:4]} <= got  # the "new" media
    assert len(got) < len(first["media"])  # the old ones are not re-read

    truth = build_truth(dataset, 25)
    want_insights = {i for i in want if i in truth["media_insights"]}
    assert {r["media_id"] for r in second["media_insights"]} == want_insights
    asked = {c.path.split("/")[0] for c in insight_calls(calls2)} - {s["id"] for s in truth["stories"]}
    assert asked <= want  # no insights call for media outside the window


def test_media_insights_lists_media_itself_when_the_index_does_not_cover_its_window() -> None:
    # first run: `media` only, so media_insights has no bookmark yet
    tap, writer, _ = sandbox_tap({"insights_lookback_days": 30})
    select_only(tap, "media")
    tap.sync_all()
    _, state = collect(writer)
    assert "media_insights" not in state["bookmarks"]

    # second run: `media` reads only its lookback window, media_insights needs everything (its first run)
    tap2, writer2, calls = sandbox_tap({"insights_lookback_days": 30}, state, emulator=tap.sandbox_emulator)
    select_only(tap2, "media", "media_insights")
    tap2.sync_all()
    records, _ = collect(writer2)
    truth = requested_truth(build_truth(tap.sandbox_emulator.dataset, 25))  # type: ignore[union-attr]
    media_ids, _ = truth_split(truth)

    assert len(records.get("media", [])) < len(media_ids)
    totals, breakdowns = tidy(records["media_insights"], "media_id")
    assert totals == {i: v for i, v in truth["media_insights"].items() if i in media_ids}
    assert breakdowns == {i: v for i, v in truth["media_insight_breakdowns"].items() if i in media_ids}
    listed = Counter(c.path for c in calls if c.path.endswith("/media"))
    assert set(listed.values()) == {2}  # media's short window, then the insights stream's full one


def test_media_insights_alone_lists_media_once_per_account() -> None:
    tap, writer, calls = sandbox_tap()
    select_only(tap, "media_insights")
    tap.sync_all()
    records, _ = collect(writer)
    truth = requested_truth(build_truth(tap.sandbox_emulator.dataset, 25))  # type: ignore[union-attr]
    media_ids, _ = truth_split(truth)

    totals, _ = tidy(records["media_insights"], "media_id")
    assert totals == {i: v for i, v in truth["media_insights"].items() if i in media_ids}
    listed = Counter(c.path for c in calls if c.path.endswith("/media"))
    assert listed == {f"{a}/media": 1 for a in tap.directory.account_ids()}
    assert all(c.params.get("fields") == MEDIA_REF_FIELDS for c in calls if c.path.endswith("/media"))


# -- settings that trade data for API calls ----------------------------------------------------------------------------

SHARE_METRICS = {"facebook_views", "crossposted_views"}


def calls_per_object(calls: list[Call]) -> Counter[str]:
    return Counter(c.path.split("/")[0] for c in insight_calls(calls))


def organic_objects(truth: dict[str, t.Any]) -> dict[str, str]:
    """id -> product type of every object that has insights calls: non-AD top-level media and live stories."""
    out = {m["id"]: m["media_product_type"] for m in truth["media"] if m["media_product_type"] != "AD"}
    out.update({s["id"]: "STORY" for s in truth["stories"]})
    return out


def test_facebook_share_metrics_on_probes_them_and_matches_the_full_truth() -> None:
    tap, writer, calls = sandbox_tap({"facebook_share_metrics": True})
    tap.sync_all()
    records, _ = collect(writer)
    truth = build_truth(tap.sandbox_emulator.dataset, 25)  # type: ignore[union-attr]

    assert_matches_truth(records, truth, facebook_share_metrics=True)
    got = {r["metric"] for stream in ("media_insights", "story_insights") for r in records[stream]}
    assert got >= SHARE_METRICS  # the comparison covers them: some media were shared to Facebook
    probes = [c for c in insight_calls(calls) if set(c.params["metric"].split(",")) & SHARE_METRICS]
    assert all(c.params["metric"] in SHARE_METRICS for c in probes)  # each alone: a refusal takes nothing else down
    refused = [c for c in probes if c.status != 200]
    assert refused  # unshared media: the refusal is expected and costs only that call
    assert_unique_keys(tap, records)


def test_default_never_asks_for_facebook_share_metrics() -> None:
    tap, writer, calls = sandbox_tap()
    tap.sync_all()
    records, _ = collect(writer)
    assert not {m for c in insight_calls(calls) for m in c.params["metric"].split(",")} & SHARE_METRICS
    assert not {r["metric"] for stream in ("media_insights", "story_insights") for r in records[stream]} & SHARE_METRICS


def test_without_breakdowns_each_object_costs_one_call_and_totals_still_match() -> None:
    tap, writer, calls = sandbox_tap({"media_insight_breakdowns": False})
    tap.sync_all()
    records, _ = collect(writer)
    truth = build_truth(tap.sandbox_emulator.dataset, 25)  # type: ignore[union-attr]

    assert calls_per_object(calls) == Counter(dict.fromkeys(organic_objects(truth), 1))
    assert not [c for c in insight_calls(calls) if "breakdown" in c.params]
    assert_matches_truth(records, truth, media_insight_breakdowns=False)
    # the breakdown metrics still arrive, as totals equal to the truth's
    totals_media, _ = tidy(records["media_insights"], "media_id")
    totals_stories, _ = tidy(records["story_insights"], "story_id")
    got = {**totals_media, **totals_stories}
    checked = 0
    for object_id, values in truth["media_insights"].items():
        for metric in ("profile_activity", "navigation"):
            if metric in values:
                assert got[object_id][metric] == values[metric], (object_id, metric)
                checked += 1
    assert checked > 5
    assert {r["breakdown"] for stream in ("media_insights", "story_insights") for r in records[stream]} == {"total"}


@pytest.mark.parametrize(
    ("settings", "per_product"),
    [
        # defaults: + a profile_activity breakdown call (FEED, STORY) and a navigation one (STORY)
        ({}, {"FEED": 2, "REELS": 1, "STORY": 3}),
        ({"media_insight_breakdowns": False}, {"FEED": 1, "REELS": 1, "STORY": 1}),
        # + facebook_views (FEED, REELS, STORY) and crossposted_views (REELS), a call each
        ({"facebook_share_metrics": True}, {"FEED": 3, "REELS": 3, "STORY": 4}),
        ({"media_insight_breakdowns": False, "facebook_share_metrics": True}, {"FEED": 2, "REELS": 3, "STORY": 2}),
    ],
)
def test_insight_calls_per_object_follow_the_settings(settings: dict[str, bool], per_product: dict[str, int]) -> None:
    tap, writer, calls = sandbox_tap(settings)
    tap.sync_all()
    collect(writer)
    truth = build_truth(tap.sandbox_emulator.dataset, 25)  # type: ignore[union-attr]
    want = Counter({object_id: per_product[product] for object_id, product in organic_objects(truth).items()})
    assert calls_per_object(calls) == want
    assert tap.graph.stats.api_calls == len(calls)  # the tap's own count (batch items one by one) agrees


# -- accounts read at once ----------------------------------------------------------------------------------------


def test_calls_to_try_first_none_once_every_shape_is_proven() -> None:
    from tap_creatorsocial.media_index import MediaRef
    from tap_creatorsocial.streams.insights import BATCH_LIMIT, calls_to_try_first

    refs = [MediaRef(str(i), "9", "IMAGE", "FEED", NOW) for i in range(BATCH_LIMIT + 1)]
    calls = [InsightCall(ref, ("reach", "saved"), None) for ref in refs]
    few = calls[:3]
    assert calls_to_try_first(few, set(), batched=True) == few  # one batch request anyway: all together
    assert calls_to_try_first(few, set(), batched=False) == [few[0]]  # one request each: one per unproven shape
    assert calls_to_try_first(calls, set(), batched=True) == [calls[0]]
    for batched in (True, False):  # proven (by another account meanwhile): none goes alone
        assert calls_to_try_first(calls, {calls[0].shape}, batched=batched) == []
        assert calls_to_try_first(few, {calls[0].shape}, batched=batched) == []


def test_accounts_whose_shapes_are_proven_do_not_wait_for_each_other() -> None:
    """With 50 ms per call, the four accounts' story-insight requests overlap once the first account proved the
    shapes (they used to queue on the proving lock one account after another)."""
    tap, _, _ = sandbox_tap({"max_workers": 4}, options={"accounts": 4, "latency_ms": 50})
    emu = tap.sandbox_emulator
    assert emu is not None
    select_only(tap, "stories", "story_insights")
    owner = {story.id: story.account_id for a in emu.dataset.accounts.values() for story in a.stories}
    lock = threading.Lock()
    in_flight: Counter[str] = Counter()
    overlaps: list[int] = []
    original = emu.handle

    def tracked(method: str, url: str, headers: t.Any, body: bytes | None = None) -> SandboxResponse:
        # one story per request is enough to name its account (a batch's items are one account's)
        account = next((acct for story, acct in owner.items() if story in url + (body or b"").decode()), None)
        with lock:
            if account:
                in_flight[account] += 1
            overlaps.append(sum(1 for n in in_flight.values() if n))
        try:
            return original(method, url, headers, body)
        finally:
            if account:
                with lock:
                    in_flight[account] -= 1

    emu.handle = tracked  # type: ignore[method-assign]
    tap.sync_all()
    assert max(overlaps) >= 2
