"""Regularization layers that change the network's topology in training: stochastic depth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Info, LayerType, ShapeError, register
from ._common import elements


@register
class StochasticDepth(LayerType):
    """Residual add with stochastic depth (Huang et al. 2016): ``shortcut + b * residual``.

    It takes two inputs, ``[shortcut, residual]``, and replaces the ``add`` of a residual
    unit. In training, ``b`` is 0 or 1/p per example (Bernoulli with survival probability
    ``p``), so the whole residual branch of that example is dropped with probability 1 - p
    and the expected output equals the plain sum. At inference it is exactly the plain sum.
    Keras has no such layer: archspec provides ``archspec.keras_layers.StochasticDepth``.
    """

    name = "stochastic_depth"
    aliases = ("drop_path",)
    keras_class = "StochasticDepth"
    custom = True
    multi_input = True
    primary = "survival"
    args = (
        Arg("survival", "float", 0.8, keras="survival", low=0.0, high=1.0,
            doc="Probability p_l that the residual branch is kept in training (1.0: a plain add)."),
        Arg("seed", "int", None, keras="seed", nullable=True, doc="Seed of the per-example Bernoulli draws."),
    )  # fmt: skip

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        if args["survival"] <= 0.0:
            raise ValueError(
                "`survival` must be > 0 (a branch that is always dropped never trains and cannot be rescaled). "
                f"Received: survival={args['survival']!r}"
            )
        return dict(args)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        if len(inputs) != 2:
            raise ShapeError(f"stochastic_depth takes exactly two inputs, [shortcut, residual]; got {len(inputs)}")
        shortcut, residual = inputs
        if shortcut != residual:
            raise ShapeError(
                f"stochastic_depth needs [shortcut, residual] of one shape; {node.inputs[0]!r} is {list(shortcut)} "
                f"but {node.inputs[1]!r} is {list(residual)}"
            )
        return Info(shortcut, other_ops=elements(shortcut))  # inference: one add, as `add`
