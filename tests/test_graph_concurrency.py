"""`max_workers`: unbatchable object calls and batch requests go out several at once, results stay in order."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests

from tap_creatorsocial.errors import GraphAPIError
from tap_creatorsocial.graph import GraphClient


class SlowAdapter(requests.adapters.BaseAdapter):
    """Answers `/v25.0/<n>` with `{"n": n}` after 50 ms (or a 400 for n = 3), recording how many were in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(0.05)
        with self.lock:
            self.in_flight -= 1
        n = int((request.path_url or "").split("?")[0].rsplit("/", 1)[-1])
        response = requests.Response()
        response.request = request
        if n == 3:
            response.status_code = 400
            body: dict[str, Any] = {
                "error": {"message": "(#100) Unsupported get request.", "code": 100, "error_subcode": 33}
            }
        else:
            response.status_code = 200
            body = {"n": n}
        response._content = json.dumps(body).encode()
        return response

    def close(self) -> None:
        """Nothing to release."""


def client(workers: int) -> tuple[GraphClient, SlowAdapter]:
    adapter = SlowAdapter()
    session = requests.Session()
    session.mount("https://", adapter)
    return GraphClient(session, api_version="v25.0", max_workers=workers), adapter


def test_get_many_runs_up_to_max_workers_at_once_and_keeps_order() -> None:
    graph, adapter = client(workers=4)
    started = time.monotonic()
    out = graph.get_many("https://graph.instagram.com", "token", [str(n) for n in range(12)], batch=False)
    elapsed = time.monotonic() - started
    assert [o["n"] if isinstance(o, dict) else o.subcode for o in out] == [0, 1, 2, 33, 4, 5, 6, 7, 8, 9, 10, 11]
    assert isinstance(out[3], GraphAPIError)
    assert adapter.peak == 4
    assert elapsed < 12 * 0.05  # faster than one after another
    assert graph.stats.http_requests == 12


def test_one_worker_is_sequential() -> None:
    graph, adapter = client(workers=1)
    graph.get_many("https://graph.instagram.com", "token", ["1", "2", "4"], batch=False)
    assert adapter.peak == 1
