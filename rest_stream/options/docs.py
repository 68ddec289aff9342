"""The reference tables of docs/options.md, generated from `rest_stream.options.registry`.

    python -m rest_stream.options.docs --write docs/options.md   # regenerate the tables
    python -m rest_stream.options.docs --check docs/options.md   # exit 1 when they are stale
    python -m rest_stream.options.docs                           # print every table

Each table stands between a `<!-- BEGIN GENERATED: <group> ... -->` line and a
`<!-- END GENERATED -->` line; the prose around them is hand-written and kept as it is.
"""

from __future__ import annotations

import re
import sys

from rest_stream.options.registry import GROUPS, OPTIONS, OptionSpec

BEGIN = "<!-- BEGIN GENERATED: {group} (python -m rest_stream.options.docs --write) -->"
END = "<!-- END GENERATED -->"
_SECTION = re.compile(
    r"<!-- BEGIN GENERATED: (?P<group>\w+) \(python -m rest_stream.options.docs --write\) -->"
    r"\n.*?<!-- END GENERATED -->",
    re.S,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def meaning(option: OptionSpec) -> str:
    """The doc of `option`, with its accepted values and secrecy."""
    text = option.doc
    if option.kind == "choice" and not all(f"`{c}`" in text.lower() for c in option.choices):
        text += f" One of {', '.join(f'`{c}`' for c in option.choices)}."
    if option.secret and "secret" not in text.lower():
        text += " Secret."
    return text


def table(group: str) -> str:
    """The Markdown reference table of one group of options."""
    lines = [
        "| option | default | applies | meaning | example |",
        "|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        if option.group == group:
            cells = (
                f"`{option.name}`",
                option.default_text(),
                option.applies_text(),
                meaning(option),
                option.example,
            )
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def section(group: str) -> str:
    """A generated section: the markers around one group's table."""
    return f"{BEGIN.format(group=group)}\n{table(group)}\n{END}"


def render(document: str) -> str:
    """`document` with each generated section replaced by the registry's current table."""
    found = [m.group("group") for m in _SECTION.finditer(document)]
    if sorted(found) != sorted(GROUPS):
        raise ValueError(f"generated sections {found}, expected one each of {list(GROUPS)}")
    return _SECTION.sub(lambda m: section(m.group("group")), document)


def main(argv: list[str]) -> int:
    """`--write FILE` regenerates FILE's tables, `--check FILE` exits 1 when they are stale,
    no arguments prints every table."""
    if not argv:
        for group, heading in GROUPS.items():
            print(f"## {heading}\n\n{section(group)}\n")
        return 0
    if len(argv) != 2 or argv[0] not in ("--write", "--check"):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        current = handle.read()
    fresh = render(current)
    if argv[0] == "--write":
        with open(argv[1], "w", encoding="utf-8") as handle:
            handle.write(fresh)
        return 0
    if fresh != current:
        print(f"{argv[1]} is stale: run python -m rest_stream.options.docs --write {argv[1]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
