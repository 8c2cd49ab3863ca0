"""Render the README's Settings and Streams tables from the tap itself, so the docs cannot drift from the code.

Settings come from `tap-creatorsocial --about --format=json` (the same rows `--about --format=markdown` prints, in
the same order, nested settings as `parent.child`, plus which are secret); the streams table is the one
`--about --format=markdown` prints under "## Streams", verbatim. Each table sits between marker comments in README.md:

    python scripts/readme_tables.py           # exit 1 and say so when README.md is out of date
    python scripts/readme_tables.py --write   # rewrite the tables in place (only between the markers)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = ("settings", "streams")


class SettingRow(NamedTuple):
    name: str
    default: Any
    description: str
    secret: bool


def about(output_format: str) -> str:
    """What `tap-creatorsocial --about --format=<output_format>` prints (a subprocess: exactly the user's view)."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "tap_creatorsocial", "--about", f"--format={output_format}"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout


def about_json() -> dict[str, Any]:
    info = json.loads(about("json"))
    if not isinstance(info, dict):
        raise TypeError("--about --format=json did not print a JSON object")
    return info


def markdown_table(markdown: str, heading: str) -> str:
    """The first table under `## <heading>` in `--about --format=markdown` output."""
    section = markdown.split(f"\n## {heading}\n", 1)
    if len(section) != 2:
        raise ValueError(f"--about --format=markdown has no '## {heading}' section")
    rows = []
    for line in section[1].lstrip("\n").splitlines():
        if not line.startswith("|"):
            break
        rows.append(line)
    return "\n".join(rows)


def setting_rows(schema: dict[str, Any], parent: str = "") -> Iterator[SettingRow]:
    """Every setting, depth first, in the order singer-sdk's markdown `--about` lists them."""
    for name, sub in schema.get("properties", {}).items():
        full = f"{parent}.{name}" if parent else name
        yield SettingRow(full, sub.get("default"), sub.get("description", ""), bool(sub.get("secret")))
        if "properties" in sub:
            yield from setting_rows(sub, full)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(value: Any) -> str:
    if value is None:
        return "—"
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


def settings_table(about: dict[str, Any]) -> str:
    lines = ["| Setting | Default | Description |", "|---|---|---|"]
    for row in setting_rows(about["settings"]):
        name = f"`{row.name}`" + (" (secret)" if row.secret else "")
        lines.append(f"| {name} | {_default(row.default)} | {_cell(row.description)} |")
    return "\n".join(lines)


def render() -> dict[str, str]:
    return {"settings": settings_table(about_json()), "streams": markdown_table(about("markdown"), "Streams")}


def _marker_pattern(block: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- {block}-table:start[^\n]*-->\n)(.*?)(\n<!-- {block}-table:end -->)", flags=re.DOTALL
    )


def _block_match(text: str, block: str) -> re.Match[str]:
    match = _marker_pattern(block).search(text)
    if match is None:
        raise ValueError(f"README.md has no <!-- {block}-table:start … --> / <!-- {block}-table:end --> markers")
    return match


def generated_block(text: str, block: str) -> str:
    return _block_match(text, block).group(2)


def update(text: str, tables: dict[str, str]) -> str:
    """`text` with each generated block replaced (everything outside the markers untouched)."""
    for block in BLOCKS:
        match = _block_match(text, block)
        text = text[: match.start(2)] + tables[block] + text[match.end(2) :]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite README.md instead of checking it")
    args = parser.parse_args(argv)
    tables = render()
    current = README.read_text(encoding="utf-8")  # read last: other edits to README.md may have just landed
    wanted = update(current, tables)
    if wanted == current:
        print("README.md settings and streams tables are up to date.")
        return 0
    if args.write:
        README.write_text(wanted, encoding="utf-8")
        print("README.md settings and streams tables rewritten.")
        return 0
    print("README.md tables are out of date. Fix: python scripts/readme_tables.py --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
