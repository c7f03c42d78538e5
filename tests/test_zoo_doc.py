"""docs/zoo.md is what tools/gen_zoo_doc.py writes from specs/ (regenerate: make zoo-doc)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, load_script

GENERATOR = ROOT / "tools" / "gen_zoo_doc.py"


def test_zoo_doc_is_current():
    shipped = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    assert shipped == load_script("tools/gen_zoo_doc.py").render(), "docs/zoo.md is out of date: run `make zoo-doc`"


def test_zoo_doc_has_a_row_per_spec_and_variant_and_says_whether_it_matches():
    from archspec.loader import load

    text = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        assert f"| {path.name} |  |" in text
        for variant in load(path).data.get("scales") or {}:
            assert f"| {path.name} | `{variant}` |" in text
    assert "| vgg16.yaml |  | 138,357,544 | 15.470 G | 16 | 224x224x3 | 1000 |" in text


def test_a_drifted_spec_is_reported_as_not_matching(tmp_path):
    text = (ROOT / "specs" / "lenet5.yaml").read_text().replace("total_params: 61750", "total_params: 61751")
    (tmp_path / "lenet5.yaml").write_text(text)
    rendered = load_script("tools/gen_zoo_doc.py").render(tmp_path)
    assert "| lenet5.yaml |  | 61,750 |" in rendered
    assert "**no**: expected total_params = 61,751, but the architecture gives 61,750" in rendered
    assert "| lenet5.yaml | `plain_pooling` | 61,706 |" in rendered  # the variant's own figures still hold


def test_generator_check_mode_and_no_tensorflow(tmp_path):
    code = (
        "import runpy, sys; sys.argv = ['gen_zoo_doc.py', '--check'];"
        f"ns = runpy.run_path({str(GENERATOR)!r}, run_name='not_main'); rc = ns['main'](['--check']);"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(bad); sys.exit(rc or (2 if bad else 0))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stale = tmp_path / "zoo.md"
    stale.write_text("old\n")
    proc = subprocess.run([sys.executable, str(GENERATOR), "--check", "-o", str(stale)], capture_output=True, text=True)
    assert proc.returncode == 1 and "make zoo-doc" in proc.stderr
