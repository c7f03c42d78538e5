"""Seeing a spec: diagrams drawn without a system program, the live page of ``archspec view``,
and how graphs and analyses show themselves in a notebook.

- :mod:`.scene`: what a picture shows (the analysis' figures, blocks, stages) as plain data;
- :mod:`.layout`, :mod:`.drawing`, :mod:`.raster`: a layered layout in Python, as SVG, PNG, PDF;
- :mod:`.html`: the self-contained page (vendored dagre lays it out in the browser);
- :mod:`.output`: ``archspec diagram -o FILE`` (Graphviz only when asked for);
- :mod:`.server`: ``archspec view``; :mod:`.notebook`: ``_repr_html_`` and ``print()``.

This package sits above the core stages and ``archspec.transfer`` (it shows fine-tuning
stages) and below the command line. Importing it imports nothing else.
"""
