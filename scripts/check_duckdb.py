"""Compare a DuckDB load of the sandbox run with the sandbox truth, table by table (used by `make demo` and tests)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import duckdb
from tap_creatorsocial.sandbox.truth import build_truth

from tap_creatorsocial.sandbox import create_emulator


def expected_counts(truth: dict[str, Any]) -> dict[str, int]:
    """Rows each stream must land for a full extraction of the sandbox dataset."""
    return {
        "accounts": len(truth["accounts"]),
        "media": len(truth["media"]),
    }


def table_counts(path: str, schema: str, tables: list[str]) -> dict[str, int | None]:
    with duckdb.connect(path, read_only=True) as con:
        present = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [schema]
            ).fetchall()
        }
        return {
            t: (con.execute(f'select count(*) from "{schema}"."{t}"').fetchone() or [0])[0]  # noqa: S608
            if t in present
            else None
            for t in tables
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", help="DuckDB file")
    parser.add_argument("--schema", default="creatorsocial")
    parser.add_argument("--version", type=int, default=25, help="Graph API version the run used")
    args = parser.parse_args(argv)

    truth = build_truth(create_emulator().dataset, args.version)
    expected = expected_counts(truth)
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
