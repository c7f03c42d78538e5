"""Benchmark of ``archspec lsp`` (issue 22): from a keystroke to its diagnostics. Prints; asserts nothing.

For every spec of the zoo, the server gets ``--edits`` changes (a comment appended, so the
spec stays valid and is checked in full each time) and the time from sending
``textDocument/didChange`` to receiving ``textDocument/publishDiagnostics`` is measured: with
the server's debounce (what an editor sees) and with the debounce set to 0 (the check alone).
The alternative is what an editor without a server runs: ``archspec validate FILE`` as a new
process per change (a linter on save). Target: the largest spec within ~300 ms of a change.

    python bench/bench_lsp.py [--edits 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lsp_client import LspClient  # noqa: E402  (tests/lsp_client.py: a plain JSON-RPC client)

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def latencies(debounce_ms: str, specs: list[Path], edits: int) -> dict[str, list[float]]:
    """Seconds from each change to its diagnostics, per spec, through one server."""
    client = LspClient(
        [sys.executable, "-m", "archspec", "lsp"], env={**ENV, "ARCHSPEC_LSP_DEBOUNCE_MS": debounce_ms}, cwd=ROOT
    )
    client.initialize(ROOT)
    out: dict[str, list[float]] = {}
    try:
        for path in specs:
            text = path.read_text(encoding="utf-8")
            uri = client.open(path, text)
            assert client.wait_diagnostics(uri) == [], path
            times = []
            for k in range(edits):
                start = time.perf_counter()
                client.change(uri, f"{text}# edit {k}\n")
                client.wait_diagnostics(uri)
                times.append(time.perf_counter() - start)
            client.close(uri)
            out[path.name] = times
    finally:
        client.shutdown()
    return out


def validate_process(path: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "archspec", "validate", "-q", str(path)], env=ENV, cwd=ROOT, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10, help="changes per spec (default 10)")
    args = parser.parse_args()
    import archspec

    specs = sorted((ROOT / "specs").rglob("*.yaml"))
    layers = {p.name: len(archspec.expand(p).nodes) for p in specs}
    largest = max(specs, key=lambda p: layers[p.name])
    debounced = latencies(os.environ.get("ARCHSPEC_LSP_DEBOUNCE_MS", "75"), specs, args.edits)
    bare = latencies("0", specs, args.edits)
    print(f"{'spec':<34}{'layers':>7}{'change->diagnostics':>22}{'check alone':>14}")
    for p in sorted(specs, key=lambda p: layers[p.name])[-6:]:
        med, check = statistics.median(debounced[p.name]), statistics.median(bare[p.name])
        print(f"{p.name:<34}{layers[p.name]:>7}{med * 1000:>19.0f} ms{check * 1000:>11.0f} ms")
    worst = max(max(t) for t in debounced.values())
    print(
        f"all {len(specs)} specs: median {statistics.median(statistics.median(t) for t in debounced.values()) * 1000:.0f} ms,"
    )
    print(f"  slowest single change {worst * 1000:.0f} ms (debounce included)")
    process = validate_process(largest, 5)
    served = statistics.median(debounced[largest.name])
    print(
        f"{largest.name} ({layers[largest.name]} layers): server {served * 1000:.0f} ms per change vs "
        f"`archspec validate` process {process * 1000:.0f} ms -> {process / served:.1f}x"
    )


if __name__ == "__main__":
    main()
