"""Column types do not depend on the Graph API version: every version's catalog has the same schemas and keys.

(Which metrics are requested changes per version, so rows differ; tables, columns and types must not, or loaders
would alter or split tables when a project moves to a newer API version. The warehouse side is checked end to end.)
"""

from __future__ import annotations

from typing import Any

from tap_creatorsocial.catalog.versions import DEFAULT_API_VERSION, SUPPORTED_VERSIONS
from tap_creatorsocial.tap import TapCreatorSocial


def catalog_shape(api_version: str) -> dict[str, Any]:
    tap = TapCreatorSocial(config={"sandbox": True, "api_version": api_version}, parse_env_config=False)
    return {
        entry.tap_stream_id: (entry.schema.to_dict(), entry.key_properties, entry.replication_key)
        for entry in tap.catalog.streams
    }


def test_every_api_version_has_the_default_versions_catalog() -> None:
    default = catalog_shape(DEFAULT_API_VERSION)
    assert default
    assert all(schema["properties"] for schema, _, _ in default.values())
    for version in SUPPORTED_VERSIONS:
        assert catalog_shape(f"v{version}.0") == default, f"v{version}.0"
