"""The error taxonomy: each documented Graph error maps to the action the reference prescribes (graph-api.md §5)."""

from __future__ import annotations

import pytest

from tap_creatorsocial.error_policy import TAXONOMY, Action, classify, missing_scope, rejected_metrics
from tap_creatorsocial.errors import GraphAPIError, redact


def err(message: str, code: int | None, subcode: int | None = None, status: int = 400, **kw: bool) -> GraphAPIError:
    return GraphAPIError(message, status=status, code=code, subcode=subcode, **kw)


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (err("An unknown error has occurred.", 1, status=500), Action.RETRY),
        (err("An unexpected error has occurred. Please retry your request later.", 2, status=500), Action.RETRY),
        (err("(#4) Application request limit reached", 4), Action.RETRY),
        (err("(#17) User request limit reached", 17), Action.RETRY),
        (err("(#32) Page request limit reached", 32), Action.RETRY),
        (err("(#613) Calls to this api have exceeded the rate limit.", 613), Action.RETRY),
        (err("(#80002) There have been too many calls to this Instagram account.", 80002, 2446079), Action.RETRY),
        (err("odd", 100, is_transient=True), Action.RETRY),
        (err("Service Unavailable", None, status=503), Action.RETRY),
        (err("Invalid parameter", 100, 2108006), Action.SKIP_OBJECT),
        (err("Unsupported get request. Object with ID '1' does not exist", 100, 33), Action.SKIP_OBJECT),
        (err("(#10) Not enough viewers for the media to show insights", 10), Action.SKIP_OBJECT),
        (err("(#10) Insights are not available for stories older than 24 hours", 10), Action.SKIP_OBJECT),
        (err("Error validating access token: Session has expired", 190, 463), Action.RECONNECT),
        (err("The session has been invalidated because the user changed their password", 190, 460), Action.RECONNECT),
        (err("(#200) Requires instagram_manage_insights permission", 200), Action.PERMISSION),
        (err("(#10) Application does not have the capability to make this API call.", 10), Action.PERMISSION),
        (err("(#100) The Media Insights API does not support the views metric for this media product type.", 100),
         Action.REJECTED_METRIC),
        (err("(#100) metric[2] must be one of the following values: reach, likes", 100), Action.REJECTED_METRIC),
        (err("(#100) Tried accessing nonexisting field (xyz) on node type (IGMedia)", 100), Action.FAIL),
    ],
)
def test_classify(error: GraphAPIError, action: Action) -> None:
    assert classify(error) is action


def test_rejected_metrics_by_name_by_position_or_unknown() -> None:
    by_name = err("(#100) The Media Insights API does not support the views, replies metric for this media.", 100)
    assert rejected_metrics(by_name, ["reach", "views", "replies"]) == ["views", "replies"]
    # the message lists the *accepted* names: only position 1 is the culprit
    by_position = err("(#100) metric[1] must be one of the following values: reach, likes, views", 100)
    assert rejected_metrics(by_position, ["reach", "bogus", "likes"]) == ["bogus"]
    unnamed = err("(#100) The Media Insights API does not support the  metric for this media", 100)
    assert rejected_metrics(unnamed, ["reach", "likes"]) is None
    assert rejected_metrics(unnamed, ["reach"]) == ["reach"]


def test_missing_scope_is_named() -> None:
    assert missing_scope(err("(#200) Requires instagram_manage_insights permission", 200)) == (
        "instagram_manage_insights"
    )


def test_redact_masks_secret_parameters_and_bearer_tokens() -> None:
    text = "GET /v25.0/me?access_token=SECRETTOKEN123&appsecret_proof=abcdef123456 Authorization: Bearer SECRETTOKEN123"
    masked = redact(text)
    assert "SECRETTOKEN123" not in masked
    assert "abcdef123456" not in masked
    assert "access_token=***" in masked


def test_the_taxonomy_table_names_every_action_and_the_reference_codes() -> None:
    """The README's table (from `TAXONOMY`) covers each action, and each retried/skipped code classifies as it says."""
    assert {action for _, action, _ in TAXONOMY} == set(Action)
    for code in (1, 2, 4, 17, 32, 341, 368, 613, *range(80001, 80015)):
        assert classify(err("x", code)) is Action.RETRY, code
    for status in (429, 500, 502, 503):
        assert classify(err("x", None, status=status)) is Action.RETRY, status
    for sub in (None, 458, 459, 460, 463, 464, 467, 492, 493):
        assert classify(err("x", 190, sub)) is Action.RECONNECT, sub
    for code in (200, 210, 299):
        assert classify(err(f"(#{code}) Requires instagram_basic permission", code)) is Action.PERMISSION, code
