"""``tap-creatorsocial-sandbox``: run the emulator over HTTP, print its truth file, or list demo connections.

``serve`` prints exactly one JSON line with the URLs first (so scripts can read it), then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from types import FrameType

from .api import GraphEmulator
from .dataset import DatasetSpec, generate
from .scenario import Scenario
from .server import SandboxHTTPServer


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--media", type=int, default=40)
    parser.add_argument("--stories", type=int, default=3)
    parser.add_argument("--now", help="anchor time (ISO 8601, UTC if no offset); default: this UTC hour")


def _parse_now(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _emulator(args: argparse.Namespace, scenario: Scenario | None = None) -> GraphEmulator:
    spec = DatasetSpec(seed=args.seed, accounts=args.accounts, media=args.media, stories=args.stories)
    return GraphEmulator(generate(spec, now=_parse_now(args.now)), scenario)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests)."""
    parser = argparse.ArgumentParser(prog="tap-creatorsocial-sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the emulator on 127.0.0.1")
    _common(serve)
    serve.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    serve.add_argument("--latency-ms", type=int, default=None)
    serve.add_argument("--scenario", default="default", choices=Scenario.names())
    serve.add_argument("--require-appsecret-proof", action="store_true")
    truth = sub.add_parser("truth", help="print the expected dataset (truth JSON)")
    _common(truth)
    truth.add_argument("--version", type=int, default=None, help="Graph API version number, e.g. 25")
    tokens = sub.add_parser("tokens", help="print the demo connections (provider, owner_id, access_token)")
    _common(tokens)
    return parser


def _serve(args: argparse.Namespace) -> int:
    scenario = replace(Scenario.named(args.scenario), seed=args.seed)
    if args.latency_ms is not None:
        scenario.latency_ms = args.latency_ms
    if args.require_appsecret_proof:
        scenario.require_appsecret_proof = True
    emulator = _emulator(args, scenario)
    server = SandboxHTTPServer(emulator, args.port)
    base = server.start()
    app = emulator.dataset.app
    print(
        json.dumps(
            {
                "graph_api_url": f"{base}/graph.facebook.com",
                "instagram_api_url": f"{base}/graph.instagram.com",
                "instagram_oauth_url": f"{base}/api.instagram.com",
                "facebook_dialog_url": f"{base}/www.facebook.com",
                "instagram_dialog_url": f"{base}/www.instagram.com",
                "stats_url": f"{base}/__stats",
                "truth_url": f"{base}/__truth",
                "connections_url": f"{base}/__sandbox/connections",
                "app_id": app.id,
                "app_secret": app.secret,
                "redirect_uris": app.redirect_uris,
                "scenario": scenario.name,
            }
        ),
        flush=True,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "truth":
        from . import rules, truth

        emulator_dataset = generate(
            DatasetSpec(seed=args.seed, accounts=args.accounts, media=args.media, stories=args.stories),
            now=_parse_now(args.now),
        )
        version = args.version if args.version is not None else rules.DEFAULT_VERSION
        json.dump(truth.build_truth(emulator_dataset, version), sys.stdout, default=str)
        sys.stdout.write("\n")
        return 0
    emulator = _emulator(args)
    json.dump(emulator.connections(), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
