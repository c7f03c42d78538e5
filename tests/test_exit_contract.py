"""The exit-status table of docs/cli.md is a contract: broken input never ends as exit 3.

Every command of the click group (read from the group itself, so a command added tomorrow is
driven too) is run with broken inputs in its first positional argument (missing, a folder,
bad YAML, not UTF-8, not a mapping, malformed numbers, recursive merges, deep nesting, junk
model and feature files, hostile standard input) and with broken options (`--outputs ,,,`,
`-o` into /proc, a folder or a 300-byte name). A spec problem must exit 1, a usage or data
problem 2, and nothing may print "internal error" or raise. The static commands run in
process in a second or two; the commands that import TensorFlow form one slow group.
(500 nested pattern brackets and 200 chained blocks ended in RecursionError, exit 3, until
the expander bounded its nesting: 25bc87b.)
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import LAZY_COMMANDS, main

COMMANDS = main.list_commands(click.Context(main))
STATIC = [name for name in COMMANDS if name not in LAZY_COMMANDS]
FRAMEWORK = [name for name in COMMANDS if name in LAZY_COMMANDS]

VALID = "archspec: 1\nname: t\ninput: [8, 8, 3]\nclasses: 3\nlayers: [flatten, {dense: 3, name: fc}]\n"


def _chain_of_blocks(n: int) -> str:
    blocks = "".join(f"  b{i}:\n    layers: [{{b{i - 1}: null}}]\n" for i in range(1, n))
    return f"archspec: 1\nname: c\ninput: [8, 8, 1]\nblocks:\n  b0:\n    layers: [relu]\n{blocks}layers: [{{b{n - 1}: null}}]\n"


#: name -> (file contents, or None for a missing file and "/" for a folder; expected exit for a spec argument)
BROKEN: dict[str, tuple[bytes | str | None, int]] = {
    "missing.yaml": (None, 2),
    "folder.yaml": ("/", 2),
    "empty.yaml": (b"", 1),
    "tab.yaml": (b"archspec: 1\n\tinput: [8, 8, 1]\n", 1),
    "flow_expression.yaml": (b"archspec: 1\ninput: [8, 8, 1]\nlayers: [{dense: ${n}}]\n", 1),
    "not_utf8.yaml": (b"archspec: 1\nname: \xff\xfe\n", 1),
    "a_list.yaml": (b"- archspec: 1\n- layers: []\n", 1),
    "hex_underscore.yaml": (b"archspec: 1\ninput: [8, 8, 1]\nlayers: [flatten, {dense: 0x_}]\n", 1),
    "recursive_merge.yaml": (b"archspec: 1\ninput: [8, 8, 1]\nx: &a {k: 1, <<: *a}\nlayers: [flatten]\n", 1),
    "deep_flow.yaml": (b"archspec: 1\nx: " + b"[" * 2000 + b"]" * 2000 + b"\n", 1),
    "python_tag.yaml": (b"archspec: 1\nx: !!python/object/apply:os.system ['true']\n", 1),
    "base_not_a_mapping.yaml": (b"archspec: 1\ninput: [8, 8, 3]\nbase: {spec: a_list.yaml}\nlayers: [flatten]\n", 1),
    "chain_of_200_blocks.yaml": (_chain_of_blocks(200), 1),
    "deep_pattern.yaml": (
        'archspec: 1\ninput: [8, 8, 1]\nclasses: 3\npattern: "' + "[" * 500 + "CONV" + "]*1" * 500 + ' -> FC"\n',
        1,
    ),
    "junk.keras": (b"PK\x03\x04 not really a zip archive", 2),  # a Keras model read as a spec: a broken model file
    "junk.h5": (b"\x89HDF\r\n\x1a\n truncated", 1),
}

#: Standard input for `-`: name -> (bytes, expected exit)
STDIN: dict[str, tuple[bytes, int]] = {
    "zeros_past_the_limit": (b"\0" * ((1 << 20) + 10), 1),
    "not_utf8": (b"archspec: 1\nname: \xff\n", 1),
    "looks_like_a_path": (b"valid.yaml", 1),
}

#: -o values archspec must refuse (exit 2); {tmp} is the test's folder
BAD_OUTPUTS = {"proc": "/proc/version", "folder": "{tmp}", "long_name": "{tmp}/" + "a" * 300 + ".dot"}
#: What a command cannot run without besides its arguments: a sweep needs a grid (classes: every spec has it).
EXTRA = {"sweep": ("--grid", "classes=2,3")}
SUFFIX = {"build": ".keras", "diagram": ".dot", "extract": ".h5", "activations": ".png"}


def _command(name: str) -> click.Command:
    """The command object, without LazyGroup.get_command's framework start-up (collection stays light)."""
    if name in LAZY_COMMANDS:
        module, attr = LAZY_COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)
    return main.commands[name]


def _arguments(cmd: click.Command) -> list[click.Argument]:
    return [p for p in cmd.params if isinstance(p, click.Argument)]


def _has_option(cmd: click.Command, name: str) -> bool:
    return any(isinstance(p, click.Option) and p.name == name for p in cmd.params)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from PIL import Image

    for name, (content, _) in BROKEN.items():
        if content == "/":
            (tmp_path / name).mkdir()
        elif content is not None:
            (tmp_path / name).write_bytes(content.encode() if isinstance(content, str) else content)
    (tmp_path / "valid.yaml").write_text(VALID)
    for k in range(2):
        (tmp_path / "images" / f"c{k}").mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 60 * k, np.uint8)).save(tmp_path / "images" / f"c{k}" / "x.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _argv(name: str, first: str | None, output: str | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """A command line for ``name``: ``first`` in its first positional argument, plausible values elsewhere."""
    cmd = _command(name)
    fillers = {"data": "images", "layer": "fc", "image": "images/c0/x.png", "images": "images/c0/x.png"}
    argv = [name]
    for k, arg in enumerate(_arguments(cmd)):
        value = first if k == 0 else fillers.get(arg.name or "", "valid.yaml")
        if value is not None and (arg.required or k == 0):
            argv.append(value)
    for opt in cmd.params:
        if isinstance(opt, click.Option) and opt.name == "output" and (opt.required or output):
            argv += [opt.opts[0], output or f"out{SUFFIX.get(name, '.txt')}"]
        elif isinstance(opt, click.Option) and opt.required:
            argv += [opt.opts[0], fillers.get(opt.name or "", "x")]
    return [*argv, *EXTRA.get(name, ()), *extra]


def _takes_a_spec(name: str) -> bool:
    args = _arguments(_command(name))
    return bool(args) and (args[0].name or "").startswith("spec")


def _expected(name: str, broken: str) -> set[int]:
    """A spec argument tells spec problems (1) from usage problems (2). A model, run-directory or
    data argument may also take a spec (predict, evaluate), so there a broken file is 1 or 2; a
    missing one is always 2."""
    code = BROKEN[broken][1]
    if broken == "junk.keras" and name == "train":  # train reads YAML specs only: a spec that is not YAML (1)
        return {1}
    if _takes_a_spec(name) or broken == "missing.yaml":
        return {code}
    return {1, 2}


def _check(result, allowed: set[int]) -> None:
    assert "internal error" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in allowed, f"exit {result.exit_code}, wanted {sorted(allowed)}:\n{result.output}"


def _broken_cases(commands: list[str]) -> list:
    cases = []
    for name in commands:
        if not _arguments(_command(name)) or name in SERVERS:
            continue  # no positional input (schema): its options are driven below
        cases += [pytest.param(name, broken, id=f"{name}-{broken}") for broken in BROKEN]
    return cases


def _stdin_cases(commands: list[str]) -> list:
    dash = [
        n
        for n in commands
        if n not in SERVERS and _arguments(_command(n)) and getattr(_arguments(_command(n))[0].type, "allow_dash", 0)
    ]
    return [pytest.param(n, s, id=f"{n}-{s}") for n in dash for s in STDIN]


def _output_cases(commands: list[str]) -> list:
    cases = [
        pytest.param(n, o, id=f"{n}-{o}") for n in commands if _has_option(_command(n), "output") for o in BAD_OUTPUTS
    ]
    return cases


def _outputs_cases(commands: list[str]) -> list:
    return [
        pytest.param(n, v, id=f"{n}-{v!r}")
        for n in commands
        if _has_option(_command(n), "outputs")
        for v in (",,,", "", " , ")
    ]


def _run_broken(workdir: Path, name: str, broken: str) -> None:
    _check(CliRunner().invoke(main, _argv(name, broken)), _expected(name, broken))


def _run_stdin(workdir: Path, name: str, case: str) -> None:
    data, code = STDIN[case]
    _check(CliRunner().invoke(main, _argv(name, "-"), input=data), {code})


def _run_bad_output(workdir: Path, name: str, case: str) -> None:
    first = "valid.yaml" if _arguments(_command(name)) else None
    _check(CliRunner().invoke(main, _argv(name, first, BAD_OUTPUTS[case].format(tmp=workdir))), {2})
    assert Path("/proc/version").is_file()


def _run_no_outputs(workdir: Path, name: str, value: str) -> None:
    result = CliRunner().invoke(main, _argv(name, "valid.yaml", extra=("--outputs", value)))
    _check(result, {2})
    assert "--outputs" in result.output


# -- the static commands, in process ----------------------------------------------------------------------------


#: Commands whose input is a protocol on standard input, not a file: tests/test_lsp.py drives
#: `archspec lsp` with broken, half-typed and hostile specs.
#: Commands that serve until stopped: `lsp` reads the protocol on stdin; `view` keeps serving a broken spec
#: (it shows the problems on its page), so tests/test_view.py drives its inputs with a server it can stop.
SERVERS = {"lsp", "view"}


def test_every_command_of_the_group_is_driven():
    assert set(STATIC) | set(FRAMEWORK) == set(COMMANDS) and len(COMMANDS) >= 13
    driven = {p.values[0] for p in _broken_cases(COMMANDS) + _output_cases(COMMANDS)}
    assert driven == set(COMMANDS) - SERVERS  # each takes a positional input or an output


@pytest.mark.parametrize(("name", "broken"), _broken_cases(STATIC))
def test_static_commands_on_broken_inputs(workdir, name, broken):
    _run_broken(workdir, name, broken)


@pytest.mark.parametrize(("name", "case"), _stdin_cases(STATIC))
def test_static_commands_on_hostile_stdin(workdir, name, case):
    _run_stdin(workdir, name, case)


@pytest.mark.parametrize(("name", "case"), _output_cases(STATIC))
def test_static_commands_refuse_outputs_they_cannot_write(workdir, name, case):
    _run_bad_output(workdir, name, case)


@pytest.mark.parametrize(("name", "value"), _outputs_cases(STATIC))
def test_static_commands_refuse_an_empty_outputs_list(workdir, name, value):
    _run_no_outputs(workdir, name, value)


# -- the commands that import TensorFlow: one slow group ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("name", "broken"), _broken_cases(FRAMEWORK))
def test_framework_commands_on_broken_inputs(workdir, name, broken):
    _run_broken(workdir, name, broken)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "case"), _stdin_cases(FRAMEWORK))
def test_framework_commands_on_hostile_stdin(workdir, name, case):
    _run_stdin(workdir, name, case)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "case"), _output_cases(FRAMEWORK))
def test_framework_commands_refuse_outputs_they_cannot_write(workdir, name, case):
    _run_bad_output(workdir, name, case)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "value"), _outputs_cases(FRAMEWORK))
def test_framework_commands_refuse_an_empty_outputs_list(workdir, name, value):
    _run_no_outputs(workdir, name, value)
