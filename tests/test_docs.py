"""The documentation is tested: every spec in README.md and docs/**/*.md is validated.

- A fenced ```yaml block containing a line ``archspec: 1`` is a spec: it must expand and
  analyse (and meet its own ``expect:``). A block after ``<!-- invalid -->`` must be refused
  instead; ``<!-- invalid: TEXT -->`` also requires TEXT in the error message.
- A fenced block after ``<!-- output: archspec ARGS -->`` must be exactly what that command
  prints, with ``SPEC`` standing for the nearest spec block above it (so pasted outputs in the
  README and docs cannot go stale).
- docs/layers.md is what tools/gen_layer_reference.py writes from the registry, and
  docs/cli.md mentions every command.

New pages are covered without editing this file.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from archspec.analysis import analyse
from archspec.api import expand
from archspec.cli import main
from archspec.errors import ArchspecError
from archspec.expect import check_expectations

_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)\s*$")
_MARK = re.compile(r"^<!--\s*(invalid|output)\s*(?::\s*(.*?))?\s*-->\s*$")
_SPEC_LINE = re.compile(r"^archspec:\s*1\s*(#.*)?$", re.M)


@dataclass(frozen=True)
class Block:
    file: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    mark: str | None = None  # "invalid" or "output"
    detail: str = ""  # the text after "invalid:" or "output:"
    spec: Block | None = None  # for an output block: the spec block it describes

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"

    @property
    def is_spec(self) -> bool:
        return self.lang in ("yaml", "yml") and bool(_SPEC_LINE.search(self.text))


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [f for f in files if f.is_file()]


def blocks(path: Path) -> list[Block]:
    """Fenced blocks of a Markdown file, each with the marker comment right above it (if any)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    last_spec: Block | None = None
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        mark, detail = _marker(lines, start)
        block = Block(path, start + 1, lang, "\n".join(lines[start + 1 : j]) + "\n", mark, detail, last_spec)
        out.append(block)
        if block.is_spec:
            last_spec = block
        i = j + 1
    return out


def _marker(lines: list[str], fence: int) -> tuple[str | None, str]:
    k = fence - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    m = _MARK.match(lines[k].strip()) if k >= 0 else None
    return (m.group(1), m.group(2) or "") if m else (None, "")


ALL_BLOCKS = [b for f in doc_files() for b in blocks(f)]
SPEC_BLOCKS = [b for b in ALL_BLOCKS if b.is_spec]
OUTPUT_BLOCKS = [b for b in ALL_BLOCKS if b.mark == "output"]


def check_spec(text: str) -> None:
    analysis = analyse(expand(text))
    check_expectations(analysis)


@pytest.mark.parametrize("block", SPEC_BLOCKS, ids=lambda b: b.id)
def test_documented_spec(block, monkeypatch):
    monkeypatch.chdir(ROOT)  # specs in docs may name files relative to the repository
    if block.mark != "invalid":
        try:
            check_spec(block.text)
        except ArchspecError as exc:
            pytest.fail(f"{block.id}: the documented spec is refused:\n{exc}")
        return
    with pytest.raises(ArchspecError) as info:
        check_spec(block.text)
    if block.detail:
        assert block.detail in str(info.value), f"{block.id}: expected {block.detail!r} in:\n{info.value}"


@pytest.mark.parametrize("block", OUTPUT_BLOCKS, ids=lambda b: b.id)
def test_documented_output_is_current(block, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    words = shlex.split(block.detail)
    assert words and words[0] == "archspec", f"{block.id}: write <!-- output: archspec COMMAND ... -->"
    if "SPEC" in words:
        assert block.spec is not None, f"{block.id}: SPEC needs a spec block above the output"
        spec = tmp_path / "spec.yaml"
        spec.write_text(block.spec.text, encoding="utf-8")
        words = [str(spec) if w == "SPEC" else w for w in words]
    result = CliRunner().invoke(main, words[1:])
    shown = str(spec.name) if "SPEC" in shlex.split(block.detail) else None
    printed = result.output.replace(str(tmp_path / "spec.yaml"), shown) if shown else result.output
    assert _norm(printed) == _norm(block.text), f"{block.id}: the pasted output is stale; it is now:\n{printed}"


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def test_docs_have_specs():
    """The extraction itself works (a regex typo would silently test nothing)."""
    files = {b.file.name for b in SPEC_BLOCKS}
    assert {"README.md", "spec-language.md", "analysis.md"} <= files
    assert len(SPEC_BLOCKS) >= 30
    assert any(b.mark == "invalid" for b in SPEC_BLOCKS)


def test_marker_parsing(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n<!-- invalid: unknown layer -->\n\n```yaml\narchspec: 1\n```\n\n"
        "```yaml\narchspec: 1  # ok\n```\n<!-- output: archspec summary SPEC -->\n```text\nX\n```\n"
        "```yaml\nname: not a spec\n```\n"
    )
    found = blocks(page)
    assert [(b.line, b.is_spec, b.mark, b.detail) for b in found] == [
        (5, True, "invalid", "unknown layer"),
        (9, True, None, ""),
        (13, False, "output", "archspec summary SPEC"),
        (16, False, None, ""),
    ]
    assert found[2].spec == found[1]


def test_layer_reference_is_current():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_layer_reference.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_doc_mentions_every_command():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    ctx = main.make_context("archspec", [], resilient_parsing=True)
    for command in main.list_commands(ctx):
        assert f"archspec {command}" in text, f"docs/cli.md does not document `archspec {command}`"


def test_doc_links_resolve():
    """Relative links between pages point at files that exist."""
    broken = []
    for page in doc_files():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "python" and b.file.name == "README.md"]


@pytest.mark.slow
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.id)
def test_readme_python_runs_and_prints_what_it_says(block):
    """The README's Python example runs, and each `print(...)  # X` prints X."""
    expected = [line.split("#", 1)[1].strip() for line in block.text.splitlines() if line.startswith("print(")]
    proc = subprocess.run([sys.executable, "-c", block.text], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == expected
