"""Benchmark tap-creatorsocial against tap-instagram 0.4.6 on the sandbox served over HTTP.

Modes (see README "Performance"):

* ``compare`` (default): one sandbox (default 10 accounts x 300 media x 5 stories, 50 ms latency per request);
  tap-instagram (its own venv) and tap-creatorsocial on the Facebook-Login accounts and the streams both cover, then
  tap-creatorsocial alone on every account and stream. Prints wall seconds, HTTP requests, API calls as Meta counts
  them, records per stream, peak RSS, the ratios, and PASS/FAIL per target.
* ``scaling``: tap-creatorsocial only. Records per second with no latency, peak RSS at 4x the default dataset, and
  how wall time grows with 2x / 4x media and accounts (with latency).
* ``all``: both.

Results also go to ``benchmarks/results/latest.json``. Targets are printed, never asserted (exit code 0 unless the
benchmark itself breaks).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
PEER_VENV = BENCH / ".venv-peer"
PEER_PACKAGES = ("tap-instagram==0.4.6", "jsonpath-ng==1.10.1")
RESULTS = BENCH / "results" / "latest.json"
BIN = Path(sys.executable).parent
PAGE_SIZE = 100  # max items per page on /media, /stories, /tags (Meta caps at 100)
BATCH_SIZE = 50  # max items per batch request
COMMENT_PAGE = 50  # max top-level comments per /comments page

# Streams both taps cover: ours -> theirs (tap-instagram names), and how coverage is compared.
COMMON: dict[str, tuple[str, ...]] = {
    "accounts": ("users",),
    "media": ("media",),
    "media.children": ("media_children",),
    "stories": ("stories",),
    "media_insights": ("media_insights",),
    "story_insights": ("story_insights",),
    "account_insights": (
        "user_insights_daily",
        "user_insights_weekly",
        "user_insights_28day",
        "user_insights_followers",
    ),
    "online_followers": ("user_insights_online_followers",),
}
COVERAGE_UNIT = {
    "accounts": "accounts",
    "media": "media ids",
    "media.children": "carousel children ids",
    "stories": "story ids",
    "media_insights": "media with >=1 insight row",
    "story_insights": "stories with >=1 insight row",
    "account_insights": "(account, day) with >=1 value",
    "online_followers": "(account, day, hour) values",
}
HEAD_TO_HEAD_STREAMS = [s for s in COMMON if "." not in s]
# tap-creatorsocial settings that ask for the data tap-instagram asks for on the streams both cover: no breakdowns
# (it reads none), no Facebook-share probes, and of the account metrics only those it still gets on the current API
# version (daily/weekly/28-day `reach` and `follower_count`; its other user metrics were retired). The head-to-head
# targets compare this run; a second run with the defaults (which read far more values) is shown beside it.
SAME_DATA_AS_PEER: dict[str, Any] = {
    "media_insight_breakdowns": False,
    "facebook_share_metrics": False,
    "account_insight_metrics": ["reach", "follower_count"],
    "account_insight_breakdowns": [],
}


# ----------------------------------------------------------------------------------------------------------- helpers


@dataclasses.dataclass
class Dataset:
    """Sandbox dataset size."""

    accounts: int
    media: int
    stories: int

    def label(self) -> str:
        """E.g. ``10x300x5``."""
        return f"{self.accounts}x{self.media}x{self.stories}"


@dataclasses.dataclass
class Sandbox:
    """A running sandbox server and its URLs."""

    proc: subprocess.Popen[str]
    urls: dict[str, Any]

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return str(self.urls["stats_url"]).removesuffix("/__stats")

    def get(self, url: str) -> Any:
        """GET a sandbox endpoint (not counted in its stats)."""
        with urlopen(url, timeout=120) as resp:  # noqa: S310 - loopback sandbox URL
            return json.load(resp)

    def reset_stats(self) -> None:
        """Zero the request counters."""
        with urlopen(Request(f"{self.base}/__stats/reset", data=b"", method="POST"), timeout=30):  # noqa: S310
            pass

    def stats(self) -> dict[str, Any]:
        """``{"http_requests", "api_calls", "by_endpoint"}`` since the last reset."""
        return dict(self.get(self.urls["stats_url"]))


@dataclasses.dataclass
class Run:
    """One tap process: what it cost and what it produced."""

    name: str
    wall_s: float
    exit_code: int
    peak_rss_mb: float
    http_requests: int
    api_calls: int
    records: dict[str, int]
    coverage: dict[str, int]
    by_endpoint: dict[str, int]
    errors: list[str]
    cpu_s: float = 0.0  # user + system CPU seconds of the tap process
    is_peer: bool = False  # tap-instagram: its records are keyed by its own stream names

    @property
    def total_records(self) -> int:
        """Records over every stream."""
        return sum(self.records.values())


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(sandbox CPUs, tap CPUs): the sandbox stands in for Meta's servers, which never share the tap's machine, so
    with two CPUs or more it gets one of its own and the taps the rest; None on one CPU (or off Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[-1]}, set(cpus[:-1])) if len(cpus) >= 2 else None


def pinned(role: int) -> Callable[[], None] | None:
    """A `preexec_fn` pinning the child (and every thread it starts) to its side of `cpu_split` (0 = sandbox,
    1 = tap); None where there is no split."""
    split = cpu_split()
    if split is None:
        return None
    cpus = split[role]
    return lambda: os.sched_setaffinity(0, cpus)


@contextmanager
def sandbox(data: Dataset, latency_ms: int, seed: int) -> Iterator[Sandbox]:
    """Start a sandbox server (one JSON line with its URLs first) and stop it on exit."""
    cmd = [
        str(BIN / "tap-creatorsocial-sandbox"),
        "serve",
        "--port",
        "0",
        "--seed",
        str(seed),
        "--accounts",
        str(data.accounts),
    ]
    cmd += ["--media", str(data.media), "--stories", str(data.stories), "--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=pinned(0))  # noqa: S603
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"sandbox did not start: {' '.join(cmd)}")
        yield Sandbox(proc, json.loads(line))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_process(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[float, int, float, float]:
    """Run ``cmd`` with stdout to ``out`` (stderr to ``out.err``): (wall s, exit code, peak RSS MB, CPU s) of that
    process.

    ``os.wait4`` returns the resource usage of exactly this child, so ``ru_maxrss`` is its own peak RSS and
    ``ru_utime + ru_stime`` its own CPU time (not the sandbox server's).
    """
    with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env, preexec_fn=pinned(1))  # noqa: S603
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, proc.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def singer_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(stream, record) for each RECORD message of a Singer output file."""
    with path.open() as fh:
        for line in fh:
            if '"RECORD"' not in line:
                continue
            msg = json.loads(line)
            if msg.get("type") == "RECORD":
                yield msg["stream"], msg["record"]


def pacific_day_closed_by(end_time: str) -> str:
    """The Pacific day an insights ``end_time`` closes (any UTC format; 12 h back is safe across DST)."""
    text = end_time.replace(" ", "T").replace("+0000", "+00:00")
    moment = dt.datetime.fromisoformat(text)
    return (moment - dt.timedelta(hours=12)).date().isoformat()


def ours_coverage(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Records per stream and per-object coverage (see ``COVERAGE_UNIT``) of a tap-creatorsocial output."""
    records: Counter[str] = Counter()
    seen: dict[str, set[Any]] = defaultdict(set)
    for stream, rec in singer_records(path):
        records[stream] += 1
        if stream == "accounts":
            seen[stream].add(rec.get("account_id"))
        elif stream in ("media", "stories"):
            seen[stream].add(rec.get("id"))
            for child in rec.get("children") or []:
                seen["media.children"].add(child.get("id"))
        elif stream == "media_insights":
            seen[stream].add(rec.get("media_id"))
        elif stream == "story_insights":
            seen[stream].add(rec.get("story_id"))
        elif stream == "account_insights" and rec.get("value") is not None:
            seen[stream].add((rec.get("account_id"), rec.get("date")))
        elif stream == "online_followers":
            seen[stream].add((rec.get("account_id"), rec.get("date"), rec.get("hour")))
    return dict(records), {k: len(v) for k, v in seen.items()}


def peer_coverage(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Records per stream and coverage of a tap-instagram output, keyed by *our* stream names."""
    records: Counter[str] = Counter()
    seen: dict[str, set[Any]] = defaultdict(set)
    for stream, rec in singer_records(path):
        records[stream] += 1
        obj = str(rec.get("id", "")).split("/")[0]  # insight rows: "{object id}/insights/{metric}/{period}"
        if stream == "users":
            seen["accounts"].add(obj)
        elif stream in ("media", "stories"):
            seen[stream].add(obj)
        elif stream == "media_children":
            seen["media.children"].add(obj)
        elif stream in ("media_insights", "story_insights"):
            seen[stream].add(obj)
        elif stream.startswith("user_insights") and rec.get("end_time"):
            day = pacific_day_closed_by(str(rec["end_time"]))
            if stream == "user_insights_online_followers":
                seen["online_followers"].add((obj, day, str(rec.get("context"))))
            elif rec.get("value") is not None:
                seen["account_insights"].add((obj, day))
    return dict(records), {k: len(v) for k, v in seen.items()}


def error_lines(err_path: Path, limit: int = 8) -> list[str]:
    """Distinct error / warning lines of a tap's stderr (first ``limit``), tracebacks reduced to their last line."""
    found: list[str] = []
    lines = err_path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        is_exc = i == len(lines) - 1 or (text and not line.startswith((" ", "Traceback")) and "Error" in text[:60])
        if "Client Error" in text or "BENCH-COMPAT" in text or "| ERROR" in text or "level=ERROR" in text or is_exc:
            short = re.sub(r"partition \{.*?\} of", "partition {...} of", text.split("message=", 1)[-1])
            short = re.sub(r"(https?://\S+?)\?\S*", r"\1?...", short)[:240]  # no query strings (tokens)
            if short and short not in found:
                found.append(short)
    return found[:limit]


# ------------------------------------------------------------------------------------------------- the two taps


def tap_features() -> dict[str, Any]:
    """tap-creatorsocial's settings (``--about``): used to detect ``max_workers``."""
    about = subprocess.run(  # noqa: S603
        [str(BIN / "tap-creatorsocial"), "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    props = json.loads(about.stdout)["settings"]["properties"]
    return {"max_workers": props.get("max_workers")}


def ours_catalog(config: Path, streams: list[str] | None, workdir: Path) -> Path | None:
    """A catalog selecting ``streams`` only (None: every stream, no catalog)."""
    if streams is None:
        return None
    found = subprocess.run(  # noqa: S603
        [str(BIN / "tap-creatorsocial"), "--config", str(config), "--discover"], capture_output=True, check=True
    )
    catalog = json.loads(found.stdout)
    for entry in catalog["streams"]:
        chosen = entry["tap_stream_id"] in streams
        for meta in entry.get("metadata", []):
            if meta.get("breadcrumb") == []:
                meta.setdefault("metadata", {})["selected"] = chosen
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def run_ours(
    box: Sandbox,
    name: str,
    workdir: Path,
    *,
    account_ids: list[str] | None = None,
    streams: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Run:
    """Run tap-creatorsocial against the sandbox (optionally some accounts / streams / settings) and measure it."""
    config: dict[str, Any] = {
        "sandbox": True,
        "graph_api_url": box.urls["graph_api_url"],
        "instagram_api_url": box.urls["instagram_api_url"],
        **(settings or {}),
    }
    if account_ids:
        config["account_ids"] = account_ids
    cfg = workdir / f"{re.sub(r'[^a-z0-9]+', '-', name)}.config.json"
    cfg.write_text(json.dumps(config))
    cmd = [str(BIN / "tap-creatorsocial"), "--config", str(cfg)]
    catalog = ours_catalog(cfg, streams, workdir)
    if catalog:
        cmd += ["--catalog", str(catalog)]
    box.reset_stats()
    out = workdir / f"{name}.jsonl"
    wall, code, rss, cpu = run_process(cmd, out)
    stats = box.stats()
    records, coverage = ours_coverage(out)
    return Run(name, wall, code, rss, stats["http_requests"], stats["api_calls"], records, coverage,
               stats["by_endpoint"], error_lines(out.with_suffix(".err")) if code else [], cpu)  # fmt: skip


def ensure_peer_venv() -> Path:
    """``benchmarks/.venv-peer`` with tap-instagram 0.4.6 (created with pip on first use)."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"Creating {PEER_VENV} with {' '.join(PEER_PACKAGES)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)  # noqa: S603
        subprocess.run(  # noqa: S603
            [str(python), "-m", "pip", "install", "--quiet", "--ignore-requires-python", *PEER_PACKAGES], check=True
        )
    return python


def compat_spec(version: int = 0) -> dict[str, list[str]]:
    """Metric names the sandbox accepts on its default API version (what compat mode keeps)."""
    from tap_creatorsocial.sandbox import rules

    version = version or rules.DEFAULT_VERSION
    now = dt.datetime.now(dt.UTC)
    media = [
        name
        for name, rule in rules.MEDIA_METRICS.items()
        if rule.min_version <= version
        and (rule.max_version is None or version <= rule.max_version)
        and (rule.removed_all_versions is None or now.date() < rule.removed_all_versions)
    ]
    return {"media_metrics": media, "user_metrics": rules.user_metric_enum(version, now)}


def run_peer(box: Sandbox, name: str, workdir: Path, token: str, account_ids: list[str], *, compat: bool) -> Run:
    """Run tap-instagram 0.4.6 (through ``peer_entry.py``) on ``account_ids`` with one Facebook-Login token."""
    python = ensure_peer_venv()
    cfg = workdir / f"{name}.config.json"
    cfg.write_text(json.dumps({"access_token": token, "ig_user_ids": [int(a) for a in account_ids]}))
    env = {**os.environ, "PEER_BASE_URL": box.urls["graph_api_url"]}
    env.pop("PEER_COMPAT", None)
    if compat:
        env["PEER_COMPAT"] = json.dumps(compat_spec())
    box.reset_stats()
    out = workdir / f"{name}.jsonl"
    wall, code, rss, cpu = run_process([str(python), str(BENCH / "peer_entry.py"), "--config", str(cfg)], out, env)
    stats = box.stats()
    records, coverage = peer_coverage(out)
    errors = error_lines(out.with_suffix(".err"))
    skipped = out.with_suffix(".err").read_text(errors="replace").count("BENCH-COMPAT skipped")
    if skipped:
        errors.insert(0, f"{skipped} partition(s) skipped on 4xx / pagination loop (compat mode)")
    return Run(name, wall, code, rss, stats["http_requests"], stats["api_calls"], records, coverage,
               stats["by_endpoint"], errors, cpu, is_peer=True)  # fmt: skip


# ------------------------------------------------------------------------------------------- minimum HTTP requests


def account_insight_calls(days: dict[str, dict[str, Any]], settings: dict[str, Any]) -> int:
    """Fewest ``/{ig-user-id}/insights`` calls (``period=day``) for one account's daily values, per Meta's rules
    (the sandbox's model of them, not the tap's catalog).

    A ``total_value`` metric gives one number per since/until window, so each day with such a value costs a call;
    each breakdown is its own call per day with data; a metric Meta also serves as ``time_series`` costs one call per
    30 days, unless a daily ``total_value`` call is made anyway (then it rides along).
    """
    from tap_creatorsocial.sandbox import rules

    wanted = settings.get("account_insight_metrics")
    valid = set(rules.user_metric_enum(rules.DEFAULT_VERSION, dt.datetime.now(dt.UTC)))
    metrics = {m for m in (wanted or valid) if m in valid and rules.USER_METRICS[m].source == "daily"}
    series_ok = {m for m in metrics if "time_series" in rules.USER_METRICS[m].metric_types}
    total_only = metrics - series_ok
    series_only = {m for m in series_ok if "total_value" not in rules.USER_METRICS[m].metric_types}
    breakdowns = settings.get("account_insight_breakdowns")
    if breakdowns is None:
        breakdowns = sorted({b for m in metrics for b in rules.USER_METRICS[m].breakdowns})

    daily = [day for day, values in days.items() if total_only & values.keys()]
    calls = len(daily)
    for b in breakdowns:
        with_b = {m for m in metrics if b in rules.USER_METRICS[m].breakdowns}
        calls += sum(1 for values in days.values() if with_b & values.keys())
    for group in (series_only, series_ok - series_only if not daily else set()):
        n = sum(1 for values in days.values() if group & values.keys())
        calls += math.ceil(n / 30)
    return calls


def minimum_requests(truth: dict[str, Any], connections: list[dict[str, str]], account_ids: set[str],
                     streams: set[str], settings: dict[str, Any] | None = None) -> dict[str, int]:  # fmt: skip
    """The fewest HTTP requests the API allows to read ``streams`` of ``account_ids`` with the tap's ``settings``
    (sandbox truth, v25).

    ``minimum = discovery + pages + sum over Facebook-Login objects / 50 (rounded up) + Instagram-Login objects``

    * discovery: 1 request per connection whose accounts are read (``/me/accounts`` or IG ``/me``);
    * pages (sequential: each needs the previous cursor): per account ``ceil(media/100)`` (at least 1, plus the one
      empty page the sandbox routes every other account's first ``next`` through), ``ceil(stories/100)`` (at least 1),
      ``ceil(tags/100)`` (at least 1), and each further ``/comments`` page (``ceil(top-level/50) - 1`` per media);
    * objects (one API call each; batchable 50 per request on graph.facebook.com, one request each on
      graph.instagram.com where batch is not available): FB-Login profiles (IG ``/me`` already is the profile), one
      insights call per media / live story plus, with ``media_insight_breakdowns`` (default on), one per breakdown
      with data (no call for AD media: no metric is valid), account insights per ``account_insight_calls``, one
      ``online_followers`` call, one call per (demographic metric, timeframe, breakdown) with data, one first
      ``/comments`` page per media with comments.

    It is a lower bound: calls that only return "no data" (e.g. stories with too few viewers) are not counted.
    """
    settings = settings or {}
    accounts = [a for a in truth["accounts"] if a["id"] in account_ids]
    by_login: dict[str, list[str]] = defaultdict(list)
    for acct in truth["accounts"]:  # dataset order, as the sandbox assigns its empty-page accounts
        by_login[acct["login"]].append(acct["id"])
    gap = {aid for ids in by_login.values() for aid in ids[::2]}
    logins = {a["id"]: a["login"] for a in accounts}
    per_account: dict[str, Counter[str]] = {a["id"]: Counter() for a in accounts}
    for row in truth["media"]:
        if row["account_id"] in per_account:
            per_account[row["account_id"]]["media"] += 1
    for row in truth["stories"]:
        if row["account_id"] in per_account:
            per_account[row["account_id"]]["stories"] += 1
    for row in truth["tags"]:
        if row["tagged_account_id"] in per_account:
            per_account[row["tagged_account_id"]]["tags"] += 1

    pages = 0
    objects = {"facebook": 0, "instagram": 0}
    for aid, n in per_account.items():
        login = logins[aid]
        if "media" in streams or "media_insights" in streams or "comments" in streams:
            pages += max(1, math.ceil(n["media"] / PAGE_SIZE)) + (1 if aid in gap and n["media"] > PAGE_SIZE else 0)
        if "stories" in streams or "story_insights" in streams:
            pages += max(1, math.ceil(n["stories"] / PAGE_SIZE))
        if "tags" in streams:
            pages += max(1, math.ceil(n["tags"] / PAGE_SIZE))
        if "accounts" in streams and login == "facebook":
            objects[login] += 1
        if "account_insights" in streams:
            objects[login] += account_insight_calls(truth["account_insights"].get(aid, {}), settings)
        if "online_followers" in streams and truth["online_followers"].get(aid):
            objects[login] += 1
        if "audience" in streams:
            demo = truth["demographics"].get(aid, {})
            objects[login] += sum(len(per_b) for per_tf in demo.values() for per_b in per_tf.values())

    owner = {m["id"]: m["account_id"] for m in truth["media"]}
    owner.update({s["id"]: s["account_id"] for s in truth["stories"]})
    story_ids = {s["id"] for s in truth["stories"]}
    ad_media = {m["id"] for m in truth["media"] if m.get("media_product_type") == "AD"}
    with_breakdowns = settings.get("media_insight_breakdowns", True)
    for mid, aid in owner.items():
        if aid not in per_account or mid in ad_media:
            continue
        wanted = "story_insights" if mid in story_ids else "media_insights"
        if wanted in streams:
            breakdown_calls = len(truth["media_insight_breakdowns"].get(mid, {})) if with_breakdowns else 0
            objects[logins[aid]] += 1 + breakdown_calls
    if "comments" in streams:
        top_level: Counter[str] = Counter()
        for c in truth["comments"]:
            if c["account_id"] in per_account and not c.get("parent_id"):
                top_level[c["media_id"]] += 1
        for mid, count in top_level.items():
            objects[logins[owner[mid]]] += 1
            pages += math.ceil(count / COMMENT_PAGE) - 1

    used = {logins[a] for a in per_account}
    discovery = sum(1 for c in connections if c["provider"] in used)
    fb = math.ceil(objects["facebook"] / BATCH_SIZE)
    total = discovery + pages + fb + objects["instagram"]
    return {"total": total, "discovery": discovery, "pages": pages, "fb_objects": objects["facebook"],
            "fb_batches": fb, "ig_objects": objects["instagram"]}  # fmt: skip


# ----------------------------------------------------------------------------------------------------- reporting


def ratio(a: float, b: float) -> float | None:
    """``a / b`` or None when ``b`` is 0."""
    return a / b if b else None


def call_families(by_endpoint: dict[str, int]) -> dict[str, int]:
    """API calls grouped: account insights, media/story insights, everything else (profiles, pages, children)."""
    out: Counter[str] = Counter()
    for key, n in by_endpoint.items():
        if key.endswith("{ig-user-id}/insights"):
            out["account insights"] += n
        elif key.endswith("{media-id}/insights"):
            out["media+story insights"] += n
        else:
            out["profiles, pages, children"] += n
    return dict(out)


def fmt_ratio(value: float | None) -> str:
    """``0.0123`` / ``1/81`` style, or ``n/a``."""
    if value is None:
        return "n/a"
    return f"{value:.3f} (1/{1 / value:.0f})" if 0 < value < 1 else f"{value:.3f}"


def target(lines: list[dict[str, Any]], name: str, ok: bool | None, figures: str) -> None:
    """Record and print one target line (``ok`` None: not yet measurable)."""
    verdict = "NOT YET MEASURABLE" if ok is None else ("PASS" if ok else "FAIL")
    lines.append({"target": name, "verdict": verdict, "figures": figures})
    print(f"  [{verdict}] {name}: {figures}")


def markdown_runs(runs: list[Run]) -> str:
    """A Markdown table of runs: wall, CPU, requests, calls, records, RSS, exit code."""
    rows = [
        "| Run | Wall s | CPU s | HTTP requests | API calls | Records | Peak RSS MB | Exit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        rows.append(f"| {r.name} | {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.http_requests} | {r.api_calls} | "
                    f"{r.total_records} | {r.peak_rss_mb:.0f} | {r.exit_code} |")  # fmt: skip
    return "\n".join(rows)


def markdown_streams(ours: Run, others: list[Run]) -> str:
    """Per common stream: records (raw rows) and coverage, ours vs each other run."""
    head = f"| Stream (ours ← theirs) | Coverage unit | {ours.name} rows | {ours.name} cov. |"
    sep = "|---|---|---:|---:|"
    for p in others:
        head += f" {p.name} rows | {p.name} cov. |"
        sep += "---:|---:|"
    rows = [head, sep]
    for ours_name, theirs in COMMON.items():
        line = f"| {ours_name} ← {', '.join(theirs)} | {COVERAGE_UNIT[ours_name]} | "
        rows_ours = ours.records.get(ours_name, 0) if "." not in ours_name else "—"
        line += f"{rows_ours} | {ours.coverage.get(ours_name, 0)} |"
        for p in others:
            n = sum(p.records.get(t, 0) for t in theirs) if p.is_peer else p.records.get(ours_name, "—")
            line += f" {n} | {p.coverage.get(ours_name, 0)} |"
        rows.append(line)
    return "\n".join(rows)


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, Python version, OS."""
    cpu = "unknown"
    mem_gb = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    split = cpu_split()
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_gb, 1), "python": platform.python_version(),
            "os": platform.platform(),
            "cpus": f"sandbox on {sorted(split[0])}, taps on {sorted(split[1])}" if split else "shared"}  # fmt: skip


# --------------------------------------------------------------------------------------------------------- modes


def compare(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Head-to-head on the Facebook-Login accounts, then tap-creatorsocial's full run, with the targets."""
    data = Dataset(args.accounts, args.media, args.stories)
    print(f"\n== compare: dataset {data.label()} (accounts x media x stories), latency {args.latency_ms} ms ==")
    result: dict[str, Any] = {"dataset": dataclasses.asdict(data), "latency_ms": args.latency_ms}
    with sandbox(data, args.latency_ms, args.seed) as box:
        truth = box.get(box.urls["truth_url"])
        connections = box.get(box.urls["connections_url"])
        fb_ids = [a["id"] for a in truth["accounts"] if a["login"] == "facebook"]
        fb_token = next(c["access_token"] for c in connections if c["provider"] == "facebook")
        print(f"Facebook-Login accounts (head-to-head): {len(fb_ids)} of {len(truth['accounts'])}")

        peers: list[Run] = []
        modes = {"both": (False, True), "as-is": (False,), "compat": (True,), "skip": ()}[args.peer]
        for compat in modes:
            name = "tap-instagram (compat)" if compat else "tap-instagram"
            print(f"running {name} ...", flush=True)
            peers.append(run_peer(box, name, workdir, fb_token, fb_ids, compat=compat))
            print(f"  {peers[-1].wall_s:.1f} s, {peers[-1].http_requests} requests, exit {peers[-1].exit_code}")
        print("running tap-creatorsocial (head-to-head, same data as tap-instagram) ...", flush=True)
        h2h = run_ours(box, "tap-creatorsocial (same data)", workdir, account_ids=fb_ids,
                       streams=HEAD_TO_HEAD_STREAMS, settings=SAME_DATA_AS_PEER)  # fmt: skip
        print("running tap-creatorsocial (head-to-head, default settings) ...", flush=True)
        h2h_default = run_ours(box, "tap-creatorsocial (defaults)", workdir, account_ids=fb_ids,
                               streams=HEAD_TO_HEAD_STREAMS)  # fmt: skip
        print("running tap-creatorsocial (all accounts, all streams, default settings) ...", flush=True)
        full = run_ours(box, "tap-creatorsocial (full)", workdir)
        all_streams = set(full.records) - {"connections"}
        fb_set = set(fb_ids)
        minimums = {
            "head_to_head": minimum_requests(truth, connections, fb_set, set(HEAD_TO_HEAD_STREAMS), SAME_DATA_AS_PEER),
            "head_to_head_defaults": minimum_requests(truth, connections, fb_set, set(HEAD_TO_HEAD_STREAMS)),
            "full": minimum_requests(truth, connections, {a["id"] for a in truth["accounts"]}, all_streams),
        }

    runs = [*peers, h2h, h2h_default, full]
    print("\n### Runs\n")
    print(markdown_runs(runs))
    print(f"\n'same data' settings: {json.dumps(SAME_DATA_AS_PEER)}")
    print("\n### Streams both cover (head-to-head, Facebook-Login accounts)\n")
    print(markdown_streams(h2h, [h2h_default, *peers]))
    print("\nRows differ in shape: tap-instagram writes one row per (object, metric, value) and none per breakdown;")
    print("tap-creatorsocial writes tidy rows per (object, metric, breakdown value). Coverage counts objects instead.")
    print("\n### tap-creatorsocial full run, records per stream\n")
    print(", ".join(f"{k}: {v}" for k, v in sorted(full.records.items())))
    for p in peers:
        if p.errors:
            print(f"\n{p.name} errors (exit {p.exit_code}):")
            for e in p.errors:
                print(f"  - {e}")
    if full.exit_code or h2h.exit_code or h2h_default.exit_code:
        print("\ntap-creatorsocial errors:", *(h2h.errors + h2h_default.errors + full.errors), sep="\n  - ")

    print("\n### Targets\n")
    targets: list[dict[str, Any]] = []
    ref = next((p for p in peers if p.exit_code == 0), peers[-1] if peers else None)
    if ref is None:
        print("  (peer skipped: no head-to-head targets)")
    else:
        note = "" if ref.exit_code == 0 else f" [{ref.name} exited {ref.exit_code}]"
        r_http = ratio(h2h.http_requests, ref.http_requests)
        r_wall = ratio(h2h.wall_s, ref.wall_s)
        r_calls = ratio(h2h.api_calls, ref.api_calls)
        target(targets, f"HTTP requests <= 1/20 of {ref.name}", r_http is not None and r_http <= 1 / 20,
               f"{h2h.http_requests} vs {ref.http_requests} = {fmt_ratio(r_http)}{note}")  # fmt: skip
        target(targets, f"wall <= 1/20 of {ref.name}", r_wall is not None and r_wall <= 1 / 20,
               f"{h2h.wall_s:.1f} s vs {ref.wall_s:.1f} s = {fmt_ratio(r_wall)}{note}")  # fmt: skip
        target(targets, f"API calls <= 0.6x {ref.name}", r_calls is not None and r_calls <= 0.6,
               f"{h2h.api_calls} vs {ref.api_calls} = {fmt_ratio(r_calls)}{note}; by family, ours vs theirs: "
               + ", ".join(f"{k} {v} vs {call_families(ref.by_endpoint).get(k, 0)}"
                           for k, v in sorted(call_families(h2h.by_endpoint).items())))  # fmt: skip
        short = [k for k in COMMON if h2h.coverage.get(k, 0) < ref.coverage.get(k, 0)]
        target(targets, f"coverage >= {ref.name} on every common stream", not short,
               "; ".join(f"{k} {h2h.coverage.get(k, 0)} vs {ref.coverage.get(k, 0)}" for k in COMMON))  # fmt: skip
        d_calls = ratio(h2h_default.api_calls, ref.api_calls)
        print(f"  [info] default settings, same streams (every breakdown, every current account metric per day): "
              f"{h2h_default.api_calls} API calls = {fmt_ratio(d_calls)} of {ref.name}, "
              f"{h2h_default.http_requests} HTTP requests, {h2h_default.wall_s:.1f} s, "
              f"{h2h_default.total_records} records vs {h2h.total_records} with the 'same data' settings")  # fmt: skip
    runs_vs_minimum = (("head-to-head", h2h, minimums["head_to_head"]),
                       ("head-to-head, defaults", h2h_default, minimums["head_to_head_defaults"]),
                       ("full", full, minimums["full"]))  # fmt: skip
    for label, run, minimum in runs_vs_minimum:
        r_min = ratio(run.http_requests, minimum["total"])
        target(targets, f"HTTP requests <= 1.5x API minimum ({label})", r_min is not None and r_min <= 1.5,
               f"{run.http_requests} vs minimum {minimum['total']} = {fmt_ratio(r_min)} "
               f"(discovery {minimum['discovery']} + pages {minimum['pages']} + ceil({minimum['fb_objects']}/50)="
               f"{minimum['fb_batches']} FB batches + {minimum['ig_objects']} IG objects)")  # fmt: skip

    result.update({
        "runs": [dataclasses.asdict(r) for r in runs],
        "same_data_settings": SAME_DATA_AS_PEER,
        "minimum_requests": minimums,
        "targets": targets,
        "markdown": {"runs": markdown_runs(runs), "streams": markdown_streams(h2h, [h2h_default, *peers])},
    })  # fmt: skip
    return result


def scaling(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """tap-creatorsocial alone: rec/s without latency, RSS at 4x, wall growth with media and accounts."""
    features = tap_features()
    result: dict[str, Any] = {"max_workers": features["max_workers"]}
    targets: list[dict[str, Any]] = []
    base = Dataset(args.accounts, args.media, args.stories)
    big = Dataset(args.accounts, args.media * 4, args.stories)
    print(f"\n== scaling: records/s with no latency on {base.label()} and {big.label()} (4x media) ==")
    speed: list[Run] = []
    for data in (base, big):
        with sandbox(data, 0, args.seed) as box:
            run = run_ours(box, f"full {data.label()} 0 ms", workdir)
        speed.append(run)
        print(f"  {data.label()}: {run.total_records} records in {run.wall_s:.1f} s = "
              f"{run.total_records / run.wall_s:.0f} rec/s ({run.total_records / max(run.cpu_s, 0.01):.0f} per CPU "
              f"second of the tap, {run.cpu_s:.1f} s), {run.http_requests} requests, "
              f"peak RSS {run.peak_rss_mb:.0f} MB, exit {run.exit_code}")  # fmt: skip

    g = Dataset(args.growth_accounts, args.growth_media, args.stories)
    print(f"\n== scaling: wall growth at {args.latency_ms} ms latency, base {g.label()} ==")
    curves: dict[str, list[dict[str, Any]]] = {"media": [], "accounts": []}
    base_run: Run | None = None
    for axis in ("media", "accounts"):
        for factor in (1, 2, 4):
            data = dataclasses.replace(g, **{axis: getattr(g, axis) * factor})
            if factor == 1 and base_run is not None:
                run = base_run
            else:
                with sandbox(data, args.latency_ms, args.seed) as box:
                    run = run_ours(box, f"full {data.label()} {args.latency_ms} ms", workdir)
                base_run = base_run or run
            curves[axis].append({"factor": factor, "dataset": data.label(), "wall_s": run.wall_s,
                                 "http_requests": run.http_requests, "records": run.total_records,
                                 "peak_rss_mb": run.peak_rss_mb, "cpu_s": run.cpu_s,
                                 "exit_code": run.exit_code})  # fmt: skip
            print(f"  {axis} x{factor} ({data.label()}): {run.wall_s:.1f} s (tap CPU {run.cpu_s:.1f} s), "
                  f"{run.http_requests} requests, "
                  f"{run.total_records} records, exit {run.exit_code}")  # fmt: skip

    print("\n### Targets\n")
    m = curves["media"]
    growth_m = m[2]["wall_s"] / m[0]["wall_s"]
    target(targets, "wall linear in media (x4 media -> <= 4.6x wall)", growth_m <= 4 * 1.15,
           f"x2: {m[1]['wall_s'] / m[0]['wall_s']:.2f}x, x4: {growth_m:.2f}x "
           f"({m[0]['wall_s']:.1f} / {m[1]['wall_s']:.1f} / {m[2]['wall_s']:.1f} s)")  # fmt: skip
    a = curves["accounts"]
    growth_a = a[2]["wall_s"] / a[0]["wall_s"]
    figures = (f"x2: {a[1]['wall_s'] / a[0]['wall_s']:.2f}x, x4: {growth_a:.2f}x "
               f"({a[0]['wall_s']:.1f} / {a[1]['wall_s']:.1f} / {a[2]['wall_s']:.1f} s)")  # fmt: skip
    if features["max_workers"] is None:
        target(targets, "wall nearly flat in accounts up to max_workers", None,
               f"setting max_workers not in `tap-creatorsocial --about`; curve: {figures}")  # fmt: skip
    else:
        target(targets, "wall nearly flat in accounts up to max_workers (x4 accounts -> <= 1.5x wall)",
               growth_a <= 1.5, figures)  # fmt: skip
    rss = speed[1].peak_rss_mb
    target(targets, f"peak RSS < 200 MB at 4x the default dataset ({big.label()})", rss < 200, f"{rss:.0f} MB")
    result.update({
        "records_per_second": [
            {"dataset": r.name, "records": r.total_records, "wall_s": r.wall_s, "rec_per_s": r.total_records / r.wall_s,
             "cpu_s": r.cpu_s,
             "http_requests": r.http_requests, "peak_rss_mb": r.peak_rss_mb, "records_by_stream": r.records,
             "exit_code": r.exit_code}
            for r in speed
        ],
        "growth": curves,
        "targets": targets,
    })  # fmt: skip
    return result


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("compare", "scaling", "all"), default="compare")
    p.add_argument("--quick", action="store_true", help="small dataset (3 x 60 x 5; growth base 1 x 20)")
    p.add_argument("--accounts", type=int, default=10)
    p.add_argument("--media", type=int, default=300)
    p.add_argument("--stories", type=int, default=5)
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--growth-accounts", type=int, default=2, help="scaling: base accounts of the growth curves")
    p.add_argument("--growth-media", type=int, default=60, help="scaling: base media of the growth curves")
    p.add_argument("--peer", choices=("both", "as-is", "compat", "skip"), default="both",
                   help="tap-instagram runs: unmodified, compat (survives the current API version; see "
                        "peer_entry.py), both (default) or none")  # fmt: skip
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--keep", type=Path, help="keep every tap's output and stderr in this directory")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the chosen mode(s), print the report, write the JSON results."""
    args = build_parser().parse_args(argv)
    if args.quick:
        args.accounts, args.media, args.growth_accounts, args.growth_media = 3, 60, 1, 20
    started = time.perf_counter()
    report: dict[str, Any] = {"machine": machine(), "started_at": dt.datetime.now(dt.UTC).isoformat(),
                              "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])])}  # fmt: skip
    print(f"machine: {report['machine']}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.mode in ("compare", "all"):
            report["compare"] = compare(args, workdir)
        if args.mode in ("scaling", "all"):
            report["scaling"] = scaling(args, workdir)
    report["benchmark_wall_s"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nbenchmark took {report['benchmark_wall_s']} s; results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
