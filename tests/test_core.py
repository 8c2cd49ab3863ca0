"""singer-sdk's standard tap tests, run against the in-process sandbox."""

from singer_sdk.testing import get_tap_test_class

from tap_creatorsocial.tap import TapCreatorSocial

SAMPLE_CONFIG = {"sandbox": True, "sandbox_options": {"accounts": 3, "media": 12, "stories": 2}}

TestTapCreatorSocial = get_tap_test_class(tap_class=TapCreatorSocial, config=SAMPLE_CONFIG)
