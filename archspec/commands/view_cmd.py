"""``archspec view``: the live page of a spec (no TensorFlow; loaded lazily like the other commands)."""

from __future__ import annotations

import signal
import time
from typing import Any

import click

from ..errors import UsageError


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0 picks a free port.")
@click.option("--variant", default=None, help="The variant of the spec's `scales:` table to show first.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="A spec variable to override at first.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def view(spec: str, port: int, variant: str | None, sets: tuple[str, ...], verbose: bool) -> None:
    """Serve a live page of SPEC on http://127.0.0.1:PORT/: its diagram, summary table and
    problems, redrawn within a second of every save. The page makes no outside request and the
    server reads no file but SPEC. Variant and --set are controls on the page. Ctrl-C stops it."""
    from pathlib import Path

    from ..view import server

    if not Path(spec).is_file():
        raise UsageError(f"no such file: {spec}")
    try:
        httpd, stop_event = server.start(spec, port=port, options=server.Options(variant, sets), verbose=verbose)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; try --port 0") from None
    click.echo(f"archspec view: {spec} at {server.url(httpd)} (Ctrl-C to stop)")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("archspec view: stopped")
    finally:
        server.stop(httpd, stop_event)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
