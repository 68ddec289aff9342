"""docs/glossary.md: every term it defines is linked from a user page, and every link to it
names a term it defines (the site build checks anchors too; this runs without mkdocs)."""

from __future__ import annotations

import re

from tests.test_docs_examples import ROOT

DOCS = ROOT / "docs"
GLOSSARY = DOCS / "glossary.md"
#: Pages of the site's Internals section: they may use the terms without linking them.
INTERNALS = {"architecture.md", "contract.md", "performance.md", "api.md", "glossary.md"}


def slug(heading: str) -> str:
    """The anchor mkdocs gives a heading (the toc extension's default slugify)."""
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"[-\s]+", "-", text).strip("-")


def defined() -> set[str]:
    lines = GLOSSARY.read_text(encoding="utf-8").splitlines()
    return {slug(line[3:]) for line in lines if line.startswith("## ")}


def linked() -> dict[str, set[str]]:
    """Anchors of glossary.md linked from each user page."""
    found = {}
    for page in sorted(DOCS.rglob("*.md")):
        if page.name in INTERNALS:
            continue
        text = page.read_text(encoding="utf-8")
        found[str(page.relative_to(DOCS))] = set(re.findall(r"glossary\.md#([\w-]+)\)", text))
    return found


def test_every_link_to_the_glossary_names_a_defined_term() -> None:
    terms = defined()
    for page, anchors in linked().items():
        assert anchors <= terms, (page, sorted(anchors - terms))


def test_every_term_is_linked_from_a_user_page() -> None:
    used = set().union(*linked().values())
    # `end` is defined for the other entries to point at; the word itself is too common
    assert defined() - used <= {"end"}, sorted(defined() - used)
