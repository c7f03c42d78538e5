#!/usr/bin/env python3
"""Fuzz archspec's static pipeline: load -> validate -> expand -> analyse -> compile.

Each input is checked for:

- errors: the only exception any input may raise is :class:`archspec.errors.ArchspecError`;
  anything else (a TypeError, a RecursionError, a hang) is a bug in archspec;
- work: the steps it charged to the work budget (:mod:`archspec.budget`) stay within
  :func:`step_bound`, the bound docs/security.md promises;
- meaning, for valid specs: ``archspec expand``'s output is a spec of the same network (same
  layers, shapes, parameters and MACs), and the generated Keras source parses; with
  ``--exec-every N``, every N-th small valid spec's source is run and its model has the
  parameter count the summary states (this imports Keras, so it is a sample).

Two engines. ``atheris`` (the default where it is installed) is coverage-guided: libFuzzer
keeps the inputs that reach new code in archspec, mutating them with its own byte-level
mutations and with :func:`mutate`, which knows YAML and the spec language. ``random`` mutates
the bundled specs and random bytes without coverage feedback. Both start from every spec
in specs/ and tests/corpus/.

    python tools/fuzz.py --seconds 300          # or: make fuzz FUZZ_SECONDS=300
    python tools/fuzz.py --engine random --seconds 60 --seed 1
    python tools/fuzz.py --replay fuzz-crashes/  # re-run saved crashes

A crash is printed with its traceback and saved to ``fuzz-crashes/crash-<hash>.yaml``; add it
to tests/corpus/hostile/ once fixed. The run ends with one line of counts (inputs run,
corpus size, crashes). tests/test_fuzz.py runs the same :func:`check_one` under Hypothesis
and a short fixed-seed slice of each engine.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Characters and fragments that matter to YAML and to the spec language.
ALPHABET = [
    *" \n\t-:,[]{}#&*!|>'\"%@`?~=+/.0123456789eExX_$",
    "${", "}", "->", "*N", "?", "[", "]", "null", "true", "no", "0x", "1e9", "-1", "010", ".inf", "<<: *",
    "&a ", "*a", "!!python/object:os.system", "conv", "dense", "repeat", "layers", "inputs", "name", "when",
    "blocks", "params", "pattern", "tokens", "stages", "classifier", "expect", "vars", "defaults", "input",
    "residual", "bottleneck", "inception", "add", "concat", "flatten", "gap", "maxpool", "1000000000", "\u2028",
]  # fmt: skip


def seed_texts() -> list[str]:
    """The bundled specs and both corpora: valid and invalid starting points."""
    paths = sorted((ROOT / "specs").rglob("*.yaml")) + sorted((ROOT / "tests" / "corpus").rglob("*.yaml"))
    return [p.read_text(encoding="utf-8") for p in paths if p.stat().st_size < 50_000]


def step_bound() -> int:
    """Steps one ``expand`` may charge (docs/security.md): the layer count's budget and the
    expansion's, plus the one charge that crosses the line (at most a list's length, and no
    list in a 1 MiB spec has a million values)."""
    from archspec import budget  # here: atheris instruments archspec only if it imports it first

    return 2 * budget.MAX_STEPS + (1 << 20)


def _counted(expand: Callable[[Any], Any], spec: Any) -> Any:
    """``expand(spec)``, checking the steps it charged, whether it succeeds or refuses."""
    from archspec import budget

    before = budget.used()
    try:
        return expand(spec)
    finally:
        steps = budget.used() - before
        if steps > step_bound():
            raise AssertionError(f"expanding took {steps:,} steps; the bound is {step_bound():,}")


def run_pipeline(text: str | bytes, execute: bool = False) -> str:
    """Push one input through every static stage; return how far it got.

    Raises only ArchspecError for bad input; any other exception is a bug.
    """
    from archspec import analysis, codegen, emit_yaml, expect, report
    from archspec.api import expand
    from archspec.loader import load_text

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return "not utf-8"
    doc = load_text(text, "<fuzz>")
    graph = _counted(expand, doc)
    scales = doc.data.get("scales") if isinstance(doc.data, dict) else None
    if isinstance(scales, dict) and scales:  # one variant too: its values override the spec's vars
        variant = str(next(iter(scales)))
        analysis.analyse(_counted(lambda d: expand(d, variant=variant), doc))
    result = analysis.analyse(graph)
    expect.check_expectations(result)
    report.render_table(result, None, "float32")
    report.to_json(result, None, "float32")
    source = codegen.render(graph)
    code = compile(source, "<generated>", "exec")  # parsed; run only when asked (needs Keras)
    if len(graph.nodes) <= 2000:  # PyYAML's emitter takes ~1 ms a layer: round-trip the smaller ones
        again = _counted(expand, emit_yaml.dump(graph))  # `archspec expand` output is itself a valid spec...
        if _figures(analysis.analyse(again)) != _figures(result):  # ...of the same network
            raise AssertionError("archspec expand output is not a spec of the same network")
    if execute and "base" not in doc.data:  # a pretrained base's module downloads its weights, as Keras does
        _run_generated(code, result.total_params)
        return "executed"
    return "compiled"


def _figures(result: Any) -> list[tuple[Any, ...]]:
    """What `archspec summary` states about each layer."""
    return [(s.name, s.type, s.shape, s.params, s.macs) for s in result.layers]


def _run_generated(code: Any, params: int) -> None:
    """Run `archspec compile`'s module (the code archspec itself generated) and build its model."""
    namespace: dict[str, Any] = {"__name__": "archspec_fuzz_generated"}
    exec(code, namespace)  # noqa: S102  (archspec's generated module, parsed by ast; never spec text)
    model = namespace["build_model"]()
    if model.count_params() != params:
        raise AssertionError(f"generated code builds {model.count_params():,} parameters; summary says {params:,}")


def mutate(text: str, rng: random.Random, others: list[str]) -> str:
    """One to eight random edits of ``text``."""
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        pos = rng.randint(0, len(text))
        if op < 0.3:
            text = text[:pos] + rng.choice(ALPHABET) + text[pos:]
        elif op < 0.5:
            text = text[:pos] + text[pos + rng.randint(1, 8) :]
        elif op < 0.7:
            text = text[:pos] + rng.choice(ALPHABET) + text[pos + 1 :]
        elif op < 0.8:
            lines = text.split("\n")
            k = rng.randrange(len(lines))
            lines.insert(k, lines[rng.randrange(len(lines))])
            text = "\n".join(lines)
        elif op < 0.9 and others:
            other = rng.choice(others)
            cut = rng.randint(0, len(other))
            text = text[:pos] + other[cut : cut + rng.randint(1, 200)] + text[pos:]
        else:
            digits = [i for i, c in enumerate(text) if c.isdigit()]
            if digits:
                i = rng.choice(digits)
                text = text[:i] + str(rng.choice([0, -1, 7, 10**6, 10**12, 2**31])) + text[i + 1 :]
    return text


class _Timeout(Exception):
    pass


def _alarm(seconds: int) -> Callable[[], None]:
    def handler(signum: int, frame: Any) -> None:
        raise _Timeout

    signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    return lambda: signal.alarm(0)


def check_one(text: str | bytes, per_input_seconds: int = 60, execute: bool = False) -> tuple[str, str]:
    """("ok", stage), ("refused", message) or ("crash", what went wrong) for one input."""
    from archspec.errors import ArchspecError

    cancel = _alarm(per_input_seconds) if hasattr(signal, "SIGALRM") else (lambda: None)
    try:
        return "ok", run_pipeline(text, execute)
    except ArchspecError as exc:
        if not exc.problems or any(not p.message for p in exc.problems):
            return "crash", "ArchspecError without a message"
        return "refused", str(exc)
    except _Timeout:
        return "crash", f"took more than {per_input_seconds} s (a hang?)"
    except Exception:
        return "crash", traceback.format_exc()
    finally:
        cancel()


#: Coverage instrumentation makes archspec's code tens of times slower (a spec that expands
#: 20,000 layers in 2 s took over a minute under atheris): an input over this limit is run
#: again, uninstrumented, in a process of its own, and is a hang only if it is slow there too.
INSTRUMENTED_SECONDS = 120


def _confirm_hang(sample: str | bytes, seconds: int = 60) -> tuple[str, str]:
    """("slow", ...) if the input finishes within ``seconds`` without instrumentation, else a crash."""
    data = sample.encode("utf-8", "surrogatepass") if isinstance(sample, str) else sample
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.yaml"
        path.write_bytes(data)
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--replay", str(path)], capture_output=True, text=True, timeout=seconds
            )
        except subprocess.TimeoutExpired:
            return "crash", f"took more than {seconds} s without instrumentation too (a hang)"
    if proc.returncode != 0:
        return "crash", proc.stdout[-2000:] + proc.stderr[-4000:]
    return "slow", "over the time limit only under coverage instrumentation"


class _Tally:
    """Counts for the closing line, and the crashes saved on the way."""

    def __init__(self, out: Path, exec_every: int, instrumented: bool = False) -> None:
        self.out, self.exec_every, self.instrumented = out, exec_every, instrumented
        self.outcomes: dict[str, int] = {}
        self.executed = 0
        self.start = time.monotonic()

    def check(self, sample: str | bytes) -> None:
        valid = self.outcomes.get("ok", 0)
        execute = bool(self.exec_every) and valid % self.exec_every == self.exec_every - 1 and len(sample) < 2000
        status, detail = check_one(sample, INSTRUMENTED_SECONDS if self.instrumented else 60, execute)
        if status == "crash" and detail.startswith("took more than") and self.instrumented:
            status, detail = _confirm_hang(sample)
        self.outcomes[status] = self.outcomes.get(status, 0) + 1
        self.executed += detail == "executed"
        if status == "crash":
            data = sample.encode("utf-8", "surrogatepass") if isinstance(sample, str) else sample
            name = self.out / f"crash-{hashlib.sha1(data).hexdigest()[:12]}.yaml"
            self.out.mkdir(parents=True, exist_ok=True)
            name.write_bytes(data)
            print(f"CRASH saved to {name}:\n{detail}", file=sys.stderr)

    def report(self, corpus: int | None = None) -> int:
        elapsed = time.monotonic() - self.start
        runs, crashes = sum(self.outcomes.values()), self.outcomes.get("crash", 0)
        print(
            f"{runs} inputs in {elapsed:.0f} s ({runs / max(elapsed, 1e-9):.0f}/s): "
            f"{self.outcomes.get('ok', 0)} compiled ({self.executed} of them run in Keras), "
            f"{self.outcomes.get('refused', 0)} refused with an ArchspecError, "
            + (f"corpus {corpus} inputs, " if corpus is not None else "")
            + (f"{self.outcomes['slow']} slow only when instrumented, " if "slow" in self.outcomes else "")
            + f"{crashes} crashes",
            flush=True,
        )
        return 1 if crashes else 0


def fuzz(seconds: float, seed: int, out: Path, exec_every: int = 0, runs: int | None = None) -> int:
    """The random engine: mutated seeds and random bytes, no coverage feedback."""
    rng = random.Random(seed)
    seeds = seed_texts()
    tally = _Tally(out, exec_every)
    while time.monotonic() - tally.start < seconds and (runs is None or sum(tally.outcomes.values()) < runs):
        if rng.random() < 0.05:
            sample: str | bytes = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        else:
            sample = mutate(rng.choice(seeds), rng, seeds)
        tally.check(sample)
    return tally.report()


def fuzz_atheris(
    seconds: float,
    seed: int,
    out: Path,
    corpus: Path,
    exec_every: int = 0,
    runs: int | None = None,
    max_steps: int = 0,
) -> int:
    """The coverage-guided engine: libFuzzer (through atheris) over archspec's own code.

    Inputs that reach new code are kept in ``corpus`` (seeded with the bundled specs), so a
    later run starts where this one stopped. Each input is checked by :func:`check_one`, which
    catches every failure itself: a crash is saved and counted and the run goes on.
    """
    import atheris

    with atheris.instrument_imports(include=["archspec"]):  # archspec's own code, not PyYAML's
        import archspec.api
        import archspec.codegen
        import archspec.emit_yaml  # noqa: F401
    _set_max_steps(max_steps)
    corpus.mkdir(parents=True, exist_ok=True)
    for text in seed_texts():
        data = text.encode("utf-8")
        (corpus / f"seed-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)
    tally = _Tally(out, exec_every, instrumented=True)
    seeds = seed_texts()

    def one_input(data: bytes) -> None:
        tally.check(data)
        done = sum(tally.outcomes.values())
        if time.monotonic() - tally.start >= seconds or (runs is not None and done >= runs):
            sys.stdout.flush()  # libFuzzer ends with C's exit(), past Python's own clean-up: end here
            os._exit(tally.report(sum(1 for _ in corpus.iterdir())))

    def mutator(data: bytes, max_size: int, mutation_seed: int) -> bytes:
        rng = random.Random(mutation_seed)
        if rng.random() < 0.5:  # libFuzzer's byte-level mutations know nothing of YAML
            return atheris.Mutate(data, max_size)
        text = mutate(data.decode("utf-8", "replace"), rng, seeds)
        return text.encode("utf-8")[:max_size]

    out.mkdir(parents=True, exist_ok=True)  # libFuzzer's own findings (an input over -timeout) go there too
    # libFuzzer reads peak RSS from getrusage, which Linux carries over exec from the forking process: started
    # by a pytest worker that built large Keras models, the fuzzer "used" 12 GB before its first input. The
    # 4 GiB budget is counted from that inherited peak.
    inherited_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    rss_limit = f"-rss_limit_mb={inherited_mb + 4096}"
    args = [sys.argv[0], str(corpus), f"-seed={seed}", "-max_len=16384", "-timeout=900", rss_limit]
    args += [f"-artifact_prefix={out}/", "-report_slow_units=600"]
    atheris.Setup(args, one_input, custom_mutator=mutator)
    atheris.Fuzz()
    return 0  # pragma: no cover  (Fuzz() does not return)


def replay(paths: list[Path]) -> int:
    failed = 0
    files = [f for p in paths for f in (sorted(p.glob("*")) if p.is_dir() else [p])]
    for f in files:
        status, detail = check_one(f.read_bytes())
        print(f"{f}: {status}")
        if status == "crash":
            print(detail, file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="How long to fuzz (default 60).")
    parser.add_argument("--seed", type=int, default=None, help="Random seed (default: time-based; printed).")
    parser.add_argument("--out", type=Path, default=Path("fuzz-crashes"), help="Where to save crashing inputs.")
    parser.add_argument("--replay", type=Path, nargs="+", help="Re-run saved inputs instead of fuzzing.")
    parser.add_argument("--engine", choices=("atheris", "random"), default=None, help="Default: atheris if installed.")
    parser.add_argument("--runs", type=int, default=None, help="Stop after this many inputs (a fixed slice).")
    parser.add_argument("--corpus", type=Path, default=Path("fuzz-corpus"), help="atheris' growing corpus.")
    parser.add_argument(
        "--exec-every", type=int, default=0, help="Run the generated Keras code of every N-th valid spec (0: never)."
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=100_000,
        help="The work budget while fuzzing (default 100,000: every seed fits, and an input that uses it up "
        "costs a fraction of a second instead of seconds; 0 keeps archspec's own).",
    )
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    seed = args.seed if args.seed is not None else int(time.time())
    engine = args.engine or ("atheris" if importlib.util.find_spec("atheris") else "random")
    print(f"fuzzing for {args.seconds:g} s with {engine}, seed {seed}", flush=True)
    if engine == "atheris":
        return fuzz_atheris(args.seconds, seed, args.out, args.corpus, args.exec_every, args.runs, args.max_steps)
    _set_max_steps(args.max_steps)
    return fuzz(args.seconds, seed, args.out, args.exec_every, args.runs)


def _set_max_steps(steps: int) -> None:
    """The fuzzer's work budget; imports archspec, so atheris calls it after instrumenting."""
    from archspec import budget

    if steps:
        budget.MAX_STEPS = steps


if __name__ == "__main__":
    sys.exit(main())
