"""Plan objects for the trainer: one frozen :class:`Stage` per ``fine_tune:`` stage.

The trainer (``archspec train``) runs the stages one after another::

    from archspec import build, expand
    from archspec.transfer import plan

    graph = expand("specs/transfer/vgg16_finetune.yaml")
    model = build(graph)                      # built in stage 1's state
    for stage in plan(graph).stages:
        stage.apply(model)                    # set every layer's `trainable` flag
        model.compile(optimizer=stage.optimizer.build(), loss=..., metrics=...)   # MUST recompile
        model.fit(..., epochs=stage.epochs)

Changing ``layer.trainable`` only takes effect when the model is compiled again (Keras'
transfer-learning guide), so :meth:`Stage.apply` must be followed by ``model.compile``.
``trainable_params``/``non_trainable_params`` are the static figures of the stage, the same
numbers Keras reports after :meth:`Stage.apply`. This module does not import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..analysis import DEFAULT_LR, analyse
from ..errors import UsageError
from ..ir import Graph
from .info import BaseInfo, transfer_info

#: Keras' default learning rates, used when a stage gives only the optimizer's name.


@dataclass(frozen=True)
class OptimizerConfig:
    """``optimizer: {name: sgd, lr: 0.001, momentum: 0.9, nesterov: false}`` or ``optimizer: rmsprop``."""

    name: str
    lr: float
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float | None = None

    @classmethod
    def from_spec(cls, raw: Any) -> OptimizerConfig:
        """Parse the spec form; raises ValueError for combinations Keras does not have."""
        raw = {"name": raw} if isinstance(raw, str) else dict(raw)
        name = raw["name"]
        if raw.get("nesterov") and name != "sgd":
            raise ValueError(f"`nesterov` is an option of sgd only; got optimizer {name!r}")
        if "momentum" in raw and name not in ("sgd", "rmsprop"):
            raise ValueError(f"`momentum` is an option of sgd and rmsprop; got optimizer {name!r}")
        return cls(
            name=name,
            lr=float(raw.get("lr", DEFAULT_LR[name])),
            momentum=float(raw.get("momentum", 0.0)),
            nesterov=bool(raw.get("nesterov", False)),
            weight_decay=raw.get("weight_decay"),
        )

    def build(self) -> Any:
        """A new Keras optimizer (imports Keras). Each compile needs a fresh one."""
        import keras

        extra = {"weight_decay": self.weight_decay} if self.weight_decay is not None else {}
        if self.name == "sgd":
            return keras.optimizers.SGD(self.lr, momentum=self.momentum, nesterov=self.nesterov, **extra)
        if self.name == "rmsprop":
            return keras.optimizers.RMSprop(self.lr, momentum=self.momentum, **extra)
        if self.name == "adamw":
            return keras.optimizers.AdamW(self.lr, **extra)
        return keras.optimizers.Adam(self.lr, **extra)

    def __str__(self) -> str:
        extra = f", momentum {self.momentum:g}" if self.momentum else ""
        extra += ", nesterov" if self.nesterov else ""
        return f"{self.name} lr {self.lr:g}{extra}"


@dataclass(frozen=True)
class Stage:
    """One stage of a fine-tuning plan: which layers train, with what, for how long."""

    index: int
    name: str
    epochs: int
    optimizer: OptimizerConfig
    callbacks: tuple[Any, ...]
    trainable: frozenset[str]  # names of the layers that train in this stage
    layers: tuple[str, ...]  # every layer the plan governs, in graph order
    trainable_params: int
    non_trainable_params: int

    @property
    def frozen(self) -> tuple[str, ...]:
        return tuple(n for n in self.layers if n not in self.trainable)

    def graph(self, graph: Graph) -> Graph:
        """The graph with this stage's trainable flags (for static analysis)."""
        return _with_flags(graph, self.trainable)

    def apply(self, model: Any) -> int:
        """Set ``layer.trainable`` on every layer of a built Keras model; returns how many changed.

        The model must be compiled again afterwards for the change to take effect.
        Raises UsageError if the model lacks a layer of the plan (built from another spec?).
        """
        by_name = {layer.name: layer for layer in model.layers}
        missing = [n for n in self.layers if n not in by_name]
        if missing:
            raise UsageError(f"stage {self.name!r}: the model has no layer(s) {', '.join(missing[:5])}")
        changed = 0
        for name in self.layers:
            want = name in self.trainable
            if by_name[name].trainable != want:
                by_name[name].trainable = want
                changed += 1
        return changed


@dataclass(frozen=True)
class Plan:
    """A spec's transfer-learning plan: its base (if any), preprocessing, and stages.

    ``stages`` is empty when the spec has no ``fine_tune:`` section.
    """

    base: BaseInfo | None
    stages: tuple[Stage, ...]
    input_shape: tuple[int, ...] = ()  # the images the model reads (for an opaque base, not graph.input_shape)

    @property
    def preprocess(self) -> str:
        """``none``, an imagenet_utils mode, or ``keras.applications.MODULE`` (see :mod:`.preprocess`)."""
        return self.base.preprocess if self.base else "none"

    def __iter__(self) -> Iterator[Stage]:
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)


def plan(graph: Graph) -> Plan:
    """The staged fine-tuning plan of an expanded graph (see the module docstring for use).

    >>> from archspec import expand
    >>> g = expand('''
    ... archspec: 1
    ... input: [8, 8, 1]
    ... layers: [{conv: 4, name: c}, flatten, {dense: 2, name: out}]
    ... fine_tune:
    ...   - {freeze: c, optimizer: rmsprop, epochs: 2}
    ...   - {unfreeze: all, optimizer: {name: sgd, lr: 0.001, momentum: 0.9}, epochs: 5}
    ... ''')
    >>> [(s.name, s.trainable_params, s.non_trainable_params) for s in plan(g)]
    [('stage1', 290, 40), ('stage2', 330, 0)]
    """
    info = transfer_info(graph)
    if info is None:
        return Plan(None, (), tuple(graph.input_shape))
    base = info.base
    opaque = base is not None and base.opaque
    layers = ((base.scope,) if opaque else ()) + tuple(n.name for n in graph.nodes)  # type: ignore[union-attr]
    stages = []
    for k, (name, trainable, raw) in enumerate(info.stages):
        t, nt = _counts(graph, trainable, base if opaque else None)
        stages.append(
            Stage(
                index=k,
                name=name,
                epochs=int(raw["epochs"]),
                optimizer=OptimizerConfig.from_spec(raw["optimizer"]),
                callbacks=tuple(raw.get("callbacks") or ()),
                trainable=trainable,
                layers=layers,
                trainable_params=t,
                non_trainable_params=nt,
            )
        )
    return Plan(base, tuple(stages), tuple(base.image_shape if opaque else graph.input_shape))  # type: ignore[union-attr]


def _counts(graph: Graph, trainable: frozenset[str], opaque: BaseInfo | None) -> tuple[int, int]:
    """Trainable and non-trainable parameters; an opaque base adds what Keras measured of it."""
    analysis = analyse(_with_flags(graph, trainable))
    t, nt = analysis.trainable_params, analysis.non_trainable_params
    if opaque is not None:
        bt, bnt = opaque.measured
        t, nt = (t + bt, nt + bnt) if opaque.scope in trainable else (t, nt + bt + bnt)
    return t, nt


def _with_flags(graph: Graph, trainable: frozenset[str]) -> Graph:
    nodes = tuple(
        n if n.trainable == (n.name in trainable) else replace(n, trainable=n.name in trainable) for n in graph
    )
    return replace(graph, nodes=nodes)


def check_optimizers(stages: Any) -> list[tuple[int, str]]:
    """(stage index, message) for every optimizer a stage cannot have."""
    out = []
    for k, (_, _, raw) in enumerate(stages):
        try:
            OptimizerConfig.from_spec(raw["optimizer"])
        except ValueError as exc:
            out.append((k, str(exc)))
    return out
