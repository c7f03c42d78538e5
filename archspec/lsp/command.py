"""The ``archspec lsp`` command; pygls is imported only when the server starts (not for ``--help``)."""

from __future__ import annotations

import logging
import sys

import click


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk over standard input and output (the default and only transport).")
def lsp(stdio: bool) -> None:
    """Language server for spec files (LSP over stdio): diagnostics, hover figures, completion.

    Diagnostics are exactly those of `archspec validate`; hover shows each layer's output
    shape, parameters, MACs and receptive field. Set up in an editor: docs/editor.md.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="archspec lsp: %(message)s")
    from .server import serve

    serve()
