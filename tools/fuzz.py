#!/usr/bin/env python3
"""Fuzz archspec's static pipeline: load -> validate -> expand -> analyse -> compile.

The only exception any input may raise is :class:`archspec.errors.ArchspecError`; anything
else (a TypeError, a RecursionError, a hang) is a bug in archspec. Inputs are the bundled
specs mutated at the character level (insert, delete, replace, duplicate a line, splice
two specs) plus random bytes, so the fuzzer reaches the deep stages quickly.

    python tools/fuzz.py --seconds 300          # or: make fuzz FUZZ_SECONDS=300
    python tools/fuzz.py --replay fuzz-crashes/  # re-run saved crashes

A crash is printed with its traceback and saved to ``fuzz-crashes/crash-<hash>.yaml``; add it
to tests/corpus/hostile/ once fixed. tests/test_fuzz.py runs the same :func:`run_pipeline`
under Hypothesis with a bounded number of examples.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sys
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


def run_pipeline(text: str | bytes) -> str:
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
    graph = expand(doc)
    result = analysis.analyse(graph)
    expect.check_expectations(result)
    report.render_table(result, None, "float32")
    report.to_json(result, None, "float32")
    source = codegen.render(graph)
    compile(source, "<generated>", "exec")  # parse only: the fuzzer never runs generated code
    if len(graph.nodes) <= 2000:  # PyYAML's emitter takes ~1 ms a layer: round-trip the smaller ones
        again = expand(emit_yaml.dump(graph))  # `archspec expand` output is itself a valid spec...
        if analysis.analyse(again).total_params != result.total_params:  # ...of the same network
            raise AssertionError("archspec expand output does not round-trip")
    return "compiled"


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


def check_one(text: str | bytes, per_input_seconds: int = 60) -> tuple[str, str]:
    """("ok", stage), ("refused", message) or ("crash", what went wrong) for one input."""
    from archspec.errors import ArchspecError

    cancel = _alarm(per_input_seconds) if hasattr(signal, "SIGALRM") else (lambda: None)
    try:
        return "ok", run_pipeline(text)
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


def fuzz(seconds: float, seed: int, out: Path) -> int:
    rng = random.Random(seed)
    seeds = seed_texts()
    start = time.monotonic()
    runs = crashes = 0
    outcomes: dict[str, int] = {}
    while time.monotonic() - start < seconds:
        if rng.random() < 0.05:
            sample: str | bytes = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        else:
            sample = mutate(rng.choice(seeds), rng, seeds)
        status, detail = check_one(sample)
        runs += 1
        outcomes[status] = outcomes.get(status, 0) + 1
        if status == "crash":
            crashes += 1
            data = sample.encode("utf-8", "surrogatepass") if isinstance(sample, str) else sample
            name = out / f"crash-{hashlib.sha1(data).hexdigest()[:12]}.yaml"
            out.mkdir(parents=True, exist_ok=True)
            name.write_bytes(data)
            print(f"CRASH saved to {name}:\n{detail}", file=sys.stderr)
    elapsed = time.monotonic() - start
    print(
        f"{runs} inputs in {elapsed:.0f} s ({runs / max(elapsed, 1e-9):.0f}/s): "
        f"{outcomes.get('ok', 0)} compiled, {outcomes.get('refused', 0)} refused with an ArchspecError, "
        f"{crashes} crashes"
    )
    return 1 if crashes else 0


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
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    seed = args.seed if args.seed is not None else int(time.time())
    print(f"fuzzing for {args.seconds:g} s, seed {seed}")
    return fuzz(args.seconds, seed, args.out)


if __name__ == "__main__":
    sys.exit(main())
