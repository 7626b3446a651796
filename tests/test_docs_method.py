"""The code cites docs/method.md by section title: every cited title must exist there, once."""

import re
from collections import Counter
from pathlib import Path

from conftest import ROOT  # noqa: E402
METHOD = ROOT / "docs" / "method.md"
# (docs/method.md, "Title") or (docs/method.md, "Title" and "Other title"), possibly across a line break.
CITATION = re.compile(r'docs/method\.md,\s*"([^"]+)"(?:\s+and\s+"([^"]+)")?')


def section_titles() -> Counter:
    titles = Counter()
    in_code = False
    for line in METHOD.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            titles[line.lstrip("#").strip()] += 1
    return titles


def citing_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in ("sape_geo", "plugins", "apps", "bench", "tests", "docs"):
        files += sorted((ROOT / folder).rglob("*.py")) + sorted((ROOT / folder).rglob("*.md"))
    this_file = Path(__file__).resolve()
    return [path for path in files if path.is_file() and path not in (METHOD, this_file)]


def test_section_titles_are_unique():
    duplicates = [title for title, count in section_titles().items() if count > 1]
    assert duplicates == []


def test_every_citation_names_a_section():
    titles = section_titles()
    missing = []
    for path in citing_files():
        text = path.read_text(encoding="utf-8")
        found = CITATION.findall(text)
        if text.count("docs/method.md") != len(found):
            missing.append((str(path.relative_to(ROOT)), "a citation without a quoted section title"))
        for groups in found:
            missing += [(str(path.relative_to(ROOT)), title) for title in groups if title and title not in titles]
    assert missing == []


def test_no_citation_of_the_design_note_outside_the_repository():
    stale = [str(p.relative_to(ROOT)) for p in citing_files() if "SAPE" + ".md" in p.read_text(encoding="utf-8")]
    assert stale == []
