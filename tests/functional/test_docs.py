"""Every relative link in README.md and docs/*.md points at a file the repository tracks,
so a reader of a fresh clone (or of the repository's web page) never meets a broken link."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = set(out.splitlines())
    return files | {str(Path(f).parent) for f in files}  # a link may name a tracked folder


def relative_links(doc: Path) -> list[str]:
    links = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor in the same page
        links.append(target.split("#")[0])
    return links


def test_link_pattern_finds_relative_links_and_skips_urls(tmp_path):
    page = tmp_path / "x.md"
    page.write_text('[a](docs/A.md#top) [b](https://x.org/y) [c](#here) ![d](img/d.png "title") [e](mailto:a@b)')
    assert relative_links(page) == ["docs/A.md", "img/d.png"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_tracked_file(doc):
    tracked = _tracked()
    broken = []
    for link in relative_links(doc):
        target = (doc.parent / link).resolve()
        if not target.is_relative_to(ROOT) or str(target.relative_to(ROOT)) not in tracked:
            broken.append(link)
    assert not broken, f"{doc.name}: links to files the repository does not track: {broken}"


def test_isolated_lets_failures_through_and_reverts(chain, accounts):
    """The suite's snapshot helper must not hide a failing assertion (ape's own isolate does)."""
    from conftest import isolated

    before = chain.blocks.height
    with pytest.raises(AssertionError, match="seen"):
        with isolated(chain):
            accounts[0].transfer(accounts[1], 1)
            assert chain.blocks.height > before
            assert False, "seen"
    assert chain.blocks.height == before
