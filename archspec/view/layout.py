"""A layered (Sugiyama-style) layout of a network's DAG, in pure Python, for SVG/PNG/PDF output.

No Python library fits: igraph's ``layout_sugiyama`` (maintained, compiled) spaces every
vertex of a layer by one gap, with no box sizes, where our boxes are as wide as their labels
or tensors; grandalf's last release is 0.8 (2023); networkx has no layered layout;
pygraphviz needs Graphviz itself. So this module does the four classic steps of Sugiyama et
al. (1981), each in its simplest well-known form, which suits networks (long chains with
branches that meet again):

1. **Layering**: each box goes one rank below its lowest input (longest path from the input).
2. **Long edges** (a residual shortcut over a whole block) get one invisible *dummy* box per
   rank they cross, so that they are routed around the boxes in between.
3. **Ordering** within ranks: barycentre sweeps, down and up, that reduce edge crossings.
4. **Coordinates**: each box is pulled towards the mean position of its neighbours, then
   boxes are pushed apart in rank order so that none overlap (a priority-method simplification).

The browser drawing (``archspec diagram -o net.html`` and ``archspec view``) uses dagre,
which implements the same steps with better heuristics; this one only has to be good enough
for a static picture of a CNN, and it is deterministic (same graph, same bytes).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

SWEEPS = 8
COORDINATE_ROUNDS = 12


@dataclass(frozen=True)
class Box:
    """Something to place: ``across`` is its size across the flow, ``along`` its size along it."""

    id: str
    across: float
    along: float


@dataclass
class Layout:
    """Centres of the boxes, the routed edges (points, flow order), and the drawing's size.

    Coordinates are in the drawing's own axes: ``x`` across the flow, ``y`` along it; a
    left-to-right drawing swaps them when it writes them out (:meth:`point`).
    """

    centre: dict[str, tuple[float, float]]
    routes: dict[tuple[str, str], list[tuple[float, float]]]
    size: tuple[float, float]
    rank: dict[str, int] = field(default_factory=dict)
    horizontal: bool = False
    reverse: bool = False  # flowing up (BT) or leftwards (RL)

    def point(self, xy: tuple[float, float]) -> tuple[float, float]:
        """A point in screen coordinates (x right, y down)."""
        x, y = xy
        if self.reverse:
            y = self.size[1] - y
        return (y, x) if self.horizontal else (x, y)

    def screen_size(self) -> tuple[float, float]:
        return (self.size[1], self.size[0]) if self.horizontal else self.size


def layout(
    boxes: Sequence[Box],
    edges: Sequence[tuple[str, str]],
    *,
    horizontal: bool = False,
    reverse: bool = False,
    gap: float = 24.0,
    rank_gap: float = 44.0,
    margin: float = 20.0,
) -> Layout:
    """Place ``boxes`` (in a topological order) so that ``edges`` flow one way.

    >>> lay = layout([Box("a", 40, 20), Box("b", 40, 20), Box("c", 40, 20)], [("a", "b"), ("a", "c"), ("b", "c")])
    >>> lay.rank, lay.centre["a"][1] < lay.centre["b"][1] < lay.centre["c"][1]
    ({'a': 0, 'b': 1, 'c': 2}, True)
    """
    size = {b.id: b for b in boxes}
    rank = _ranks([b.id for b in boxes], edges)
    chains, rows = _dummies(rank, edges, [b.id for b in boxes])
    width = {v: (size[v].across if v in size else 0.0) for row in rows for v in row}
    preds, succs = _neighbours(chains)
    _order(rows, preds, succs)
    x = _coordinates(rows, width, preds, succs, gap)
    heights = [max((size[v].along for v in row if v in size), default=0.0) for row in rows]
    y, pos = [], margin
    for h in heights:
        y.append(pos + h / 2)
        pos += h + rank_gap
    shift = margin - min((x[v] - width[v] / 2 for row in rows for v in row), default=0.0)
    centre = {v: (x[v] + shift, y[r]) for r, row in enumerate(rows) for v in row}
    routes = {(s, t): [centre[v] for v in chain] for (s, t), chain in chains.items()}
    right = max((centre[v][0] + width[v] / 2 for v in centre), default=0.0) + margin
    bottom = pos - rank_gap + margin
    real = {v: c for v, c in centre.items() if v in size}
    return Layout(real, routes, (right, bottom), rank, horizontal, reverse)


def _ranks(order: list[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest path from a source; ``order`` must be topological (the graph's own order is)."""
    inputs: dict[str, list[str]] = {v: [] for v in order}
    for s, t in edges:
        inputs[t].append(s)
    rank: dict[str, int] = {}
    for v in order:
        rank[v] = 1 + max((rank[s] for s in inputs[v]), default=-1)
    return rank


def _dummies(
    rank: dict[str, int], edges: Sequence[tuple[str, str]], order: list[str]
) -> tuple[dict[tuple[str, str], list[str]], list[list[str]]]:
    """Each edge as a chain of boxes, one per rank (dummies in between), and the rows of ranks."""
    rows: list[list[str]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for v in order:
        rows[rank[v]].append(v)
    chains: dict[tuple[str, str], list[str]] = {}
    for s, t in edges:
        chain = [s]
        for r in range(rank[s] + 1, rank[t]):
            dummy = f"\0{s}\0{t}\0{r}"
            rows[r].append(dummy)
            chain.append(dummy)
        chains[s, t] = [*chain, t]
    return chains, rows


def _neighbours(chains: dict[tuple[str, str], list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for chain in chains.values():
        for a, b in itertools.pairwise(chain):
            succs.setdefault(a, []).append(b)
            preds.setdefault(b, []).append(a)
    return preds, succs


def _order(rows: list[list[str]], preds: dict[str, list[str]], succs: dict[str, list[str]]) -> None:
    """Barycentre sweeps: each row sorted by the mean index of its neighbours in the row before."""
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        indices = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        for r in indices:
            ref = {v: i for i, v in enumerate(rows[r - 1 if down else r + 1])}
            near = preds if down else succs
            rows[r] = _sorted_by_barycentre(rows[r], near, ref)


def _sorted_by_barycentre(row: list[str], near: dict[str, list[str]], ref: dict[str, int]) -> list[str]:
    keyed = []
    for i, v in enumerate(row):
        linked = [ref[u] for u in near.get(v, ()) if u in ref]
        keyed.append((sum(linked) / len(linked) if linked else float(i), i, v))
    return [v for _, _, v in sorted(keyed)]


def _coordinates(
    rows: list[list[str]],
    width: dict[str, float],
    preds: dict[str, list[str]],
    succs: dict[str, list[str]],
    gap: float,
) -> dict[str, float]:
    """Across-the-flow centres: pulled towards the neighbours' mean, then spread apart in order."""
    x: dict[str, float] = {}
    for row in rows:
        _pack(row, width, {v: 0.0 for v in row}, gap, x)
    for _ in range(COORDINATE_ROUNDS):
        for row in rows:
            want = {}
            for v in row:
                near = [x[u] for u in (*preds.get(v, ()), *succs.get(v, ()))]
                want[v] = sum(near) / len(near) if near else x[v]
            _pack(row, width, want, gap, x)
    return x


def _pack(row: list[str], width: dict[str, float], want: dict[str, float], gap: float, x: dict[str, float]) -> None:
    """Place a row's boxes as near to ``want`` as their order and ``gap`` allow.

    A left-to-right pass pushes boxes right of their left neighbour, a right-to-left pass
    pushes them left of their right neighbour, and the two results are averaged; the row is
    then shifted so that its mean offset from ``want`` is zero.
    """
    if not row:
        return
    left = _sweep(row, width, want, gap, 1)
    right = _sweep(row[::-1], width, want, gap, -1)
    placed = {v: (left[v] + right[v]) / 2 for v in row}
    for a, b in itertools.pairwise(row):  # the average can still overlap: settle left to right
        least = placed[a] + (width[a] + width[b]) / 2 + gap
        placed[b] = max(placed[b], least)
    offset = sum(want[v] - placed[v] for v in row) / len(row)
    for v in row:
        x[v] = placed[v] + offset


def _sweep(row: list[str], width: dict[str, float], want: dict[str, float], gap: float, way: int) -> dict[str, float]:
    out: dict[str, float] = {}
    prev: str | None = None
    for v in row:
        pos = want[v]
        if prev is not None:
            bound = out[prev] + way * ((width[prev] + width[v]) / 2 + gap)
            pos = max(pos, bound) if way > 0 else min(pos, bound)
        out[v] = pos
        prev = v
    return out
