"""Compare a DuckDB load of the sandbox run with the sandbox truth, table by table (used by `make demo` and tests)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import duckdb

from tap_creatorsocial.catalog import MEDIA_METRICS
from tap_creatorsocial.sandbox import create_emulator
from tap_creatorsocial.sandbox.truth import build_truth

# Legacy account metrics Meta still serves but the tap deliberately does not request (graph-api.md §4b: not in the
# current doc table, UNCERTAIN); they are in the truth, so counting must leave them out.
NOT_REQUESTED_ACCOUNT_METRICS = frozenset({"profile_views", "website_clicks", "impressions"})
# Media metrics the tap requests only with `facebook_share_metrics: true` (off by default); the truth has them for
# every media shared to Facebook.
FACEBOOK_SHARE_METRICS = frozenset(m.name for m in MEDIA_METRICS if m.needs_facebook_share)


def requested_truth(
    truth: dict[str, Any], *, facebook_share_metrics: bool = False, media_insight_breakdowns: bool = True
) -> dict[str, Any]:
    """The truth as the tap extracts it with these settings (defaults: the tap's defaults).

    The truth holds every value Meta serves; the tap leaves out the Facebook-share metrics unless asked, and reads
    breakdowns only with `media_insight_breakdowns`.
    """
    out = dict(truth)
    if not facebook_share_metrics:
        out["media_insights"] = {
            media_id: {m: v for m, v in metrics.items() if m not in FACEBOOK_SHARE_METRICS}
            for media_id, metrics in truth["media_insights"].items()
        }
    if not media_insight_breakdowns:
        out["media_insight_breakdowns"] = {}
    return out


def _insight_rows(truth: dict[str, Any], ids: set[str]) -> int:
    """Tidy rows for these objects: one per metric total plus one per breakdown value."""
    totals = sum(len(metrics) for media_id, metrics in truth["media_insights"].items() if media_id in ids)
    values = sum(
        len(dims)
        for media_id, metrics in truth["media_insight_breakdowns"].items()
        if media_id in ids
        for dims in metrics.values()
    )
    return totals + values


def expected_counts(
    truth: dict[str, Any], *, facebook_share_metrics: bool = False, media_insight_breakdowns: bool = True
) -> dict[str, int]:
    """Rows each table must hold after a full extraction of the sandbox dataset (account_insights: total rows),
    with the tap's default settings unless told otherwise."""
    truth = requested_truth(
        truth, facebook_share_metrics=facebook_share_metrics, media_insight_breakdowns=media_insight_breakdowns
    )
    story_ids = {s["id"] for s in truth["stories"]}
    media_ids = {m["id"] for m in truth["media"]}
    return {
        "accounts": len(truth["accounts"]),
        "media": len(truth["media"]),
        "stories": len(truth["stories"]),
        "comments": len(truth["comments"]),
        "tags": len(truth["tags"]),
        "media_insights": _insight_rows(truth, media_ids),
        "story_insights": _insight_rows(truth, story_ids),
        "account_insights": sum(
            len(set(values) - NOT_REQUESTED_ACCOUNT_METRICS)
            for days in truth["account_insights"].values()
            for values in days.values()
        ),
        "audience": sum(
            len(dims)
            for metrics in truth["demographics"].values()
            for timeframes in metrics.values()
            for breakdowns in timeframes.values()
            for dims in breakdowns.values()
        ),
        "online_followers": sum(len(hours) for days in truth["online_followers"].values() for hours in days.values()),
    }


# Tables whose count is taken over a subset of rows (account insights: their breakdown rows are checked in tests).
COUNT_FILTERS = {"account_insights": "breakdown = 'total'"}


def table_counts(path: str, schema: str, tables: list[str]) -> dict[str, int | None]:
    with duckdb.connect(path, read_only=True) as con:
        present = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [schema]
            ).fetchall()
        }
        counts: dict[str, int | None] = {}
        for table in tables:
            where = f" where {COUNT_FILTERS[table]}" if table in COUNT_FILTERS else ""
            query = f'select count(*) from "{schema}"."{table}"{where}'  # noqa: S608 - names from our own list
            counts[table] = (con.execute(query).fetchone() or [0])[0] if table in present else None
        return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", help="DuckDB file")
    parser.add_argument("--schema", default="creatorsocial")
    parser.add_argument("--version", type=int, default=25, help="Graph API version the run used")
    parser.add_argument(
        "--facebook-share-metrics", action="store_true", help="the run had `facebook_share_metrics: true`"
    )
    parser.add_argument(
        "--no-media-insight-breakdowns", action="store_true", help="the run had `media_insight_breakdowns: false`"
    )
    args = parser.parse_args(argv)

    truth = build_truth(create_emulator().dataset, args.version)
    expected = expected_counts(
        truth,
        facebook_share_metrics=args.facebook_share_metrics,
        media_insight_breakdowns=not args.no_media_insight_breakdowns,
    )
    actual = table_counts(args.path, args.schema, list(expected))
    width = max(len(t) for t in expected)
    print(f"{'table':<{width}}  {'expected':>8}  {'loaded':>8}")
    ok = True
    for table, want in expected.items():
        got = actual[table]
        ok &= got == want
        loaded = "missing" if got is None else got
        print(f"{table:<{width}}  {want:>8}  {loaded:>8}  {'ok' if got == want else 'MISMATCH'}")
    print("All tables match the sandbox truth." if ok else "Row counts differ from the sandbox truth.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
