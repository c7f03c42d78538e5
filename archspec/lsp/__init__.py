"""``archspec lsp``: a Language Server Protocol server for spec files, on stdio.

It runs the same stages as ``archspec validate`` on every open spec as it is typed (load,
schema, expansion, analysis, expectations; no TensorFlow) and reports their problems as
diagnostics, word for word and at the same places; it shows each layer's output shape,
parameters, MACs and receptive field on hover and at the end of its line, completes layer
types, arguments, values and variables, and jumps from a block use or an input name to
where it is defined. docs/editor.md sets it up in Neovim and VS Code.

- :mod:`archspec.lsp.snapshot`: one check of one text, and its problems as diagnostics;
- :mod:`archspec.lsp.features`: hover, inlay hints and go-to-definition, from a snapshot;
- :mod:`archspec.lsp.complete`: completion, from the text around the cursor;
- :mod:`archspec.lsp.server`: the protocol (pygls), debouncing and the worker thread.

Only the server module imports pygls; the others are plain functions over text and
positions (0-based lines, columns in code points), tested without a client.
"""

from __future__ import annotations
