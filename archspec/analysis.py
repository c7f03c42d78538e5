"""Stage 4: what a network costs, computed from the expanded graph without TensorFlow.

For every layer: output shape, trainable and non-trainable parameters (as Keras counts
them), multiply-accumulates, element-wise work, activation size and receptive field.
Conventions (also in docs/analysis.md): ``macs`` counts the multiply-accumulates of weight
layers only (conv, depthwise, separable, dense; kernel only, no bias), which is what the
ResNet, GoogLeNet and MobileNet papers call FLOPs, ops or mult-adds; ``flops = 2 * macs``;
everything else (bias adds, batch norm, activations, pooling, merges) is ``other_ops``.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import Problem, SpecError
from .ir import DISPLAY, Graph, Node, Shape
from .registry import Info, ShapeError, registry

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "mixed_float16": 2, "float64": 8}
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adam": 2, "adamw": 2, "nadam": 2}
#: Learning rate when a spec gives none: Keras' own defaults. ``train:`` (archspec.training.config)
#: and the ``fine_tune:`` stages (archspec.transfer.plan) both use these.
DEFAULT_LR = {"sgd": 0.01, "rmsprop": 0.001, "adam": 0.001, "adamw": 0.001}


@dataclass(frozen=True)
class RF:
    """Receptive field (size in input pixels) and effective stride (jump) of a tensor.

    After up-sampling the jump is a fraction of an input pixel (``Fraction(1, 2)``); the
    size is then rounded up to whole input pixels.
    """

    size: tuple[int, int]
    jump: tuple[Fraction, Fraction]

    def __str__(self) -> str:
        return str(self.size[0]) if self.size[0] == self.size[1] else f"{self.size[0]}x{self.size[1]}"


@dataclass(frozen=True)
class LayerStats:
    node: Node
    shape: Shape
    trainable_params: int
    non_trainable_params: int
    macs: int
    other_ops: int
    rf: RF | None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def type(self) -> str:
        return self.node.type

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Analysis:
    """The analysis of a whole graph. Totals are properties, computed from the layers."""

    graph: Graph
    layers: tuple[LayerStats, ...]
    input_rf: RF

    def __getitem__(self, name: str) -> LayerStats:
        return self._by_name[name]

    def __str__(self) -> str:
        """The summary table, as ``archspec summary`` prints it."""
        return DISPLAY["text"](self) if "text" in DISPLAY else repr(self)

    def _repr_html_(self) -> str | None:
        """Jupyter: the summary as an HTML table, and the diagram."""
        return DISPLAY["html"](self) if "html" in DISPLAY else None

    # The totals are cached: the analysis is immutable and a summary asks for each of them
    # several times (a sum over 4,000 layers each time showed in ResNet-1202's profile).
    @functools.cached_property
    def _by_name(self) -> dict[str, LayerStats]:
        return {layer.name: layer for layer in self.layers}

    @functools.cached_property
    def trainable_params(self) -> int:
        return sum(s.trainable_params for s in self.layers)

    @functools.cached_property
    def non_trainable_params(self) -> int:
        return sum(s.non_trainable_params for s in self.layers)

    @property
    def total_params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @functools.cached_property
    def macs(self) -> int:
        return sum(s.macs for s in self.layers)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @functools.cached_property
    def other_ops(self) -> int:
        return sum(s.other_ops for s in self.layers)

    @functools.cached_property
    def activation_elements(self) -> int:
        """Values produced by one forward pass of one example, the input included."""
        return math.prod(self.graph.input_shape) + sum(s.elements for s in self.layers)

    def activation_bytes(self, dtype: str = "float32") -> int:
        return self.activation_elements * DTYPE_BYTES[dtype]

    def param_bytes(self, dtype: str = "float32") -> int:
        return self.total_params * DTYPE_BYTES[dtype]

    @property
    def output_shapes(self) -> list[Shape]:
        return [self[name].shape for name in self.graph.outputs]

    def training_memory(self, batch_size: int, optimizer: str = "adam", dtype: str = "float32") -> dict[str, int]:
        """Estimated bytes to train on one batch: activations kept for backprop, weights,
        their gradients and the optimizer's state (Adam keeps two slots per weight)."""
        size = DTYPE_BYTES[dtype]
        weights_size = 4  # mixed precision keeps float32 master weights
        out = {
            "activations": batch_size * self.activation_elements * size,
            "weights": self.total_params * weights_size,
            "gradients": self.trainable_params * weights_size,
            "optimizer_state": self.trainable_params * weights_size * OPTIMIZER_SLOTS[optimizer],
        }
        out["total"] = sum(out.values())
        return out


# Graphs are immutable, so an analysis stays valid as long as its graph lives; expansion's
# size limits analyse the graph once and ``summary`` then reuses that work.
_ANALYSED: weakref.WeakKeyDictionary[Graph, Analysis] = weakref.WeakKeyDictionary()


def analyse(graph: Graph) -> Analysis:
    """Compute shapes, parameters, MACs and receptive fields of every layer (once per graph).

    Raises SpecError for a layer whose input shape it cannot take.

    >>> from archspec import expand
    >>> a = analyse(expand("archspec: 1\\ninput: [32, 32, 3]\\nlayers: [{conv: 16}, gap, {dense: 10}]"))
    >>> a.total_params, a["conv"].shape
    (618, (30, 30, 16))
    """
    cached = _ANALYSED.get(graph)
    if cached is None:
        cached = _ANALYSED[graph] = _analyse(graph)
    return cached


def _analyse(graph: Graph) -> Analysis:
    shapes: dict[str, Shape] = {graph.input_name: graph.input_shape}
    first_rf = RF((1, 1), (Fraction(1), Fraction(1))) if len(graph.input_shape) == 3 else None
    rfs: dict[str, RF | None] = {graph.input_name: first_rf}
    stats: list[LayerStats] = []
    problems: list[Problem] = []
    reg = registry()
    # Nodes that share their arguments object are copies of one layer (a block instance
    # stamped out again by the expander): on the same input shapes they infer the same.
    # The graph keeps every node, so no id here is reused while this runs.
    seen: dict[tuple[int, tuple[Shape, ...]], Info] = {}
    for node in graph.nodes:
        lt = reg.get(node.type)
        in_shapes = tuple(shapes[i] for i in node.inputs)
        info = seen.get((id(node.args), in_shapes))
        if info is None:
            try:
                info = seen[id(node.args), in_shapes] = lt.infer(node, in_shapes)
            except ShapeError as exc:
                problems.append(Problem(f"{node.name}: {exc}", node.location, node.path))
                break
        shapes[node.name] = info.shape
        rfs[node.name] = _receptive_field(
            lt.window_on(node, in_shapes, info.shape), [rfs[i] for i in node.inputs], info.shape
        )
        trainable, frozen = (
            (info.trainable, info.non_trainable) if node.trainable else (0, info.trainable + info.non_trainable)
        )
        stats.append(LayerStats(node, info.shape, trainable, frozen, info.macs, info.other_ops, rfs[node.name]))
    if problems:
        raise SpecError(problems)
    return Analysis(graph, tuple(stats), first_rf or RF((1, 1), (Fraction(1), Fraction(1))))


def _receptive_field(window: Any, inputs: Sequence[RF | None], shape: Shape) -> RF | None:
    known = [r for r in inputs if r is not None]
    if len(shape) != 3 or not known:
        return None
    if window is None and len(known) == 1:  # most layers: batch norm, activations, ...
        return known[0]
    size = (max(r.size[0] for r in known), max(r.size[1] for r in known))
    jump = (max(r.jump[0] for r in known), max(r.jump[1] for r in known))
    if window is None:
        return RF(size, jump)
    span = [window.dilation[i] * (window.kernel[i] - 1) + 1 for i in range(2)]
    strides = window.strides
    return RF(
        (math.ceil(size[0] + (span[0] - 1) * jump[0]), math.ceil(size[1] + (span[1] - 1) * jump[1])),
        (jump[0] * Fraction(strides[0]), jump[1] * Fraction(strides[1])),
    )
