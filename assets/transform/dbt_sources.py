"""The ``columns:`` of the dbt sources, written from the table registry (no Dagster).

Every source table in ``dbt_project/models/**/_*__sources.yml`` is a lakehouse table; its column list and
the column descriptions come from the table's spec (``lakehouse/tables/<domain>.py``), in schema order,
so the dbt docs say what the Dagster UI says. Only the ``columns:`` block of each source table is
rewritten: the tests declared under a column (``data_tests:``, anchors included) are kept as written, and
everything else in the file (source and table descriptions, meta, table tests) is left untouched.

    python -m assets.transform.dbt_sources          # rewrite the files (make dbt-docs)
    python -m assets.transform.dbt_sources --check  # exit 1 naming the files that are out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

from lakehouse import LAYERS, LakehouseError, TableSpec, get_table

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
WIDTH = 110

_SOURCE = re.compile(r"^  - name: *(\S+)\s*$")
_TABLE = re.compile(r"^      - name: *(\S+)\s*$")
_COLUMN = re.compile(r"^          - name: *(\S+)\s*$")
_LAYER_IN_LOCATION = re.compile(r"^      external_location:.*/(bronze|silver|gold)/\{name\}")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def source_files(project_dir: Path = PROJECT_DIR) -> list[Path]:
    return sorted((project_dir / "models").rglob("_*__sources.yml"))


def description_lines(text: str, indent: int = 12) -> list[str]:
    """``description:`` of a column at ``indent``: one quoted line when it fits, else a folded block."""
    if "{{" in text or "{%" in text:
        raise LakehouseError(f"column description {text!r} holds Jinja, which dbt would render")
    pad = " " * indent
    quoted = json.dumps(text, ensure_ascii=False)   # a JSON string is a YAML double-quoted scalar
    if len(pad) + len("description: ") + len(quoted) <= WIDTH:
        return [f"{pad}description: {quoted}"]
    wrapped = textwrap.wrap(text, width=WIDTH - indent - 2, break_long_words=False, break_on_hyphens=False)
    return [f"{pad}description: >-", *(f"{pad}  {line}" for line in wrapped)]


def _column_entries(block: list[str]) -> dict[str, list[str]]:
    """Existing column entries of a ``columns:`` block: name -> their lines other than name and description."""
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    skipping = False
    for line in block:
        m = _COLUMN.match(line)
        if m:
            current = entries.setdefault(m.group(1), [])
            skipping = False
            continue
        if current is None:
            if line.strip():
                raise LakehouseError(f"unexpected line in a columns block: {line!r}")
            continue
        if _indent(line) == 12 and line.strip().startswith("description:"):
            skipping = True
            continue
        if skipping and (not line.strip() or _indent(line) > 12):
            continue
        skipping = False
        current.append(line)
    return entries


def _columns_block(spec: TableSpec, existing: dict[str, list[str]], where: str) -> list[str]:
    stale = sorted(set(existing) - set(spec.columns))
    if stale:
        raise LakehouseError(f"{where}: column(s) {stale} of source {spec.key} are not in its spec "
                             f"(lakehouse/tables/{spec.domain}.py)")
    lines = ["        columns:"]
    for name, doc in spec.column_descriptions.items():
        if not doc:
            raise LakehouseError(f"{spec.key}.{name} has no description in lakehouse/tables/{spec.domain}.py")
        lines += [f"          - name: {name}", *description_lines(doc), *existing.get(name, [])]
    return lines


def render(text: str, where: str = "<sources>") -> str:
    """``text`` (a sources file) with the columns of every source table written from the registry."""
    lines = text.split("\n")
    out: list[str] = []
    layer: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _SOURCE.match(line)
        if m:
            layer = m.group(1)   # the source name is the layer, unless its location names another
        m = _LAYER_IN_LOCATION.match(line)
        if m:
            layer = m.group(1)
        m = _TABLE.match(line)
        if not m:
            out.append(line)
            i += 1
            continue
        if layer not in LAYERS:
            raise LakehouseError(f"{where}: source {layer!r} is not a lakehouse layer {LAYERS}")
        spec = get_table(f"{layer}.{m.group(1)}")
        end = i + 1   # the table's block: lines indented deeper than its "- name:", blank lines inside
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > 6):
            end += 1
        while end > i + 1 and not lines[end - 1].strip():
            end -= 1
        block = lines[i + 1:end]
        start = next((k for k, b in enumerate(block) if b.rstrip() == "        columns:"), None)
        if start is None:
            before, existing, after = block, {}, []
        else:
            stop = start + 1
            while stop < len(block) and (not block[stop].strip() or _indent(block[stop]) > 8):
                stop += 1
            while stop > start + 1 and not block[stop - 1].strip():
                stop -= 1
            before, existing, after = block[:start], _column_entries(block[start + 1:stop]), block[stop:]
        out += [line, *before, *_columns_block(spec, existing, where), *after]
        i = end
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        new = render(text, str(path))
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
