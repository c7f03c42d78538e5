"""Stage 2b+3: semantic checks and expansion into the :class:`~archspec.ir.Graph`.

Patterns, stages, ``repeat``, user blocks, built-in blocks and ``defaults`` all become
primitive layer nodes with complete, validated arguments and unique names. Shapes are
tracked as nodes are made, because built-in blocks choose their layers from the shape they
receive (a projection shortcut only when channels or stride change). Every problem is
collected with its location; the caller gets them all at once.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import budget, extensions
from .blocks import BlockType, block_type, canonical_block_keys
from .errors import Location, Problem, SpecError, SpecPath, did_you_mean
from .expressions import ExpressionError, TensorShape, substitute, typed_key
from .ir import Graph, Node, Scope, Shape, freeze
from .limits import MAX_INPUT_DIM, MAX_LAYERS, MAX_REPEAT
from .loader import Document, load
from .registry import REQUIRED, LayerType, ShapeError, registry
from .schema import COMMON_KEYS
from .schema import check as schema_check

_STAGE_CONV_DEFAULTS = {"kernel": 3, "padding": "same", "activation": "relu"}


class _Abort(Exception):
    """Stop expanding: too many problems or a limit was hit."""


@dataclass
class _Ctx:
    """Where the walker is: variables in scope, the block instance, the previous tensor."""

    env: dict[str, Any]
    prefix: str = ""
    scope: tuple[str, ...] = ()
    local: dict[str, str] = field(default_factory=dict)
    input_name: str = "input"
    prev: str = "input"
    trainable: bool = True
    # A layer removed by `when` whose `inputs:` rewired the chain: (its name, what it read).
    removed: tuple[str, tuple[str, ...]] | None = None
    # Local names a built-in block claims in the enclosing scope (Keras' model-wide `add_3`).
    global_names: frozenset[str] = frozenset()
    outer_prefix: str = ""
    # A block with `name_output`: (the local name of its output layer, the instance's name).
    output_as: tuple[str, str] | None = None


class _Global(str):
    """A layer name used as is inside a block instance, not prefixed by the instance's name:
    an automatic Keras-style name (``naming: keras``), or an output named by its instance."""

    __slots__ = ()


@dataclass(frozen=True)
class _Template:
    """The nodes one built-in block instance made, for :meth:`Expander.stamp`."""

    prefix: str  # the instance's name prefix ("conv2_block1_")
    path: SpecPath  # the instance's place in the spec
    inputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    shapes: tuple[Shape, ...]
    out: int  # index of the output node


class Expander:
    def __init__(self, doc: Document, overrides: Mapping[str, Any] | None = None):
        self.doc = doc
        self.spec: dict[str, Any] = doc.data
        self.reg = registry()
        self.block_keys = canonical_block_keys()
        self.problems: list[Problem] = []
        self.nodes: list[Node] = []
        self.names: dict[str, Location] = {}
        self.shapes: dict[str, Shape | None] = {}
        self.scopes: dict[str, Scope] = {}
        self.counters: dict[str, int] = {}
        self.user_blocks: dict[str, Any] = self.spec.get("blocks") or {}
        # Every key that names a layer's type (looked up for every item, so one set).
        self.type_names = frozenset((*self.reg.canonical, *self.user_blocks, *self.block_keys))
        self.overrides = dict(overrides or {})
        self.defaults: dict[str, dict[str, Any]] = {}
        # Items the expander generates (from stages, patterns) point back to what the user wrote.
        self.origins: dict[int, SpecPath] = {}
        self._aliases: dict[type, dict[str, str]] = {}
        self._defaults: dict[type, dict[str, Any]] = {}
        self._arguments: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._templates: dict[tuple[Any, ...], _Template] = {}
        self.where: list[str] = []  # the repeat iterations and block instance being walked
        self._reported: dict[tuple[Any, ...], int] = {}  # (message, place) -> index in problems
        self._instances: dict[int, dict[str, None]] = {}  # problem -> the places it was met, in order
        self.failed_vars: set[str] = set()
        self.failures = 0
        self.above: Any = None  # the item before the one being walked
        self._dynamic_defaults = False
        self.depth = 0  # repeats and block instances being walked, one inside the other
        self.variable_names = {*(self.spec.get("vars") or {}), *self.overrides}
        # naming: keras names a layer without `name:` as Keras does (conv2d, conv2d_1, ...)
        self.keras_names = self.spec.get("naming") == "keras"

    # -- reporting ---------------------------------------------------------------------------
    def fail(self, message: str, path: SpecPath, at_key: bool = False) -> None:
        self.failures += 1  # counts repeats of a problem too (reported once): a template must be clean
        if path[:1] == ("pattern",):  # an item the pattern made has no place but the pattern string
            path = ("pattern",)
        problem = self.doc.problem(message, path, at_key)
        # A mistake written once is reported once, where it is written, however many repeat
        # iterations, block instances or pattern positions met it: the note names them.
        key = (message, problem.location, problem.path)
        first = self._reported.get(key)
        if first is not None:
            self._instances[first][", ".join(self.where)] = None
            self.problems[first] = replace(problem, message=message + _instances_note(self._instances[first]))
            return
        self._reported[key] = len(self.problems)
        self._instances[len(self.problems)] = {", ".join(self.where): None}
        self.problems.append(problem)
        if len(self.problems) >= 200:
            raise _Abort

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> Graph:
        """The expanded graph, within the work budget (:mod:`archspec.budget`); SpecError if not."""
        with budget.bounded():
            try:
                return self._run()
            except budget.WorkExceeded as exc:  # placed by the innermost stage that knew where
                problem = exc.problem if isinstance(exc.problem, Problem) else None
                raise SpecError([*self.problems, problem or self.doc.problem(budget.message(), ())]) from None

    def _run(self) -> Graph:
        env = self.variables()
        name = self.model_name(env)
        input_name, input_shape = self.input(env)
        self.shapes[input_name] = input_shape
        self.input_shape = input_shape  # a pattern's implicit flatten depends on its rank
        self.names[input_name] = self.doc.locate(("input",))
        self.check_user_blocks()
        items, base = self.body(env)
        self.defaults = self.collect_defaults()
        try:  # defaults with ${...} differ between block instances: then none is stamped out
            typed_key(self.defaults)
        except TypeError:
            self._dynamic_defaults = True
        shape_env = {"input": TensorShape(input_shape), **env}  # ${input.channels}: the model input's, outside blocks
        ctx = _Ctx(
            shape_env, input_name=input_name, prev=input_name, local={input_name: input_name, "input": input_name}
        )
        # sections of higher layers (transfer's `base:`): a base network's nodes come first
        begun = [(ext, ext.begin(self, ctx) if ext.begin else None) for ext in extensions.active(self.spec)]
        prelude, body_input = tuple(n.name for n in self.nodes), ctx.prev
        if items is not None:
            try:
                self.walk(items, base, ctx)
            except _Abort:
                pass
        outputs = self.outputs(ctx)
        if self.problems:
            raise SpecError(self.problems)
        if not self.nodes:
            raise SpecError([self.doc.problem("the spec has no layers", ())])
        graph = Graph(
            name=name,
            input_shape=input_shape,
            nodes=tuple(self.nodes),
            outputs=outputs,
            input_name=input_name,
            description=str(self.spec.get("description") or ""),
            file=self.doc.file,
            scopes=freeze(self.scopes),
            sections=freeze({k: v for k, v in self.spec.items() if k not in _CORE_KEYS}),
            classes=env.get("classes"),
            output_names=freeze(_output_names(self.spec.get("outputs"), outputs)),
            prelude=prelude,
            body_input=body_input,
        )
        for ext, state in begun:  # e.g. transfer's freeze selectors and fine-tuning stages
            graph = ext.finish(self.doc, graph, state) if ext.finish else graph
        return graph

    def model_name(self, env: Mapping[str, Any]) -> str:
        """The top-level ``name``, which may be an expression (``densenet${depth}``)."""
        raw = self.spec.get("name")
        name = self.value(raw, env, ("name",)) if raw is not None else "model"
        if name is not _MISSING_SENTINEL and (not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name)):
            self.fail(f"the model name must be letters, digits, _, . and - only; got {name!r}", ("name",))
        return name if isinstance(name, str) else "model"  # a mistake is reported with the others

    def variables(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        if "classes" in self.spec:  # --set classes=N wins over the spec's own, like any override
            env["classes"] = self.overrides.get("classes", self.spec["classes"])
        # An override takes the variable's place in order, so later vars computed from it
        # (``depth: ${1.2 ** phi}``) follow it: that is how a variant scales a whole spec.
        for key, value in (self.spec.get("vars") or {}).items():
            if key in self.overrides:
                env[key] = self.overrides[key]
                continue
            try:  # a list or mapping of expressions is evaluated element by element
                env[key] = _deep_substitute(value, env)
            except ExpressionError as exc:
                if not self.follows_failed_var(value):
                    self.fail(str(exc), ("vars", key, *_failing_part(value, env)))
                self.failed_vars.add(key)
            except budget.WorkExceeded as exc:
                exc.problem = exc.problem or self.doc.problem(budget.message(), ("vars", key))
                raise
        for key, value in self.overrides.items():
            env.setdefault(key, value)
        return env

    def input(self, env: dict[str, Any]) -> tuple[str, Shape]:
        raw = self.spec["input"]
        path: SpecPath = ("input",)
        name = "input"
        if isinstance(raw, dict):
            name = raw.get("name", "input")
            raw, path = raw["shape"], ("input", "shape")
        dims: list[int] = []
        for i, d in enumerate(raw):
            value = self.value(d, env, (*path, i))
            if value is _MISSING_SENTINEL:  # reported already
                value = 1
            elif not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_INPUT_DIM:
                self.fail(f"input dimensions must be integers from 1 to {MAX_INPUT_DIM}; got {value!r}", (*path, i))
                value = 1
            dims.append(value)
        return name, tuple(dims)

    def body(self, env: dict[str, Any]) -> tuple[list[Any] | None, SpecPath]:
        forms = [k for k in ("pattern", "stages", "layers") if k in self.spec]
        if len(forms) != 1:
            msg = "the spec needs exactly one of `pattern`, `stages` or `layers`"
            self.fail(msg + (f"; it has {', '.join(forms)}" if forms else ""), ())
            return None, ()
        form = forms[0]
        if form == "layers":
            return self.spec["layers"], ("layers",)
        items = self.stage_items(env) if form == "stages" else self.pattern_items()
        return items, (form,)

    def collect_defaults(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if "stages" in self.spec:
            out["conv"] = dict(_STAGE_CONV_DEFAULTS)
        for key, args in (self.spec.get("defaults") or {}).items():
            canon = self.reg.resolve(key)
            aliases = self.alias_map(self.reg.get(canon))
            for arg in args:
                if arg not in aliases:
                    self.fail(
                        f"{key} has no argument {arg!r}.{did_you_mean(arg, aliases)}",
                        ("defaults", key, arg),
                        at_key=True,
                    )
            out.setdefault(canon, {}).update({aliases.get(a, a): v for a, v in args.items()})
        return out

    # -- the three forms ---------------------------------------------------------------------
    def pattern_items(self) -> list[Any] | None:
        from . import pattern as pattern_mod  # here: only pattern specs need it, and start-up counts

        try:
            tree = pattern_mod.parse(self.spec["pattern"])
            tokens = self.spec.get("tokens") or {}
            made: dict[int, str] = {}
            items = pattern_mod.to_items(tree, tokens, flat_input=len(self.input_shape) == 1, origins=made)
            # an item made from a token is reported at the token's definition, not at `pattern:`
            self.origins.update({key: ("tokens", name) for key, name in made.items()})
            return items
        except pattern_mod.PatternError as exc:
            self.fail(str(exc), ("pattern",))  # printed after the path "pattern:"
            return None
        except budget.WorkExceeded as exc:
            exc.problem = exc.problem or self.doc.problem(budget.message(), ("pattern",))
            raise

    def stage_items(self, env: Mapping[str, Any]) -> list[Any]:
        items: list[Any] = []
        for s, stage in enumerate(self.spec["stages"], 1):
            made: list[Any] = []
            count = self.value(stage.get("n", 1), env, ("stages", s - 1, "n"))  # n may be "${N}"
            if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REPEAT:
                if count is not _MISSING_SENTINEL:
                    self.fail(
                        f"`n` must be a whole number from 0 to {MAX_REPEAT}; got {count!r}", ("stages", s - 1, "n")
                    )
                count = 0
            for i in range(1, count + 1):
                made.extend(self.stage_conv(stage, s, i, count))
            if stage.get("pool", "max"):
                kind = "maxpool" if stage.get("pool", "max") == "max" else "avgpool"
                made.append({kind: stage.get("pool_size", 2), "name": f"block{s}_pool"})
            if stage.get("dropout"):
                made.append({"dropout": stage["dropout"], "name": f"block{s}_dropout"})
            self.origins.update({id(item): ("stages", s - 1) for item in made})
            items += made
        head = self.classifier_items()
        self.origins.update({id(item): ("classifier",) for item in head})
        return items + head

    @staticmethod
    def stage_conv(stage: Mapping[str, Any], s: int, i: int, count: int) -> list[Any]:
        conv: dict[str, Any] = {"conv": stage["conv"], "name": f"block{s}_conv{i}"}
        if "kernel" in stage:
            conv["kernel"] = stage["kernel"]
        if i == count and "last_kernel" in stage:
            conv["kernel"] = stage["last_kernel"]
        out: list[Any] = [conv]
        if stage.get("bn"):
            conv["activation"] = None
            out += [{"bn": None, "name": f"block{s}_bn{i}"}, {"relu": None, "name": f"block{s}_relu{i}"}]
        if i == 1 and stage.get("lrn"):
            out.append({"lrn": None, "name": f"block{s}_lrn"})
        return out

    def classifier_items(self) -> list[Any]:
        cls = self.spec.get("classifier")
        if cls is None:
            return []
        pooling = cls.get("pooling", "flatten")
        items: list[Any] = [
            {pooling: None, "name": {"flatten": "flatten", "gap": "avg_pool", "gmp": "max_pool"}[pooling]}
        ]
        for k, units in enumerate(cls.get("fc", []), 1):
            items.append({"dense": units, "activation": cls.get("activation", "relu"), "name": f"fc{k}"})
            if cls.get("dropout"):
                items.append({"dropout": cls["dropout"], "name": f"fc{k}_dropout"})
        if "out" in cls:
            items.append(
                {"dense": cls["out"], "activation": cls.get("out_activation", "softmax"), "name": "predictions"}
            )
        if "when" in cls:  # e.g. when: ${top}, for Keras' include_top=False as a variant
            items = [{**item, "when": cls["when"]} for item in items]
        return items

    # -- walking layer items -----------------------------------------------------------------
    def walk(self, items: list[Any], path: SpecPath, ctx: _Ctx) -> None:
        if self.depth > budget.MAX_NESTING:  # each level is a few Python frames; the top is level 0
            self.fail(f"repeats and blocks nest more than {budget.MAX_NESTING} levels deep here", path)
            raise _Abort
        self.depth += 1
        for k, item in enumerate(items):
            where = self.origins.get(id(item), (*path, k))
            self.above = items[k - 1] if k else None  # for a stray argument's message
            try:
                budget.spend()
                self.item(item, where, ctx)
            except budget.WorkExceeded as exc:
                exc.problem = exc.problem or self.doc.problem(budget.message(), where)
                raise
        self.depth -= 1

    def item(self, item: Any, path: SpecPath, ctx: _Ctx) -> None:
        if isinstance(item, str):
            item = {item: None}
        if not isinstance(item, dict) or not item:
            self.fail(f"a layer must be a name or a mapping; got {item!r}", path)
            return
        if "when" in item and not self.condition(item["when"], ctx, (*path, "when")):
            self.removed_wiring(item, ctx)
            return
        if "repeat" in item:
            self.repeat(item, path, ctx)
            return
        if "layers" in item and not any(k in self.type_names for k in item):
            self.walk(item["layers"] or [], (*path, "layers"), ctx)  # a group: its layers in line
            return
        key = self.type_key(item, path)
        if key is None:
            return
        if key in self.user_blocks:
            self.user_block(key, item, path, ctx)
        elif key in self.block_keys:
            self.builtin_block(key, block_type(key), item, path, ctx)  # type: ignore[arg-type]
        else:
            self.layer(key, item, path, ctx)

    def condition(self, value: Any, ctx: _Ctx, path: SpecPath) -> bool:
        result = self.value(value, ctx.env, path)
        if result is _MISSING_SENTINEL:  # reported already
            return False
        if not isinstance(result, bool):
            self.fail(f"`when` must be true or false; got {result!r}", path)
            return False
        return result

    def type_key(self, item: dict[str, Any], path: SpecPath) -> str | None:
        keys = [k for k in item if k in self.type_names]
        if len(keys) > 1:  # a type name can also be an argument of the item's type: {fc_head: 256, dropout: 0.3}
            keys = [k for k in keys if not any(k in self.arg_names(other) for other in keys if other != k)]
        if len(keys) == 1:
            return keys[0]
        if len(keys) > 1:
            self.fail(f"a layer has exactly one type; this one names {', '.join(map(repr, keys))}", path)
            return None
        if self.reg.load_plugins():  # a type no built-in has: an installed package may add it
            self.type_names = frozenset((*self.reg.canonical, *self.user_blocks, *self.block_keys))
            return self.type_key(item, path)
        first = next(iter(item))
        hint = _plugin_hint(first, self.unknown_type_hint)
        self.fail(f"unknown layer type {first!r}.{hint}", (*path, first), at_key=True)
        return None

    def unknown_type_hint(self, word: str) -> str:
        """A stray argument (``- kernel: 3`` under ``- conv: 16``) is said to be one: the nearest
        type name ('relu') would send the user the wrong way."""
        above = {self.above: None} if isinstance(self.above, str) else self.above  # a bare name: {conv: None}
        owner = next((k for k in above if k in self.type_names), None) if isinstance(above, dict) else None
        if owner is not None and word in self.arg_names(owner):
            return (
                f" It looks like an argument of the layer above ({owner}): write it in that layer's item, "
                f"e.g. {{{owner}: ..., {word}: ...}} on one line, or indented under it"
            )
        if any(word in self.alias_map(lt) for lt in self.reg.types.values()):
            return f" {word!r} is an argument of some layer types, not a type: write it in the item of its layer"
        # an alias close in spelling may mean something else ('norm' is local response norm): say what
        return re.sub(r"'(\w+)'", lambda m: self.type_meaning(m.group(1)), did_you_mean(word, self.type_names))

    def type_meaning(self, name: str) -> str:
        """``'norm'`` -> ``'norm' (an alias of lrn: Local response normalization ...)``; a type as is."""
        canon = self.reg.resolve(name) if name in self.reg else name
        if canon.replace("_", "") in name.replace("_", ""):  # conv2d, max_pool: plainly what they are
            return repr(name)
        summary = re.split(r"\s*[(:`.]", (type(self.reg.get(canon)).__doc__ or "").strip(), maxsplit=1)[0]
        return f"{name!r} (an alias of {canon}{': ' + summary if summary else ''})"

    def arg_names(self, key: str) -> Any:
        """The argument names (and aliases) of a layer type, built-in block or user block."""
        if key in self.user_blocks:
            return self.user_blocks[key].get("params") or {}
        return self.alias_map(block_type(key) if key in self.block_keys else self.reg.get(key))  # type: ignore[arg-type]

    def repeat(self, item: dict[str, Any], path: SpecPath, ctx: _Ctx) -> None:
        count = self.value(item["repeat"], ctx.env, (*path, "repeat"))
        if count is _MISSING_SENTINEL:
            return  # the expression's own error is reported
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            self.fail(f"`repeat` must be a whole number >= 0; got {count!r}", (*path, "repeat"))
            return
        if count > MAX_REPEAT:
            self.fail(f"`repeat` of {count} is above the limit of {MAX_REPEAT}", (*path, "repeat"))
            return
        var = item.get("as")
        for i in range(count):
            budget.spend(4 + len(ctx.env) if var else 4)  # an iteration (context copy, walk) costs ~4 item steps
            env = {**ctx.env, var: i} if var else ctx.env
            sub = replace(ctx, env=env)
            self.where.append(f"{var}={i}" if var else f"repetition {i + 1}")
            try:
                self.walk(item.get("layers") or [], (*path, "layers"), sub)
            finally:
                self.where.pop()
            ctx.prev, ctx.removed = sub.prev, sub.removed

    # -- names and inputs --------------------------------------------------------------------
    def local_name(
        self, item: dict[str, Any], kind: str, ctx: _Ctx, path: SpecPath, args: Mapping[str, Any] | None = None
    ) -> str | None:
        """The item's name in its block instance: its ``name:``, else an automatic one (``args``:
        a layer's checked arguments, which choose its Keras class for ``naming: keras``)."""
        if "name" in item:
            name = self.value(item["name"], ctx.env, (*path, "name"))
            if name is _MISSING_SENTINEL:  # reported already
                return None
            if not isinstance(name, str) or not name or "${" in name:
                self.fail(f"a layer name must be a non-empty string; got {name!r}", (*path, "name"))
                return None
            # Keras refuses '/'; names end up in tables and files. A leading '/' says "as is, not
            # prefixed by the block instance" (Keras names some layers of a module by the model: mixed9_0)
            absolute = name.startswith("/") and len(name) > 1
            if "/" in name[absolute:] or not name.isprintable():
                message = "a layer name must be printable text without '/' (except a leading one); got"
                self.fail(f"{message} {name!r}", (*path, "name"))
                return None
            return _Global(name[1:]) if absolute else name
        keras = self.keras_names and kind in self.reg  # Keras counts a class's names over the whole model
        counter = _keras_auto_name(self.reg.get(kind), kind, args) if keras else ctx.prefix + kind
        n = self.counters.get(counter, 0)
        self.counters[counter] = n + 1
        name = counter if keras else kind
        name = name if n == 0 else f"{name}_{n}"
        return _Global(name) if keras else name

    def full_name(self, local: str, ctx: _Ctx) -> str:
        """A layer's name in the model: its local name in its block instance's."""
        if isinstance(local, _Global):
            return str(local)
        if ctx.output_as is not None and local == ctx.output_as[0]:
            return ctx.output_as[1]
        return (ctx.outer_prefix if local in ctx.global_names else ctx.prefix) + local

    def claim(self, local: str, ctx: _Ctx, path: SpecPath, location: Location) -> str | None:
        full = self.full_name(local, ctx)
        budget.spend(len(full) >> 6)  # every layer keeps (and prints) its name: long ones are work too
        if full in self.names:
            first = self.names[full]
            self.fail(f"duplicate layer name {full!r} (first used at line {first.line})", (*path, "name"))
            return None
        if len(self.names) > MAX_LAYERS:
            self.fail(f"the spec expands to more than {MAX_LAYERS} layers", path)
            raise _Abort
        self.names[full] = location
        ctx.local[local] = full
        return full

    def removed_wiring(self, item: dict[str, Any], ctx: _Ctx) -> None:
        """Remember a removed layer whose ``inputs:`` branched off ``prev``: the wiring it wrote
        goes with it, and the next layer that reads implicitly would silently read another tensor."""
        refs = item.get("inputs")
        if refs is None:
            return
        try:
            names = [_deep_substitute(r, ctx.env) for r in (refs if isinstance(refs, list) else [refs])]
        except ExpressionError:
            return  # the removed layer's own mistakes are not checked (it is not there)
        read = tuple(ctx.local.get(n, str(n)) if isinstance(n, str) else str(n) for n in names)
        if read != (ctx.prev,):
            ctx.removed = (_label(item, ctx.env), read)

    def inputs(self, item: dict[str, Any], ctx: _Ctx, path: SpecPath) -> tuple[str, ...] | None:
        removed, ctx.removed = ctx.removed, None  # only the next layer's wiring is in question
        if "inputs" not in item:
            if removed is not None:
                this = _label(item, ctx.env)
                self.fail(
                    f"{this!r} would read {ctx.prev!r}: the layer before it, {removed[0]!r}, is removed by `when` "
                    f"and its `inputs: {', '.join(removed[1])}` with it; give {this!r} `inputs:` to say which it reads",
                    path,
                )
            return (ctx.prev,)
        raw = item["inputs"]
        refs = raw if isinstance(raw, list) else [raw]
        budget.spend(len(refs))  # a concat of 10,000 inputs, repeated, is work without layers
        out: list[str] = []
        for k, ref in enumerate(refs):
            ref_path = (*path, "inputs", k) if isinstance(raw, list) else (*path, "inputs")
            name = self.value(ref, ctx.env, ref_path)
            if name is _MISSING_SENTINEL:  # reported already
                return None
            resolved = ctx.local.get(name) if isinstance(name, str) else None
            if resolved is None:
                where = "in this block" if ctx.prefix else "before this layer"
                self.fail(
                    f"unknown input {name!r}: no layer of that name {where}.{did_you_mean(str(name), ctx.local)}",
                    ref_path,
                )
                return None
            out.append(resolved)
        return tuple(out)

    # -- primitive layers --------------------------------------------------------------------
    def layer(self, key: str, item: dict[str, Any], path: SpecPath, ctx: _Ctx) -> None:
        canon = self.reg.resolve(key)
        lt = self.reg.get(canon)
        args = self.cached_arguments(lt, key, item, path, ctx, self.defaults.get(canon, {}))
        local = self.local_name(item, canon, ctx, path, args)
        inputs = self.inputs(item, ctx, path)
        if args is None or local is None or inputs is None:
            self.poison(local, ctx, path)
            return
        if len(inputs) > 1 and not lt.multi_input:
            self.fail(f"{key} takes one input; got {len(inputs)}", (*path, "inputs"))
            return
        location = self.doc.locate(path)
        full = self.claim(local, ctx, path, location)
        if full is None:
            return
        trainable = item.get("trainable", True) and ctx.trainable
        node = Node(full, canon, freeze(args), inputs, ctx.scope, location, path, trainable=trainable)
        self.add(node, lt, path)
        ctx.prev = full

    def poison(self, local: str | None, ctx: _Ctx, path: SpecPath) -> None:
        """A layer that failed (reported) still names a tensor, of unknown shape: its readers are
        not told again that no layer has its name, nor checked against the tensor before it."""
        if local is None or self.full_name(local, ctx) in self.names:
            return  # nameless, or a duplicate: nothing for a reader to find
        full = self.claim(local, ctx, path, self.doc.locate(path))
        if full is not None:
            self.shapes[full] = None
            ctx.prev = full

    def add(self, node: Node, lt: LayerType, path: SpecPath) -> None:
        self.nodes.append(node)
        in_shapes = [self.shapes.get(i) for i in node.inputs]
        if any(s is None for s in in_shapes):
            self.shapes[node.name] = None
            return
        try:
            self.shapes[node.name] = lt.infer(node, in_shapes)  # type: ignore[arg-type]
        except ShapeError as exc:
            self.shapes[node.name] = None
            self.fail(f"{node.name}: {exc}", path)
        else:
            self.shapes[node.name] = self.shapes[node.name].shape  # type: ignore[union-attr]

    def cached_arguments(
        self,
        lt: LayerType | BlockType,
        key: str,
        item: dict[str, Any],
        path: SpecPath,
        ctx: _Ctx,
        defaults: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """:meth:`arguments`, reused for items that mean the same wherever they stand.

        An item without ``${...}`` (nor spec defaults with one) has the same checked
        arguments everywhere, and a deep net repeats a few dozen such items thousands of
        times (a ResNet's units are the same conv, bn and relu items over and over).
        Problems are never cached, so each bad item is reported at its own place.
        """
        try:
            given = {k: v for k, v in item.items() if k not in COMMON_KEYS}
            cache_key = (key, typed_key(defaults), typed_key(given))
            hit = self._arguments.get(cache_key)
        except TypeError:  # refers to variables (``${...}``), or holds something unhashable
            return self.arguments(lt, key, item, path, ctx, defaults)
        if hit is None:
            hit = self.arguments(lt, key, item, path, ctx, defaults)
            if hit is None:
                return None
            self._arguments[cache_key] = hit
        return dict(hit)  # a copy: the cached arguments must outlive whatever the caller does

    def arguments(
        self,
        lt: LayerType | BlockType,
        key: str,
        item: dict[str, Any],
        path: SpecPath,
        ctx: _Ctx,
        defaults: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        aliases = self.alias_map(lt)
        raw: dict[str, tuple[Any, SpecPath]] = {}
        ok = True
        for name, value in defaults.items():
            raw[name] = (value, ("defaults", key))
        head = item[key]
        sources: list[tuple[str, Any, SpecPath]] = []
        if isinstance(head, dict):
            sources += [(k, v, (*path, key, k)) for k, v in head.items()]
        elif head is not None:
            if lt.primary is None:
                self.fail(f"{key} takes no main argument; got {head!r}", (*path, key))
                return None
            sources.append((lt.primary, head, (*path, key)))
        sources += [(k, v, (*path, k)) for k, v in item.items() if k != key and k not in COMMON_KEYS]
        seen: set[str] = set()
        for name, value, where in sources:
            canon = aliases.get(name)
            if canon is None:
                self.fail(f"{key} has no argument {name!r}.{did_you_mean(name, aliases)}", where, at_key=True)
                ok = False
                continue
            if canon in seen:
                self.fail(f"argument {canon!r} of {key} is given twice", where)
                ok = False
            seen.add(canon)
            raw[canon] = (value, where)
        out: dict[str, Any] = {}
        checked_defaults = self.checked_defaults(lt)
        for arg in lt.args:
            if arg.name not in raw and arg.name in checked_defaults:  # the common case: nothing to resolve
                out[arg.name] = checked_defaults[arg.name]
                continue
            value, where = raw.get(arg.name, (arg.default, path))
            value = self.value(value, ctx.env, where)
            if value is _MISSING_SENTINEL:
                ok = False
                continue
            if value is REQUIRED:
                self.fail(f"{key} needs `{arg.name}`", (*path, key))
                ok = False
                continue
            try:
                out[arg.name] = arg.check(value)
            except ValueError as exc:
                self.fail(str(exc), where)
                ok = False
        if not ok:
            return None
        try:
            return lt.check_args(out)
        except ValueError as exc:
            self.fail(f"{key}: {exc}", path)
            return None

    def alias_map(self, lt: LayerType | BlockType) -> dict[str, str]:
        """``lt.alias_map()``, computed once per type (it is asked for every layer)."""
        aliases = self._aliases.get(type(lt))
        if aliases is None:
            aliases = self._aliases[type(lt)] = lt.alias_map()
        return aliases

    def checked_defaults(self, lt: LayerType | BlockType) -> dict[str, Any]:
        """The registry's defaults of a type, checked once: most arguments of most layers are
        left at their default, and checking them anew for each of thousands of layers is the
        bulk of expanding a deep net."""
        out = self._defaults.get(type(lt))
        if out is None:
            out = self._defaults[type(lt)] = {}
            for arg in lt.args:
                if arg.default is REQUIRED or (isinstance(arg.default, str | list) and "${" in str(arg.default)):
                    continue
                try:
                    out[arg.name] = arg.check(arg.default)
                except ValueError:  # reported, where it is used, by the general path
                    pass
        return out

    def value(self, value: Any, env: Mapping[str, Any], path: SpecPath) -> Any:
        # Hot path: numbers, booleans, None and plain names have nothing to resolve.
        if not isinstance(value, str | list) or (type(value) is str and "${" not in value):
            return value
        try:
            return _deep_substitute(value, env)
        except ExpressionError as exc:
            if not self.follows_failed_var(value):
                self.fail(f"in {value!r}: {exc}{_classes_advice(value, env, path)}", path)
            return _MISSING_SENTINEL

    def follows_failed_var(self, value: Any) -> bool:
        """An expression naming a variable whose own definition failed (reported there)."""
        return any(re.search(rf"\b{re.escape(name)}\b", str(value)) for name in self.failed_vars)

    # -- blocks ------------------------------------------------------------------------------
    def user_block(self, key: str, item: dict[str, Any], path: SpecPath, ctx: _Ctx) -> None:
        block = self.user_blocks[key]
        params = block.get("params") or {}
        # `input` (and input0, input1, ...) is the shape the block receives: ${input.channels}
        shapes, unknown = self.input_shapes(item, ctx)
        # a variable of the spec named `input` keeps its meaning (it did before shapes were readable)
        shapes = {k: v for k, v in shapes.items() if k not in self.variable_names}
        failed, self.failed_vars = self.failed_vars, self.failed_vars | unknown  # reported where it failed
        try:
            args = self.block_args(key, params, item, path, ctx, shapes)
            if args is not None:
                args = self.let_values(key, block.get("let") or {}, {**shapes, **args}, ctx)
            layers, body = block.get("layers") or [], ("blocks", key, "layers")
            named = bool(block.get("name_output"))
            self.instance(key, item, path, ctx, args, layers, body, block.get("output"), name_output=named)
        finally:
            self.failed_vars = failed

    def input_shapes(self, item: dict[str, Any], ctx: _Ctx) -> tuple[dict[str, TensorShape], set[str]]:
        """The shapes of a block instance's inputs, by the names its expressions use, and the
        names of those whose shape is unknown (a mistake before it, reported there)."""
        refs = item.get("inputs")
        names = [None] if refs is None else refs if isinstance(refs, list) else [refs]
        out: dict[str, TensorShape] = {}
        unknown: set[str] = set()
        for k, ref in enumerate(names):
            try:
                name = ctx.prev if ref is None else _deep_substitute(ref, ctx.env)
            except ExpressionError:
                continue  # reported where the instance's inputs are resolved
            full = name if ref is None else ctx.local.get(name) if isinstance(name, str) else None
            shape = self.shapes.get(full) if full else None
            if shape:
                out[f"input{k}"] = TensorShape(shape)
            else:
                unknown.add(f"input{k}")
        if "input0" in out:
            out["input"] = out["input0"]
        elif "input0" in unknown:
            unknown.add("input")
        return out, unknown

    def let_values(self, key: str, let: Mapping[str, Any], args: dict[str, Any], ctx: _Ctx) -> dict[str, Any] | None:
        """A block's ``let:`` values, each computed once per instance, in order, over its
        parameters, the variables, the input's shape and the ``let`` values before it."""
        env = {**ctx.env, **args}
        for name, raw in let.items():
            value = self.value(raw, env, ("blocks", key, "let", name))
            if value is _MISSING_SENTINEL:
                return None
            env[name] = args[name] = value
        return args

    def block_args(
        self,
        key: str,
        params: Mapping[str, Any],
        item: dict[str, Any],
        path: SpecPath,
        ctx: _Ctx,
        shapes: Mapping[str, TensorShape],
    ) -> dict[str, Any] | None:
        """The parameters of a block instance: given ones in the user's scope, defaults in the
        block's (where ``input`` is the instance's input)."""
        head = item[key]
        given: dict[str, tuple[Any, SpecPath]] = {}
        if isinstance(head, dict):
            given.update({k: (v, (*path, key, k)) for k, v in head.items()})
        elif head is not None:
            if not params:
                self.fail(f"block {key!r} has no parameters; got {head!r}", (*path, key))
                return None
            given[next(iter(params))] = (head, (*path, key))
        given.update({k: (v, (*path, k)) for k, v in item.items() if k != key and k not in COMMON_KEYS})
        out: dict[str, Any] = {}
        ok = True
        for name, (value, where) in given.items():
            if name not in params:
                self.fail(f"block {key!r} has no parameter {name!r}.{did_you_mean(name, params)}", where, at_key=True)
                ok = False
                continue
            out[name] = self.value(value, ctx.env, where)
            ok = ok and out[name] is not _MISSING_SENTINEL
        for name, default in params.items():
            if name not in out:
                if default is None:
                    self.fail(f"block {key!r} needs parameter {name!r}", (*path, key))
                    ok = False
                else:
                    out[name] = self.value(default, {**ctx.env, **shapes, **out}, ("blocks", key, "params", name))
        return out if ok else None

    def builtin_block(self, key: str, bt: BlockType, item: dict[str, Any], path: SpecPath, ctx: _Ctx) -> None:
        args = self.cached_arguments(bt, key, item, path, ctx, {})
        inputs = self.inputs(item, ctx, path)
        shapes = [self.shapes.get(name) for name in inputs or ()]
        if args is None or inputs is None or any(shape is None for shape in shapes):
            self.poison(self.local_name(item, bt.name, ctx, path), ctx, path)
            return
        try:
            expansion = bt.expand_inputs(args, shapes)  # type: ignore[arg-type]
        except (ShapeError, ValueError) as exc:
            self.fail(f"{key}: {exc}", path)
            self.poison(self.local_name(item, bt.name, ctx, path), ctx, path)
            return
        e = expansion
        self.instance(bt.name, item, path, ctx, {}, e.layers, path, e.output, e.notes, e.prefix, True, e.global_names)

    def instance(
        self,
        kind: str,
        item: dict[str, Any],
        path: SpecPath,
        ctx: _Ctx,
        args: dict[str, Any] | None,
        layers: list[Any],
        body_path: SpecPath,
        output: str | None,
        notes: tuple[str, ...] = (),
        prefix: str | None = None,
        generated: bool = False,
        global_names: frozenset[str] = frozenset(),
        name_output: bool = False,
    ) -> None:
        local = self.local_name(item, kind, ctx, path)
        inputs = self.inputs(item, ctx, path)
        if args is None or local is None or inputs is None:
            self.poison(local, ctx, path)
            return
        full = str(local) if isinstance(local, _Global) else ctx.prefix + local
        if full in self.scopes or full in self.names:
            self.fail(f"duplicate name {full!r}", (*path, "name"))
            return
        self.scopes[full] = Scope(full, kind, self.doc.locate(path), notes)
        budget.spend(len(ctx.env) + len(args))
        env = {**{k: v for k, v in ctx.env.items()}, **args}
        trainable = ctx.trainable and item.get("trainable", True)
        inner_prefix = full + "_" if prefix is None else ctx.prefix + prefix
        inner = _Ctx(env, inner_prefix, (*ctx.scope, full), {}, inputs[0], inputs[0], trainable)
        inner.global_names, inner.outer_prefix = global_names, ctx.prefix
        if name_output and output:  # the output layer takes the instance's own name (Keras' mixed7)
            inner.output_as = (output, full)
        # ``input`` is the block's (first) input; ``input0``, ``input1``, ... each of several.
        inner.local = {"input": inputs[0], **{f"input{k}": name for k, name in enumerate(inputs)}}
        outer, self.where = self.where, [full]  # problems inside are named by this instance
        try:  # restored even when expansion stops inside (_Abort, the work budget)
            key = self.template_key(kind, layers, output, inputs, trainable) if generated and prefix is None else None
            if key is not None and key in self._templates:
                out = self.stamp(self._templates[key], path, inputs, inner)
            else:
                before, problems, scopes = len(self.nodes), self.failures, len(self.scopes)
                out = self.walk_body(kind, layers, path if generated else body_path, inner, output)
                if key is not None and out and self.failures == problems and len(self.scopes) == scopes:
                    self.record(key, path, inputs, inner, before, out)
        finally:
            self.where = outer
        if out:
            ctx.local[local] = out
            ctx.prev = out

    def walk_body(self, kind: str, layers: list[Any], path: SpecPath, inner: _Ctx, output: str | None) -> str | None:
        """Walk a block's layers; its output tensor's name, or None (reported)."""
        before = len(self.nodes)
        self.walk(layers, path, inner)
        if len(self.nodes) == before:
            self.fail(f"block {kind!r} produced no layers", path)
            return None
        if output is None:
            return inner.prev
        out = inner.local.get(output, "")
        if not out:
            self.fail(f"block {kind!r} declares output {output!r} but has no layer of that name", path)
            return None
        return out

    # -- stamping out repeated built-in blocks -------------------------------------------------
    # A deep net repeats a few distinct block instances hundreds of times (ResNet-1202: 600
    # residual units of 5 kinds). A built-in block's expansion is plain data, so an instance
    # whose layers, input shapes and trainability equal an earlier one's makes the same
    # nodes under another name: they are copied, renamed and located instead of walked
    # again (checked by tests/test_expand.py against walking every instance).
    replay_blocks = True

    def template_key(
        self, kind: str, layers: list[Any], output: str | None, inputs: tuple[str, ...], trainable: bool
    ) -> tuple[Any, ...] | None:
        if not self.replay_blocks or self._dynamic_defaults:
            return None
        try:
            return (kind, typed_key(layers), output, tuple(self.shapes[name] for name in inputs), trainable)
        except TypeError:  # an item with ${...}: its layers depend on the variables
            return None

    def record(
        self, key: tuple[Any, ...], path: SpecPath, inputs: tuple[str, ...], inner: _Ctx, first: int, out: str
    ) -> None:
        """Keep the nodes an instance made, if they can be renamed into another instance's."""
        nodes = tuple(self.nodes[first:])
        names = [n.name for n in nodes]
        known = set(names) | set(inputs)
        if (
            out not in names
            or len(set(inputs)) != len(inputs)
            or not all(
                n.name.startswith(inner.prefix) and n.path[: len(path)] == path and n.scope == inner.scope
                for n in nodes
            )
            or not all(i in known for n in nodes for i in n.inputs)
        ):
            return
        shapes = tuple(self.shapes[name] for name in names)
        self._templates[key] = _Template(inner.prefix, path, inputs, nodes, shapes, names.index(out))

    def stamp(self, t: _Template, path: SpecPath, inputs: tuple[str, ...], inner: _Ctx) -> str | None:
        """Make a recorded instance's nodes again under this instance's names; its output."""
        cut = len(t.prefix)
        rename = dict(zip(t.inputs, inputs, strict=True))
        made: list[str] = []
        for node, shape in zip(t.nodes, t.shapes, strict=True):
            local = node.name[cut:]
            node_path = (*path, *node.path[len(t.path) :])
            location = self.doc.locate(node_path)
            full = self.claim(local, inner, node_path, location)
            if full is None:
                return None
            rename[node.name] = full
            new_inputs = tuple(rename[i] for i in node.inputs)
            self.nodes.append(
                Node(full, node.type, node.args, new_inputs, inner.scope, location, node_path, trainable=node.trainable)
            )
            self.shapes[full] = shape
            made.append(full)
        return made[t.out]

    def check_user_blocks(self) -> None:
        if not self.user_blocks:  # the set below costs ~0.3 ms: a tenth of a sweep candidate's expansion
            self.check_block_cycles()
            return
        arg_names = {a for lt in self.reg.types.values() for a in lt.alias_map()}
        for name in self.user_blocks:
            path = ("blocks", name)
            if name in self.reg or name in self.block_keys:
                self.fail(f"block name {name!r} is already a layer type; choose another", path)
            elif name in arg_names or name in COMMON_KEYS or name in ("repeat", "as", "layers"):
                self.fail(f"block name {name!r} is also an argument name; choose another", path)
            self.check_block_keys(name, self.user_blocks[name])
        self.check_block_cycles()

    def check_block_keys(self, name: str, block: Mapping[str, Any]) -> None:
        if block.get("name_output") and not block.get("output"):
            message = "`name_output` names the block's output layer by the instance: say which layer with `output:`"
            self.fail(message, ("blocks", name, "name_output"))
        for key in block.get("let") or {}:
            if key in (block.get("params") or {}):
                self.fail(
                    f"{key!r} is both a parameter and a `let` value of block {name!r}", ("blocks", name, "let", key)
                )

    def check_block_cycles(self) -> None:
        def uses(block: str) -> Iterator[str]:
            for item in _items_deep(self.user_blocks[block].get("layers") or []):
                for key in item:
                    if key in self.user_blocks:
                        yield key

        state: dict[str, int] = {}

        def visit(block: str, chain: list[str]) -> None:
            if len(chain) > budget.MAX_NESTING:  # a chain of 3,000 blocks overflowed Python's stack
                where = " -> ".join([*chain[:3], "...", chain[-1]])
                message = f"blocks use each other more than {budget.MAX_NESTING} levels deep: {where}"
                self.fail(message, ("blocks", chain[0]))
                raise _Abort
            state[block] = 1
            for used in uses(block):
                if state.get(used) == 1:
                    cycle = " -> ".join([*chain[chain.index(used) :], used]) if used in chain else used
                    self.fail(f"blocks use each other in a cycle: {cycle}", ("blocks", block))
                    raise _Abort
                if used not in state:
                    visit(used, [*chain, used])
            state[block] = 2

        try:
            for block in self.user_blocks:
                if block not in state:
                    visit(block, [block])
        except _Abort:
            if self.problems:
                raise SpecError(self.problems) from None

    def outputs(self, ctx: _Ctx) -> tuple[str, ...]:
        raw = self.spec.get("outputs")
        if raw is None:
            return (ctx.prev,) if self.nodes else ()
        names = raw if isinstance(raw, list) else [raw]
        out: list[str] = []
        for k, ref in enumerate(names):
            path = ("outputs", k) if isinstance(raw, list) else ("outputs",)
            name = self.value(ref, ctx.env, path)  # "head${n}": an expression like any name
            if name is _MISSING_SENTINEL:
                continue
            if isinstance(name, str) and name in ctx.local:
                out.append(ctx.local[name])
            else:
                self.fail(f"unknown output {name!r}.{did_you_mean(str(name), ctx.local)}", path)
        return tuple(out)


def _output_names(written: Any, outputs: tuple[str, ...]) -> dict[str, str]:
    """The spec's own names for its outputs (``aux1``: a block instance) -> layer names."""
    if written is None:
        return {}
    written = written if isinstance(written, list) else [written]
    return {str(w): name for w, name in zip(written, outputs, strict=False) if w != name}


#: Top-level keys the expander itself reads; every other (schema-checked) section is passed
#: through on the Graph for the stages that use it (expect, train, ...).
_CORE_KEYS = frozenset(
    ("$schema", "archspec", "name", "description", "input", "classes", "vars", "defaults", "blocks",
     "pattern", "tokens", "stages", "classifier", "layers", "outputs", "naming")
)  # fmt: skip
_MISSING_SENTINEL: Any = object()


def _instances_note(labels: dict[str, None]) -> str:
    """' (in 4 instances: m=0; m=1; ...)' for a problem met in several places, else ''.

    Rebuilt each time the problem is met again, so it reads at most nine labels: listing
    them all made 20,000 failing repeat iterations take 12 s (issue 21's work budget)."""
    count = len(labels) - ("" in labels)
    if count < 2:
        return ""
    shown = list(itertools.islice((label for label in labels if label), 8))
    more = f"; and {count - 8} more" if count > 8 else ""
    return f" (in {count} instances: {'; '.join(shown)}{more})"


def _classes_advice(value: Any, env: Mapping[str, Any], path: SpecPath) -> str:
    """What to do when ``${classes}`` has no value: the spec never said how many classes."""
    if "classes" in env or not re.search(r"\bclasses\b", str(value)):
        return ""
    made_by = " (the pattern's last FC is the classifier, {dense: ${classes}})" if path[:1] == ("pattern",) else ""
    return f" Give the number of classes as `classes: N` at the top level of the spec, or --set classes=N{made_by}."


def _plugin_hint(word: str, otherwise: Callable[[str], str]) -> str:
    """The hint for an unknown type: when the plugin package that should add it (its entry
    point is named after the type) failed to load, that; else ``otherwise(word)`` and a note
    for every plugin that failed, so that none fails silently."""
    from .plugins import failures

    broken = failures()
    named = [f for f in broken if f.entry_point == word]
    if named:
        return f" It would come from {named[0].source()}"
    hint = otherwise(word) or _NO_SUCH_TYPE  # nothing near it: say where the limits are written
    return hint + "".join(f" (Note: {f}.)" for f in broken)


_NO_SUCH_TYPE = (
    " No layer type, built-in block or block of this file has a name near it: docs/layers.md lists the layer "
    "types, and docs/spec-language.md#what-the-language-cannot-express what the language cannot express and what "
    "to write instead (an installed plugin package can add a layer type: docs/plugins.md)"
)


def _keras_auto_name(lt: LayerType, kind: str, args: Mapping[str, Any] | None) -> str:
    """The name Keras gives a layer of this type when it has none (``conv2d``,
    ``batch_normalization``, ``max_pooling2d``): its class's name in snake case
    (keras.src.utils.naming.to_snake_case). The class is the one the emitter writes, which
    the arguments may choose (``relu`` with ``max_value`` is Keras' ``ReLU``, ``re_lu``)."""
    cls = lt.keras_class or lt.name
    if args is not None:
        cls = lt.emit(Node("_", kind, freeze(args), ())).callee.rsplit(".", 1)[-1]
    name = re.sub(r"\W+", "", cls)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _label(item: dict[str, Any], env: Mapping[str, Any]) -> str:
    """An item's name for a message: its ``name`` (resolved), else its type."""
    try:
        name = _deep_substitute(item.get("name"), env)
    except ExpressionError:
        name = None
    return str(name or next(iter(item)))


def _deep_substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """``value`` with every ``${...}`` in it resolved, in lists and mappings at any depth."""
    if isinstance(value, list):
        return [_deep_substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _deep_substitute(v, env) for k, v in value.items()}
    return substitute(value, env)


def _failing_part(value: Any, env: Mapping[str, Any]) -> SpecPath:
    """Where in a list or mapping of expressions the first one that fails stands: ``(1,)``."""
    parts = enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else ()
    for key, item in parts:
        try:
            _deep_substitute(item, env)
        except ExpressionError:
            return (key, *_failing_part(item, env))
    return ()


def _items_deep(items: list[Any]) -> Iterator[dict[str, Any]]:
    for item in items:
        if isinstance(item, str):
            yield {item: None}
        elif isinstance(item, dict):
            yield item
            if isinstance(item.get("layers"), list):
                yield from _items_deep(item["layers"])


def expand(spec: Any, *, overrides: Mapping[str, Any] | None = None) -> Graph:
    """Validate a spec and expand it into a :class:`~archspec.ir.Graph`.

    ``spec`` is a path, YAML text, a mapping or a loaded Document. Raises
    :class:`~archspec.errors.SpecError` listing every problem found.

    >>> g = expand("archspec: 1\\ninput: [28, 28, 1]\\nlayers: [{conv: 8}, flatten, {dense: 10}]")
    >>> [n.name for n in g.nodes]
    ['conv', 'flatten', 'dense']
    """
    doc = load(spec)
    schema_check(doc)
    return Expander(doc, overrides).run()
