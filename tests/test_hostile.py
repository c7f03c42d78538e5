"""Hostile input: specs and files built to run code, exhaust memory or time, or crash archspec.

Each threat of docs/security.md has tests here. The regression corpus tests/corpus/hostile/
holds one sample of each (the same ``# expect:`` headers as the invalid corpus); it runs
through the real CLI in a separate process, so a crash (a segmentation fault) or a hang is a
failure too, and that process must not import TensorFlow.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
import types
import zipfile
from pathlib import Path
from unittest import mock

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT
from corpus_check import check_output
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archspec
from archspec import limits, loader
from archspec.cli import main
from archspec.codegen import generate
from archspec.errors import ArchspecError, SpecError, UsageError
from archspec.expand import Expander
from archspec.fileio import atomic_path, atomic_write_text
from archspec.safe_hdf5 import UnsafeFileError, check_hdf5, check_keras_archive, load_model_file, open_hdf5

HOSTILE = Path(__file__).parent / "corpus" / "hostile"
FILES = sorted(HOSTILE.glob("*.yaml"))
PACKAGE = ROOT / "archspec"

# -- the regression corpus, through the CLI in its own process --------------------------------

_RUNNER = """
import sys
from archspec.cli import main
try:
    main(["validate", *sys.argv[1:]])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print("HEAVY-IMPORTS:", ",".join(heavy) or "none", file=sys.stderr)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """All hostile files in one `archspec validate` process, run in an empty directory (so a
    payload that managed to `touch archspec-pwned` would leave the file there)."""
    cwd = tmp_path_factory.mktemp("hostile")
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, *map(str, FILES)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "ARCHSPEC_MAX_PARAMS": "", "ARCHSPEC_MAX_MEMORY": ""},
    )
    return proc, cwd


def test_hostile_corpus_process_survives_and_imports_no_framework(corpus_run):
    proc, cwd = corpus_run
    assert proc.returncode == 1, proc.stderr[-2000:]  # invalid specs: 1; not a crash (-11) or internal error (3)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "HEAVY-IMPORTS: none" in proc.stderr
    assert not list(cwd.iterdir()), "a payload left a file behind"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_hostile_sample_is_refused_with_its_message(corpus_run, path):
    proc, _ = corpus_run
    lines = [line for line in proc.stderr.splitlines() if line.startswith(str(path) + ":")]
    failures = check_output(path, str(path), "\n".join(lines))
    assert not failures, "\n".join(failures) + "\n" + "\n".join(lines)


# -- YAML that runs code ------------------------------------------------------------------------

CODE_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    '!!python/object/new:os.system ["touch {marker}"]',
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:builtins.dict {{a: 1}}",
    '!<tag:yaml.org,2002:python/object/apply:os.system> ["touch {marker}"]',
    "!!binary aGVsbG8=",
    "!!set {{a, b}}",
    "!custom value",
]


@pytest.mark.parametrize("tag", CODE_TAGS)
def test_tags_are_refused_and_run_nothing(tag, tmp_path):
    marker = tmp_path / "pwned"
    text = f"archspec: 1\ninput: [8, 8, 1]\ndescription: {tag.format(marker=marker)}\nlayers: [flatten]\n"
    with pytest.raises(SpecError, match=r"YAML tag .* is not allowed in a spec"):
        archspec.expand(text)
    assert not marker.exists()


_UNSAFE_CALLS = re.compile(
    r"\byaml\.(load|load_all|unsafe_load|unsafe_load_all|full_load|full_load_all|safe_load|safe_load_all|"
    r"compose|compose_all|parse|scan)\s*\(|(?<![\w.])(eval|exec|compile)\s*\(|\bpickle\.loads?\s*\(|\bmarshal\.loads?\s*\("
    r"|\b__import__\s*\(|yaml\.(Unsafe|Full)?Loader\b|\bLoader\s*=\s*(?!_(Pure)?Loader\b)"
)


def _package_sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_unsafe_loading_or_evaluation_anywhere_in_the_package():
    """One YAML entry point (archspec.loader, composing with the safe loader); no eval/exec."""
    offenders = []
    for path in _package_sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for m in _UNSAFE_CALLS.finditer(code):
                allowed = path.name == "loader.py" and m.group(1) in ("compose", "parse")
                if not allowed and not code.lstrip().startswith(('"', "'", ">>>")):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_grep_can_fail():
    bad = ["yaml.load(text, Loader=yaml.Loader)", "eval(expr)", "yaml.unsafe_load(x)", "yaml.full_load(x)", "exec(s)"]
    bad += ["yaml.safe_load(raw)", "compile(src, 'f', 'exec')", "yaml.load(t, Loader=Loader)", "pickle.load(f)"]
    assert all(_UNSAFE_CALLS.search(b) for b in bad)
    for fine in ["node = yaml_compose(text)", "re.compile(r'x')", "model.compile(loss=1)", "_Loader = x"]:
        assert not _UNSAFE_CALLS.search(fine), fine


def test_the_loader_composes_with_the_safe_loader_only():
    assert loader._Loader in (getattr(__import__("yaml"), "CSafeLoader", None), __import__("yaml").SafeLoader)
    assert loader._PureLoader is __import__("yaml").SafeLoader


# -- alias bombs, size and depth ------------------------------------------------------------------


def _bomb(levels: int = 9, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\narchspec: 1\ninput: [8, 8, 1]\nlayers: [flatten]\n"


def test_billion_laughs_is_refused_without_walking_it(monkeypatch):
    text = _bomb()  # 10^9 values after expansion
    assert len(text) < 600
    walked = []
    original = loader._Converter.convert
    monkeypatch.setattr(loader._Converter, "convert", lambda self, *a: walked.append(1) or original(self, *a))
    with pytest.raises(SpecError, match=r"more than 200,000 values once YAML aliases are expanded"):
        loader.load_text(text)
    assert walked == []  # rejected by counting distinct nodes, before any value is built


def test_alias_counting_visits_each_distinct_node_once(monkeypatch):
    import yaml

    node = yaml.compose(_bomb(levels=7), Loader=loader._Loader)  # 10^7 values, ~80 distinct nodes
    seen = []
    real_id = id
    monkeypatch.setattr(loader, "id", lambda n: seen.append(1) or real_id(n), raising=False)
    assert loader._expanded_size(node, loader.MAX_NODES) > loader.MAX_NODES
    assert len(seen) < 1000


def test_legitimate_aliases_still_work():
    text = "archspec: 1\ninput: [8, 8, 1]\nc: &c {conv: 8, padding: same}\nlayers: [*c, *c, flatten]\n"
    with pytest.raises(SpecError, match="unknown key 'c'"):  # the anchor's home key is not a spec key...
        archspec.expand(text)
    text = "archspec: 1\ninput: [8, 8, 1]\nvars: {c: &c 8}\nlayers: [{conv: *c}, {conv: *c}, flatten]\n"
    assert len(archspec.expand(text).nodes) == 3  # ...but aliases themselves are fine


def test_files_above_the_size_limit_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("archspec: 1\ninput: [8, 8, 1]\nlayers: [flatten]\ndescription: " + "x" * (2 << 20) + "\n")
    result = CliRunner().invoke(main, ["validate", str(big)])
    assert result.exit_code == 1
    assert f"spec file is {big.stat().st_size} bytes; the limit is {loader.MAX_FILE_BYTES}" in result.output
    with pytest.raises(SpecError, match="larger than"):
        loader.load_text("a: " + "x" * (loader.MAX_FILE_BYTES + 1))


def test_non_utf8_is_refused(tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes("archspec: 1\ndescription: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        loader.load_file(f)


@pytest.mark.parametrize("depth", [65, 1000, 500_000])
def test_deep_nesting_is_refused_in_a_child_process(depth, tmp_path):
    # 500,000 '[' made PyYAML's composer recurse until the process died with SIGSEGV.
    f = tmp_path / "deep.yaml"
    f.write_text("archspec: 1\ninput: [8, 8, 1]\nlayers: " + "[" * depth + "]" * depth + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "archspec", "validate", str(f)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr[-500:]
    assert f"{f}:3:" in proc.stderr and "nested more than 64 levels deep" in proc.stderr


@pytest.mark.parametrize("pure", [False, True], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize("depth", [65, 999, 1001, 20_000])
def test_depth_limit_is_archspecs_whatever_the_parser(depth, pure, monkeypatch):
    """Flow and block nesting: archspec's message at the place where level 65 starts, with either parser
    (libyaml >= 0.2.6 has its own cap of 1,000 and scans flow collections ahead of its events)."""
    if pure:
        monkeypatch.setattr(loader, "_Loader", loader._PureLoader)
    flow = "x: " + "[" * depth + "]" * depth
    with pytest.raises(SpecError, match=r"^<spec>:1:67: .*nested more than 64 levels deep"):
        loader.load_text(flow)
    block = "".join(" " * i + "a:\n" for i in range(min(depth, 1100))) + " " * 1100 + "b: 1\n"
    with pytest.raises(SpecError, match=r"^<spec>:65:65: .*nested more than 64 levels deep"):
        loader.load_text(block)


def test_depth_limit_holds_when_the_parser_stops_first_with_its_own_words(monkeypatch):
    """A parser that refuses deep nesting before yielding a single event, in wording of its own."""
    import yaml

    real_parse = yaml.parse

    def capped_parse(stream, Loader):
        if Loader is loader._Loader:
            mark = yaml.Mark("<spec>", 203, 0, 203, None, None)  # at the 200th '[', as libyaml's cap does
            raise yaml.scanner.ScannerError("while scanning", mark, "too deep for me", mark)
        return real_parse(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "parse", capped_parse)
    with pytest.raises(SpecError, match=r"^<spec>:1:67: .*nested more than 64 levels deep") as info:
        loader.load_text("x: " + "[" * 500 + "]" * 500)
    assert "too deep for me" not in str(info.value)


def test_nesting_at_the_limit_is_fine():
    value = "[" * 60 + "1" + "]" * 60
    assert loader.load_text(f"x: {value}").data["x"] is not None


# -- duplicate keys and YAML 1.1 traps --------------------------------------------------------------

YAML_TABLE = [
    # (scalar as written, what archspec reads: a value, or the message of the error)
    ("no", "no"),
    ("yes", "yes"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("true", True),
    ("False", False),
    ("1e-3", 0.001),
    ("1e3", 1000.0),
    ("1.5", 1.5),
    (".5", 0.5),
    ("0x10", 16),
    ("1_000", 1000),
    ("010", "ambiguous number '010': YAML 1.1 reads a leading zero as octal (8)"),
    ("0o10", "0o10"),
    ("1:30", "1:30"),  # YAML 1.1: 90 (base 60)
    ("2001-12-14", "2001-12-14"),  # YAML 1.1: a date object
    ("~", None),
    ("null", None),
    (".inf", float("inf")),
    ("'010'", "010"),
    ('"no"', "no"),
    ("9" * 19, "the number 999999999999... has 19 digits; the limit is 18"),
]


@pytest.mark.parametrize(("written", "read"), YAML_TABLE, ids=[w for w, _ in YAML_TABLE])
def test_yaml_1_2_scalars(written, read):
    text = f"value: {written}\n"
    if isinstance(read, str) and (read.startswith("ambiguous") or read.startswith("the number")):
        with pytest.raises(SpecError) as exc:
            loader.load_text(text)
        assert read in str(exc.value)
        return
    value = loader.load_text(text).data["value"]
    assert value == read and type(value) is type(read)


@pytest.mark.parametrize(
    ("arg", "written", "message"),
    [
        ("bias", "no", "`bias` must be true or false ('no' is a boolean only in YAML 1.1: write true or false)"),
        ("bias", "on", "Received: bias='on'"),
        ("padding", "off", "`padding` must be one of 'valid', 'same'. Received: padding='off'"),
        ("filters", "1e-3", "`filters` must be an integer. Received: filters=0.001"),
        ("filters", "'64'", "Received: filters='64'"),
        ("kernel", "yes", "Received: kernel='yes'"),
    ],
)
def test_trap_values_are_named_in_the_message(arg, written, message):
    args = f"{arg}: {written}" if arg == "filters" else f"filters: 8, {arg}: {written}"
    text = f"archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - conv: {{{args}}}\n  - flatten\n"
    with pytest.raises(SpecError) as exc:
        archspec.expand(text)
    assert message in str(exc.value)


def test_duplicate_keys_are_errors_at_every_level():
    text = "archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - {conv: 8, conv: 16}\narchspec: 1\n"
    with pytest.raises(SpecError) as exc:
        loader.load_text(text)
    messages = [str(p) for p in exc.value.problems]
    assert "<spec>:4:15: layers[0].conv: duplicate key 'conv' (first defined at line 4)" in messages
    assert "<spec>:5:1: archspec: duplicate key 'archspec' (first defined at line 1)" in messages


# -- resource exhaustion ----------------------------------------------------------------------------


def test_a_billion_repeats_fail_with_the_computed_size():
    text = "archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - {repeat: 1000000000, layers: [relu, relu]}\n"
    with pytest.raises(SpecError, match=r"`repeat: 1,000,000,000` of 2 layers makes 2,000,000,000 layers"):
        archspec.expand(text)


def test_a_trillion_units_fail_with_the_computed_size():
    text = "archspec: 1\ninput: [8, 8, 1]\nlayers: [flatten, {dense: 1000000000000}]\n"
    with pytest.raises(SpecError) as exc:
        archspec.expand(text)
    assert "the network has 65,000,000,000,000 parameters; the limit is 10,000,000,000 (--max-params)" in str(exc.value)
    assert "output shape [1000000000000] has a dimension above the limit" in str(exc.value)


def test_limits_are_checked_without_a_framework():
    code = textwrap.dedent(
        """
        import sys, archspec
        for text in ["archspec: 1\\ninput: [8, 8, 1]\\nlayers: [flatten, {dense: 1000000000000}]",
                     "archspec: 1\\ninput: [8, 8, 1]\\nlayers: [{repeat: 1000000000, layers: [relu]}]"]:
            try:
                archspec.expand(text)
            except archspec.SpecError:
                pass
            else:
                sys.exit("not refused")
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_max_params_is_configurable(tmp_path):
    spec = tmp_path / "wide.yaml"
    spec.write_text("archspec: 1\ninput: [8, 8, 1]\nlayers: [flatten, {dense: 100000}, {dense: 100000}]\n")
    assert CliRunner().invoke(main, ["validate", str(spec)]).exit_code == 1
    ok = CliRunner().invoke(main, ["--max-params", "2e10", "validate", str(spec)])
    assert ok.exit_code == 0, ok.output
    assert "10,006,600,000 params" in ok.output
    low = CliRunner().invoke(main, ["--max-params", "100", "validate", str(ROOT / "specs" / "seed_cnn.yaml")])
    assert low.exit_code == 1 and "the limit is 100 (--max-params)" in low.output
    assert limits.current() == limits.Limits()  # the next command starts from the defaults again
    assert CliRunner().invoke(main, ["validate", str(ROOT / "specs" / "seed_cnn.yaml")]).exit_code == 0


def test_memory_budget_is_configurable(tmp_path):
    seed = str(ROOT / "specs" / "seed_cnn.yaml")
    result = CliRunner().invoke(main, ["--max-memory", "1MiB", "validate", seed])
    assert result.exit_code == 1
    assert "training needs an estimated" in result.output and "the budget is 1.0 MiB (--max-memory)" in result.output
    analysis = archspec.summary(seed)
    limits.check_memory(analysis, batch_size=32)  # the default budget
    with pytest.raises(SpecError, match="at batch size 100000 with adam"):
        limits.check_memory(analysis, batch_size=100_000, limits=limits.Limits(max_memory=1 << 30))


def test_stage_and_pattern_counts_are_bounded_too():
    stages = "archspec: 1\ninput: [32, 32, 3]\nstages: [{conv: 16, n: 1000000000}]\n"
    with pytest.raises(SpecError, match=r"stages\[0\]\.n: `n: 1,000,000,000` convs"):
        archspec.expand(stages)
    pattern = (
        'archspec: 1\ninput: [8, 8, 1]\nclasses: 2\nvars: {N: 25000}\npattern: "INPUT -> [CONV]*N -> FC"\n'
        "tokens: {CONV: {conv: 1, padding: same}}\n"
    )
    assert len(archspec.expand(pattern, overrides={"N": 10}).nodes) == 12
    with pytest.raises(
        SpecError, match=r"pattern: `repeat: 25,001` of 1 layer makes 25,001 layers; the limit is 25,000"
    ):
        archspec.expand(pattern, overrides={"N": 25_001})


def test_counting_is_exact_for_a_real_network():
    doc = loader.load(ROOT / "specs" / "seed_cnn.yaml")
    graph = archspec.expand(ROOT / "specs" / "seed_cnn.yaml")
    assert limits.count_layers(doc, Expander(doc).variables) == len(graph.nodes)


@pytest.mark.parametrize(("text", "expected"), [("64GiB", 64 << 30), ("500MB", 500_000_000), ("1.5k", 1500), ("7", 7)])
def test_parse_size(text, expected):
    assert limits.parse_size(text) == expected


# -- code in names: the generated module ----------------------------------------------------------

_KERAS_CLASSES = {"conv": "Conv2D", "relu": "Activation", "flatten": "Flatten", "dense": "Dense"}


def _stub_keras() -> dict[str, types.ModuleType]:
    """A stand-in for keras that records what the generated module asks of it."""
    calls: list[tuple[str, dict]] = []

    class Tensor:
        pass

    def factory(cls_name):
        def make(*args, **kwargs):
            calls.append((cls_name, kwargs))
            return lambda *inputs: Tensor()

        return make

    keras = types.ModuleType("keras")
    layers = types.ModuleType("keras.layers")
    layers.__getattr__ = lambda name: factory(name)  # type: ignore[attr-defined]
    keras.layers = layers  # type: ignore[attr-defined]
    keras.Input = lambda **kw: calls.append(("Input", kw)) or Tensor()  # type: ignore[attr-defined]
    keras.Model = lambda *a, **kw: calls.append(("Model", kw)) or types.SimpleNamespace(calls=calls)  # type: ignore[attr-defined]
    keras.regularizers = types.SimpleNamespace(L2=lambda v: ("L2", v))  # type: ignore[attr-defined]
    return {"keras": keras, "keras.layers": layers}


def _check_module(source: str, names: list[str], description: str) -> None:
    tree = ast.parse(source)
    top = [type(s).__name__ for s in tree.body]
    assert top == ["Expr", "Import", "ImportFrom", "Assign", "Assign", "FunctionDef", "If"], top
    assert ast.get_docstring(tree).splitlines()[2 : 2 + len(description.strip().splitlines())] == [
        line for line in description.strip().splitlines()
    ]
    fn = tree.body[5]
    body = fn.body
    assert isinstance(body[0], ast.Expr) and isinstance(body[-1], ast.Return)
    layer_statements = body[2:-2]
    assert len(layer_statements) == len(names)
    for stmt in layer_statements:  # x = layers.Conv2D(...)(x): nothing else
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
        inner = stmt.value.func
        assert isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)
        assert isinstance(inner.func.value, ast.Name) and inner.func.value.id == "layers"
        assert all(isinstance(k.value, ast.Constant | ast.Tuple | ast.Name) for k in inner.keywords)
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
    callees = {ast.unparse(c.func).split("(")[0] for c in calls}
    assert callees <= {"keras.Input", "keras.Model", *(f"layers.{c}" for c in _KERAS_CLASSES.values()), ""}, callees


def _run_module(source: str, monkeypatch) -> list[tuple[str, dict]]:
    # the stand-in keras only while the module runs: hypothesis draws the next example with the real modules
    with mock.patch.dict(sys.modules, _stub_keras()):
        namespace: dict = {"__name__": "generated"}
        exec(compile(source, "generated.py", "exec"), namespace)  # the test runs the module; archspec never does
        return namespace["build_model"]().calls


_names = st.text(min_size=0, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_names, min_size=4, max_size=4), description=st.text(max_size=60), block=st.text(max_size=10))
def test_generated_code_has_exactly_the_expected_statements(names, description, block, monkeypatch):
    assume(not any("${" in n for n in names))  # an expression name is computed, not written as is
    spec = {
        "archspec": 1,
        "input": [8, 8, 1],
        "description": description,
        "blocks": {block: {"layers": [{"relu": None, "name": names[1]}]}},
        "layers": [
            {"conv": 4, "name": names[0]},
            {block: None, "name": "b"},
            {"flatten": None, "name": names[2]},
            {"dense": 3, "name": names[3]},
        ],
    }
    try:
        source = generate(spec)
    except ArchspecError:
        return  # refused (an empty, duplicate or unprintable name; a block name that is not an identifier)
    expected = [names[0], f"b_{names[1]}", names[2], names[3]]
    _check_module(source, expected, description)
    source.encode("utf-8")  # writable as a file
    calls = _run_module(source, monkeypatch)
    assert [kw.get("name") for cls, kw in calls if cls not in ("Input", "Model")] == expected


def test_the_module_check_can_fail(monkeypatch):
    good = generate({"archspec": 1, "input": [4], "layers": [{"dense": 3, "name": "d"}]})
    _check_module(good, ["d"], "")
    evil = good.replace("    return model", "    __import__('os').system('true')\n    return model")
    with pytest.raises(AssertionError):
        _check_module(evil, ["d"], "")


def test_names_with_code_stay_strings():
    name = "x'); import os; os.system('touch pwned'); ('"
    source = generate({"archspec": 1, "input": [4], "layers": [{"dense": 3, "name": name}]})
    assert repr(name) in source or f'"{name}"' in source
    assert "import os" not in source.replace(repr(name), "").replace(f'"{name}"', "")


# -- untrusted HDF5 and model files -----------------------------------------------------------------


def _good_h5(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        f["features"] = np.random.default_rng(0).random((20, 8), dtype=np.float32)
        f["labels"] = np.arange(20)
    return path


def test_a_plain_feature_file_passes(tmp_path):
    report = check_hdf5(_good_h5(tmp_path / "ok.h5"))
    assert {d.name for d in report.datasets} == {"/features", "/labels"}
    with open_hdf5(tmp_path / "ok.h5") as f:
        assert f["features"].shape == (20, 8)


def test_external_links_are_refused(tmp_path):
    secret = _good_h5(tmp_path / "elsewhere.h5")
    path = tmp_path / "link.h5"
    with h5py.File(path, "w") as f:
        f["features"] = h5py.ExternalLink(str(secret), "/features")
    with pytest.raises(UnsafeFileError, match="'/features' is an external link"):
        check_hdf5(path)


def test_virtual_datasets_are_refused(tmp_path):
    src = _good_h5(tmp_path / "src.h5")
    layout = h5py.VirtualLayout(shape=(20, 8), dtype="f4")
    layout[:] = h5py.VirtualSource(str(src), "features", shape=(20, 8))
    path = tmp_path / "virtual.h5"
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("features", layout)
    with pytest.raises(UnsafeFileError, match="virtual dataset"):
        check_hdf5(path)


def test_external_storage_is_refused(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"\0" * 640)
    path = tmp_path / "external.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("features", shape=(20, 8), dtype="f4", external=[(str(raw), 0, 640)])
    with pytest.raises(UnsafeFileError, match="external files"):
        check_hdf5(path)


def test_declared_size_far_beyond_stored_bytes_is_refused(tmp_path):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:  # 8 TB declared, nothing written: reading it allocates 8 TB
        f.create_dataset("features", shape=(1_000_000_000, 1000), dtype="f8", chunks=(1000, 100))
    assert path.stat().st_size < 100_000
    with pytest.raises(UnsafeFileError, match=r"declares shape \[1000000000, 1000\] \(8,000,000,000,000 bytes\)"):
        check_hdf5(path)


def test_total_declared_size_has_a_limit(tmp_path):
    path = _good_h5(tmp_path / "ok.h5")
    with pytest.raises(UnsafeFileError, match="declare 800 bytes in all"):
        check_hdf5(path, max_bytes=100)


def test_link_cycles_terminate_and_object_counts_are_capped(tmp_path):
    path = tmp_path / "cycle.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("g")
        g["self"] = g  # a hard link back up
        g["up"] = h5py.SoftLink("/g")
        for i in range(50):
            f.create_group(f"many/{i}")
    assert check_hdf5(path).groups >= 50
    with pytest.raises(UnsafeFileError, match="more than 20 objects"):
        check_hdf5(path, max_objects=20)


def test_not_hdf5_is_refused(tmp_path):
    path = tmp_path / "fake.h5"
    path.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(UnsafeFileError, match="not an HDF5 file"):
        check_hdf5(path)


def test_legacy_h5_models_need_trust(tmp_path):
    path = _good_h5(tmp_path / "model.h5")
    with pytest.raises(UsageError, match="pass trust_h5=True"):
        load_model_file(path)
    link = tmp_path / "linked.h5"
    with h5py.File(link, "w") as f:
        f["model_weights"] = h5py.ExternalLink(str(path), "/features")
    with pytest.raises(UnsafeFileError, match="external link"):
        load_model_file(link, trust_h5=True)  # trusted, but still checked first


def test_keras_archives_are_checked_before_loading(tmp_path):
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.weights.h5", b"\0" * (20 << 20))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(UnsafeFileError, match="unpacks to 20,971,520 bytes"):
        check_keras_archive(bomb, max_bytes=10 << 20)
    escape = tmp_path / "escape.keras"
    with zipfile.ZipFile(escape, "w") as zf:
        zf.writestr("../../etc/evil", b"x")
    with pytest.raises(UnsafeFileError, match="outside the archive"):
        load_model_file(escape)


@pytest.mark.slow
def test_keras_models_with_code_are_refused_in_safe_mode(tmp_path, keras):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(UnsafeFileError, match="safe mode"):
        load_model_file(path)
    plain = tmp_path / "plain.keras"
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(plain)
    assert load_model_file(plain).count_params() == 10


# -- writes that are complete or absent -------------------------------------------------------------


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.py"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "complete\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "complete\n" and list(tmp_path.iterdir()) == [target]


_SLOW_WRITER = """
import sys, time
from archspec.fileio import atomic_path
with atomic_path(sys.argv[1]) as tmp, open(tmp, "w") as fh:
    for i in range(100000):
        fh.write("line %d\\n" % i)
        fh.flush()
        if i == 10:
            print("writing", flush=True)
        time.sleep(0.0001)
"""


def test_sigkill_during_an_atomic_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "model.py"
    target.write_text("old and complete\n")
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait(timeout=30)
    assert target.read_text() == "old and complete\n"


def test_feature_files_are_checked_before_they_are_read(tmp_path):
    from archspec.training.shallow import read_features

    good = _good_h5(tmp_path / "ok.h5")
    with h5py.File(good, "a") as f:
        f["label_names"] = np.array([b"a", b"b"])
        del f["labels"]
        f["labels"] = np.arange(20) % 2  # labels within label_names: read_features checks them too
    assert read_features(good)[0].shape == (20, 8)
    evil = tmp_path / "evil.h5"
    with h5py.File(evil, "w") as f:
        f["features"] = h5py.ExternalLink(str(good), "/features")
        f["labels"] = np.arange(20)
        f["label_names"] = np.array([b"a"])
    with pytest.raises(UnsafeFileError, match="external link"):
        read_features(evil)


def test_training_checks_the_memory_budget_at_its_batch_size_before_tensorflow(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "archspec: 1\ninput: [8, 8, 1]\nclasses: 10\nlayers: [flatten, {dense: 10, activation: softmax}]\n"
        "train: {batch_size: 32}\n"
    )
    (tmp_path / "x.npz").write_bytes(b"")
    code = (
        "import sys\nfrom archspec.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n"
        "    print('tensorflow imported:', 'tensorflow' in sys.modules)\n    raise\n"
    )
    args = ["--max-memory", "20KiB", "train", str(spec), "--data", str(tmp_path / "x.npz"), "--run-dir", "run"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    assert "training needs an estimated 27.4 KiB at batch size 32 with adam" in proc.stderr  # 10.7 KiB at batch 1
    assert "tensorflow imported: False" in proc.stdout
    assert not (tmp_path / "run").exists()


_WRITES = re.compile(
    r"open\([^)]*['\"][wax]b?\+?['\"]|\.write_(text|bytes)\(|\.save\(|savefig\(|np\.save|savez|save_weights\(|"
    r"h5py\.File\([^)]*['\"](w|a|r\+|x)['\"]|json\.dump\(|shutil\.(copy\w*|move)\("
)
#: Writes that are not through atomic_path, and why that is safe.
_WRITE_EXCEPTIONS = {
    ("transfer/extract.py", 'h5py.File(self.partial, "r+")'): "the partial file is never the target",
    ("transfer/extract.py", 'h5py.File(self.partial, "w")'): "the partial file is never the target",
    ("export.py", "onnx.save(proto, str(tmp))"): "the temporary export, renamed into place once verified",
    ("export.py", '(tmp / "archspec.json").write_text'): "inside the temporary SavedModel, renamed once verified",
    ("view/raster.py", "fig.savefig(buffer,"): "into memory; view/output.py writes the bytes with atomic_write_bytes",
}


def test_every_writer_in_the_package_goes_through_atomic_path():
    """A write call must sit inside `with atomic_path(...)` (within the six lines above it)."""
    offenders = []
    for path in _package_sources():
        if path.name == "fileio.py":
            continue
        rel = path.relative_to(PACKAGE).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            code = line.split("#", 1)[0]
            if not _WRITES.search(code) or code.lstrip().startswith(('"', "'")):
                continue
            context = "\n".join(lines[max(0, number - 7) : number])
            excused = any(rel == f and snippet in code for (f, snippet) in _WRITE_EXCEPTIONS)
            if "atomic_path(" not in context and not excused:
                offenders.append(f"archspec/{rel}:{number}: {line.strip()}")
    assert not offenders, "writes outside atomic_path:\n" + "\n".join(offenders)


def test_the_writer_audit_can_fail():
    for bad in ['open(path, "w")', "model.save(path)", "fig.savefig(out)", 'h5py.File(p, "w")', "p.write_text(s)"]:
        assert _WRITES.search(bad), bad
    assert not _WRITES.search('h5py.File(p, "r")') and not _WRITES.search('open(p, "rb")')


# -- standard input ------------------------------------------------------------------------------------------------


def test_endless_stdin_is_refused_after_the_size_limit_not_read_whole():
    """`archspec validate - < /dev/zero` read until the machine ran out of memory; now it stops at 1 MiB + 1."""
    with open("/dev/zero", "rb") as zeros:  # only read from: the device is never written
        proc = subprocess.run(
            [sys.executable, "-m", "archspec", "validate", "-"], stdin=zeros, capture_output=True, text=True, timeout=60
        )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == "<stdin>: spec text is larger than 1048576 bytes"
