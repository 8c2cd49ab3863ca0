"""The README's Settings and Streams tables are exactly what `tap-creatorsocial --about` prints today."""

from __future__ import annotations

from scripts import readme_tables


def _rows(table: str) -> list[list[str]]:
    """Cells of each body row (header and separator dropped), split on unescaped pipes."""
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").replace("\\|", "\0").split("|")]
        rows.append([c.replace("\0", "|") for c in cells])
    return rows


def test_readme_tables_are_generated_from_the_current_tap() -> None:
    readme = readme_tables.README.read_text(encoding="utf-8")
    tables = readme_tables.render()
    for block in readme_tables.BLOCKS:
        assert readme_tables.generated_block(readme, block) == tables[block], (
            f"README.md {block} table is out of date. Fix: python scripts/readme_tables.py --write"
        )


def test_settings_table_has_the_rows_of_about_markdown() -> None:
    """Same settings, order, defaults and descriptions as `--about --format=markdown` (plus which are secret)."""
    markdown = readme_tables.about("markdown")
    cli_rows = _rows(readme_tables.markdown_table(markdown, "Settings"))
    readme_rows = _rows(readme_tables.generated_block(readme_tables.README.read_text(encoding="utf-8"), "settings"))
    assert [r[0] for r in cli_rows] == [r[0].split("`")[1] for r in readme_rows]
    assert [" ".join(r[3].replace("<BR/>", " ").split()) for r in cli_rows] == [r[2] for r in readme_rows]
    for cli, mine in zip(cli_rows, readme_rows, strict=True):
        assert (cli[2] == "None") == (mine[1] == "—"), cli[0]
    secrets = {r[0].split("`")[1] for r in readme_rows if r[0].endswith("(secret)")}
    about = readme_tables.about_json()["settings"]["properties"]
    assert secrets == {name for name, schema in about.items() if schema.get("secret")}
    assert {"access_token", "client_secret"} <= secrets


def test_check_mode_reports_drift() -> None:
    readme = readme_tables.README.read_text(encoding="utf-8")
    stale = readme.replace("| `account_shard` |", "| `account_shard_old` |")
    assert stale != readme
    assert readme_tables.update(stale, readme_tables.render()) == readme
