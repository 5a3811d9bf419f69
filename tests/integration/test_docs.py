"""The Markdown pages: every relative link and anchor resolves, and the README stays short.

Anchors follow GitHub's rules for heading ids: the heading's text as rendered, lowercased,
with every character that is not a letter, mark, number, connector (`_`), space or hyphen
removed, and each space turned into a hyphen; a repeated id gets `-1`, `-2`, ... appended.
Explicit `<a name="...">` and `id="..."` anchors count too. Only ATX headings (`## ...`)
are read: a setext heading (underlined) would show up as a missing anchor. Links inside
code (fenced blocks and inline spans) are not links.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_LIMIT = 12 * 1024  # bytes
TOP_PAGES = ("README.md", "SECURITY.md", "CHANGELOG.md", "bench/README.md")
DOCS = ROOT / "docs"

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
# [text](target "title") and ![alt](target); text may hold one level of brackets.
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ANCHOR = re.compile(r"<[a-z][^>]*\s(?:name|id)=[\"']([^\"']+)[\"']", re.IGNORECASE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def pages() -> list[Path]:
    """Every Markdown page whose links are checked."""
    return [ROOT / page for page in TOP_PAGES] + sorted(DOCS.glob("*.md"))


def prose_lines(text: str) -> list[str]:
    """The lines of `text` outside fenced code blocks."""
    lines = []
    fence: str | None = None
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            continue
        if fence is not None:
            closing = FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                fence = None
            continue
        lines.append(line)
    return lines


def _rendered(heading: str) -> str:
    """A heading's text as GitHub renders it: code spans keep their content verbatim,
    links their text; inline HTML and emphasis markers are dropped."""
    parts = []
    position = 0
    for span in CODE_SPAN.finditer(heading):
        parts.append(_plain(heading[position : span.start()]))
        parts.append(_code_content(span.group(2)))
        position = span.end()
    parts.append(_plain(heading[position:]))
    return "".join(parts).strip()


def _code_content(code: str) -> str:
    """A code span's text: one space is stripped from each end when both ends have one."""
    if len(code) > 1 and code[0] == code[-1] == " " and code.strip():
        return code[1:-1]
    return code


def _plain(text: str) -> str:
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    # Emphasis: `*` is punctuation and goes anyway; `_` only marks emphasis at word edges.
    return re.sub(r"(?<![^\W_])_+|_+(?![^\W_])", "", text)


def _kept(character: str) -> bool:
    category = unicodedata.category(character)
    return category[0] in "LMN" or category == "Pc" or character in " -"


def slug(heading: str) -> str:
    """GitHub's id for a heading whose Markdown text is `heading` (before de-duplication)."""
    text = _rendered(heading).lower()
    return "".join(c for c in text if _kept(c)).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown page defines: heading ids, de-duplicated as GitHub does,
    and explicit HTML anchors."""
    found: set[str] = set()
    seen: Counter[str] = Counter()
    for line in prose_lines(text):
        heading = ATX_HEADING.match(line)
        if heading:
            base = slug(heading.group(1) or "")
            found.add(f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
        found.update(HTML_ANCHOR.findall(line))
    return found


def link_targets(text: str) -> list[str]:
    """The targets of every inline link, image and reference definition outside code."""
    targets = []
    for line in prose_lines(text):
        line = CODE_SPAN.sub(lambda span: " " * len(span.group(0)), line)
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            targets.append(definition.group(1))
        targets.extend(match.group(1) for match in INLINE_LINK.finditer(line))
    return [target.strip("<>") for target in targets]


def broken_links(page: Path, root: Path) -> list[str]:
    """One line per relative link of `page` that leads to no file or to no anchor."""
    text = page.read_text(encoding="utf-8")
    problems = []
    for target in link_targets(text):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue
        path_part, _, fragment = target.partition("#")
        path_part = unquote(path_part)
        destination = (page.parent / path_part).resolve() if path_part else page.resolve()
        if not destination.is_relative_to(root.resolve()):
            problems.append(f"{target}: leads outside the repository")
            continue
        if not destination.exists():
            problems.append(f"{target}: no such file")
            continue
        if not fragment or destination.suffix != ".md" or not destination.is_file():
            continue
        if unquote(fragment) not in anchors(destination.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading or anchor #{fragment}")
    return problems


def test_readme_is_at_most_12_kib() -> None:
    """The README stays a front page: at most 12 KiB, the rest lives in docs/."""
    size = (ROOT / "README.md").stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes, over {README_LIMIT}"


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link of the page leads to an existing file, and to an existing anchor."""
    problems = broken_links(page, ROOT)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_links_every_page() -> None:
    """The README links to every docs page, the security policy, the changelog and bench."""
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for target in link_targets((ROOT / "README.md").read_text(encoding="utf-8"))
        if not SCHEME.match(target)
    }
    wanted = {page.resolve() for page in pages() if page.name != "README.md" or page.parent != ROOT}
    assert any(DOCS.glob("*.md")), "docs/ holds no page"
    missing = sorted(str(page.relative_to(ROOT)) for page in wanted - linked)
    assert not missing, f"README.md does not link to {missing}"


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Run as the directory's owner", "run-as-the-directorys-owner"),
        ("One guard per directory: the lock", "one-guard-per-directory-the-lock"),
        (
            "1. Survival: smallest filesystem for a 20-save run",
            "1-survival-smallest-filesystem-for-a-20-save-run",
        ),
        ("Hugging Face (`hf`)", "hugging-face-hf"),
        ("The `--keep` option", "the---keep-option"),
        ("`min_free` and __bold__ text", "min_free-and-bold-text"),
        ("Logs, status, reload", "logs-status-reload"),
        ("A [linked](other.md#x) heading", "a-linked-heading"),
        ("Caf\u00e9 \u2014 \u00dcber", "caf\u00e9--\u00fcber"),
        ("Trailing hashes ##", "trailing-hashes"),
    ],
)
def test_slug_follows_github_rules(heading: str, expected: str) -> None:
    """Heading ids are made as GitHub makes them."""
    line = f"## {heading}"
    match = ATX_HEADING.match(line)
    assert match is not None
    assert slug(match.group(1)) == expected


def test_repeated_headings_are_numbered() -> None:
    """A repeated heading's id gets -1, -2 as on GitHub; explicit HTML anchors count."""
    text = '# Notes\n## Notes\n### Notes\n<a name="custom"></a>\n'
    assert anchors(text) == {"notes", "notes-1", "notes-2", "custom"}


def test_broken_links_and_anchors_are_reported(tmp_path: Path) -> None:
    """A link to a missing file or heading is reported; links in code and absolute URLs are not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## A section\n")
    page = tmp_path / "README.md"
    page.write_text(
        "# Top\n\n"
        "[fine](docs/other.md#a-section) [here](#top) [dir](docs) ![img](docs/other.md)\n"
        "[missing](docs/nope.md) [bad anchor](docs/other.md#no-section) [self](#nowhere)\n"
        "[escape](../outside.md) [web](https://example.com/x.md) `[code](nope.md)`\n"
        "[ref]: docs/gone.md\n"
        "```\n[fenced](nope.md)\n## Not a heading\n```\n"
        "[fenced heading](#not-a-heading)\n"
    )
    assert broken_links(page, tmp_path) == [
        "docs/nope.md: no such file",
        "docs/other.md#no-section: no heading or anchor #no-section",
        "#nowhere: no heading or anchor #nowhere",
        "../outside.md: leads outside the repository",
        "docs/gone.md: no such file",
        "#not-a-heading: no heading or anchor #not-a-heading",
    ]
