"""Expansion pass for transfer learning: the base's nodes first, then freezing and stages.

:func:`begin` (an :class:`archspec.extensions.Extension` hook, registered by
:mod:`archspec.transfer`) runs in :meth:`archspec.expand.Expander.run` before the body is
walked: :func:`prepend_base` expands the base's reference spec at the user's input shape, cuts
it where Keras cuts it with ``include_top=False``, and adds its nodes (Keras names, inside a
scope named after the base) so that the head, the freeze selectors and the summary see them
like any other layers. :func:`finish` resolves ``freeze:`` and ``fine_tune:`` into trainable
flags and keeps the result on the graph (:func:`transfer_info`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError, did_you_mean
from ..ir import Graph, Scope, Shape, freeze, prune
from ..loader import Document, load_file
from .bases import KERAS_APPLICATIONS, Application, application, normalise, reference_spec, supported
from .freeze import resolve_stages
from .info import EXTENSION_NAME, BaseInfo, TransferInfo
from .plan import _with_flags, check_optimizers

if TYPE_CHECKING:
    from ..expand import Expander, _Ctx

POOL_NODES = {"avg": ("gap", "avg_pool"), "max": ("gmp", "max_pool")}

#: Set by the Keras builder (:func:`archspec.transfer.keras_build.probing`): measures a base
#: that has no reference spec by building it. Static commands never set it.
PROBE: ContextVar[Callable[..., tuple[Shape, int, int]] | None] = ContextVar("archspec_probe", default=None)


def begin(ex: Expander, ctx: _Ctx) -> BaseInfo | None:
    """The expansion hook (:class:`archspec.extensions.Extension`): the base's nodes, if the spec has one."""
    return prepend_base(ex, ctx) if "base" in ex.spec else None


def _fail(doc: Document, message: str, path: tuple[Any, ...]) -> SpecError:
    return SpecError([doc.problem(message, path)])


def prepend_base(ex: Expander, ctx: _Ctx) -> BaseInfo:
    """Add the base's nodes to the expander, and point ``ctx`` at the base's output."""
    doc, raw = ex.doc, ex.spec["base"]
    kinds = [k for k in ("application", "spec", "model") if k in raw]
    if len(kinds) != 1:
        raise _fail(doc, f"`base` needs exactly one of application, spec or model; got {kinds or 'none'}", ("base",))
    kind = kinds[0]
    input_shape = ex.shapes[ctx.input_name] or ()
    if kind == "model" or (kind == "application" and _opaque_application(doc, raw)):
        return _opaque_base(ex, ctx, kind, raw, input_shape)
    app = _application(doc, raw) if kind == "application" else None
    include_top = bool(raw.get("include_top", False))
    ref = reference_spec(app, include_top) if app else _spec_path(doc, raw["spec"])
    if app is not None:
        _check_fit(doc, raw, app, input_shape)
    base_graph, shapes = _expand_base(doc, raw, ref, input_shape, app)
    cut = raw.get("output") or (app.features if app and not include_top else base_graph.outputs[0])
    try:
        body = prune(base_graph, [cut])
    except KeyError:
        names = [n.name for n in base_graph.nodes]
        raise _fail(doc, f"the base has no layer {cut!r}.{did_you_mean(cut, names)}", ("base", "output")) from None
    scope = raw.get("name") or (app.key if app else Path(ref).stem)
    ex.scopes[scope] = Scope(scope, "base", doc.locate(("base",)), (f"reference spec {Path(ref).name}",))
    ex.scopes.update(body.scopes)
    for node in body.nodes:
        inputs = tuple(ctx.input_name if i == base_graph.input_name else i for i in node.inputs)
        ex.nodes.append(replace(node, inputs=inputs, scope=(scope, *node.scope)))
        ex.names[node.name] = node.location
        ex.shapes[node.name] = shapes[node.name]
        ctx.local[node.name] = node.name
    ctx.prev = cut
    pooling = raw.get("pooling")
    if pooling and not include_top:
        _add_pooling(ex, ctx, scope, pooling)
    return BaseInfo(
        kind=kind,
        source=app.key if app else str(ref),
        scope=scope,
        nodes=tuple(n.name for n in ex.nodes),
        output=ctx.prev,
        features=cut,
        include_top=include_top,
        pooling=pooling if not include_top else None,
        weights=_weights(doc, raw),
        preprocess=_preprocess(doc, raw, app),
        keras_class=app.keras_class if app else None,
        vars=freeze(raw.get("vars") or {}),
        classes=raw.get("classes"),
        bn_inference=bool(raw.get("bn_inference", True)),
        location=doc.locate(("base", "weights") if "weights" in raw else ("base",)),
        base_graph=base_graph if app is None else None,
    )


def _application(doc: Document, raw: Mapping[str, Any]) -> Application:
    name = str(raw["application"])
    app = application(name)
    if app is not None and reference_spec(app) is not None:
        return app
    known = sorted(KERAS_APPLICATIONS)
    msg = f"unknown application {name!r}.{did_you_mean(normalise(name), known)} Known: {', '.join(known)}"
    raise _fail(doc, msg, ("base", "application"))


def _opaque_application(doc: Document, raw: Mapping[str, Any]) -> bool:
    """A real keras.applications model without a reference spec (a typo is an error)."""
    app = application(str(raw["application"]))
    # a generated reference spec is the application at Keras' defaults: with `vars` (alpha,
    # minimalistic, ...) it is another network, which only Keras can measure
    fixed = app is not None and app.generated and raw.get("vars")
    if app is not None and reference_spec(app) is not None and not fixed:
        return False
    if normalise(str(raw["application"])) not in KERAS_APPLICATIONS:
        _application(doc, raw)  # raises, with "Did you mean"
    return True


def _opaque_base(ex: Expander, ctx: _Ctx, kind: str, raw: Mapping[str, Any], shape: Shape) -> BaseInfo:
    """A base only Keras knows: measured by building it (under :data:`PROBE`), else refused."""
    doc = ex.doc
    key = normalise(str(raw.get("application", "")))
    source = KERAS_APPLICATIONS[key] if kind == "application" else _model_path(doc, raw)
    what = f"keras.applications.{source}" if kind == "application" else f"the saved model {raw['model']}"
    probe = PROBE.get()
    if probe is None:
        why, where = _why_opaque(kind, raw)
        raise _fail(
            doc,
            f"static figures are not available for {what}: {why}. `archspec build` and `archspec extract` build "
            "it with Keras (archspec.build in Python); `validate`, `summary` and `expand` cannot analyse it",
            where,
        )
    try:
        out_shape, trainable, frozen = probe(kind, source, raw, shape)
    except (ValueError, OSError, TypeError) as exc:
        raise _fail(doc, f"cannot build the base {what}: {exc}", ("base", kind)) from None
    scope = str(raw.get("name") or (key if kind == "application" else "base"))
    location = doc.locate(("base",))
    ex.scopes[scope] = Scope(scope, "base", location, (f"{what}, built by Keras: no static figures",))
    ex.names[scope], ex.shapes[scope], ctx.local[scope], ctx.prev = location, tuple(out_shape), scope, scope
    return BaseInfo(
        kind=kind,
        source=source,
        scope=scope,
        nodes=(scope,),
        output=scope,
        features=scope,
        include_top=bool(raw.get("include_top", False)),
        pooling=raw.get("pooling"),
        weights=_weights(doc, raw) if kind == "application" else None,
        preprocess=_preprocess(doc, raw, None),
        keras_class=source if kind == "application" else None,
        vars=freeze(raw.get("vars") or {}),
        classes=raw.get("classes"),
        bn_inference=bool(raw.get("bn_inference", True)),
        location=doc.locate(("base", "weights") if "weights" in raw else ("base", kind)),
        opaque=True,
        image_shape=tuple(shape),
        output_shape=tuple(out_shape),
        measured=(trainable, frozen),
        trust=bool(raw.get("trust", False)),
    )


def _why_opaque(kind: str, raw: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """Why only Keras can measure this base, and where the spec says what makes it so."""
    if kind == "model":
        return "a saved model is read by Keras, not by archspec", ("base", "model")
    app = application(str(raw["application"]))
    if app is not None and reference_spec(app) is not None:  # a generated spec: Keras' defaults only
        changed = ", ".join(str(k) for k in raw.get("vars") or {})
        return (
            f"its reference spec is {app.keras_class} at Keras' defaults, and `vars` ({changed}) make another network",
            ("base", "vars"),
        )
    return f"archspec has no reference spec of it (bases with one: {', '.join(supported())})", ("base", kind)


def _model_path(doc: Document, raw: Mapping[str, Any]) -> str:
    folder = Path(doc.file).parent if Path(doc.file).is_file() else Path.cwd()
    path = (folder / str(raw["model"])).resolve()
    if path.suffix not in (".keras", ".h5"):
        raise _fail(
            doc, f"a saved base model is a .keras file (or .h5 with trust: true); got {path.name}", ("base", "model")
        )
    if path.suffix == ".h5" and not raw.get("trust"):
        raise _fail(
            doc,
            "a .h5 full model can run code when loaded; set `trust: true` in `base:` if you trust its source, "
            "or save it as .keras (loaded with safe_mode=True)",
            ("base", "model"),
        )
    if not path.is_file():
        raise _fail(doc, f"saved model not found: {raw['model']} (looked for {path})", ("base", "model"))
    return str(path)


def _spec_path(doc: Document, value: str) -> Path:
    folder = Path(doc.file).parent if Path(doc.file).is_file() else Path.cwd()
    path = (folder / value).resolve()
    if not path.is_file():
        raise _fail(doc, f"base spec not found: {value} (looked for {path})", ("base", "spec"))
    return path


def _check_fit(doc: Document, raw: Mapping[str, Any], app: Application, shape: Shape) -> None:
    """Keras' own limits (``obtain_input_shape``), checked before any layer is expanded."""
    if len(shape) != 3:
        raise _fail(
            doc, f"{app.keras_class} needs an image input [height, width, channels]; got {list(shape)}", ("input",)
        )
    h, w, c = shape
    if min(h, w) < app.min_size:
        raise _fail(
            doc,
            f"input {h}x{w} is too small for {app.keras_class}: keras.applications needs at least "
            f"{app.min_size}x{app.min_size}",
            ("input",),
        )
    weights = str(raw.get("weights", "none")).lower()
    if weights != "none" and c != 3:
        raise _fail(doc, f"pretrained {app.keras_class} weights need 3 input channels; got {c}", ("input",))
    if raw.get("include_top") and weights == "imagenet" and (h, w) != (app.default_size, app.default_size):
        size = app.default_size
        raise _fail(
            doc, f"{app.keras_class} with include_top and imagenet weights needs {size}x{size} inputs", ("input",)
        )


def _expand_base(
    doc: Document, raw: Mapping[str, Any], ref: Path, shape: Shape, app: Application | None
) -> tuple[Graph, dict[str, Any]]:
    from ..expand import Expander
    from ..schema import check

    base_doc = load_file(ref)
    if not isinstance(base_doc.data, Mapping):  # a list or a scalar is not a spec: say so, not a TypeError
        got = type(base_doc.data).__name__
        raise _fail(
            doc,
            f"the base spec {ref.name} is not a mapping of keys (archspec, layers, ...); got a {got}",
            ("base", "spec"),
        )
    data = dict(base_doc.data)
    if isinstance(data.get("input"), dict):
        data["input"] = {**data["input"], "shape": list(shape)}
    else:
        data["input"] = list(shape)
    overrides = dict(raw.get("vars") or {})
    known_vars = set(data.get("vars") or {})
    for key in overrides:
        if key not in known_vars:
            hint = did_you_mean(key, known_vars)
            raise _fail(doc, f"the base spec {ref.name} has no variable {key!r}.{hint}", ("base", "vars", key))
    if raw.get("include_top") and "classes" in raw:
        data["classes"] = raw["classes"]  # the base's own top, as keras.applications' `classes`
    sub_doc = Document(data, base_doc.file, base_doc.positions)
    check(sub_doc)
    sub = Expander(sub_doc, overrides)
    try:
        graph = sub.run()
    except SpecError as exc:
        what = app.keras_class if app else ref.name
        problems = [
            doc.problem(f"the base {what} does not fit input {list(shape)}: {p.message} ({p.location})", ("input",))
            for p in exc.problems[:3]
        ]
        raise SpecError(problems) from None
    return graph, sub.shapes


def _add_pooling(ex: Expander, ctx: _Ctx, scope: str, pooling: str) -> None:
    from ..expand import _Ctx

    kind, name = POOL_NODES[pooling]
    inner = _Ctx(env=ctx.env, scope=(scope,), local=ctx.local, input_name=ctx.input_name, prev=ctx.prev)
    ex.item({kind: None, "name": name}, ("base", "pooling"), inner)
    ctx.prev = inner.prev


def _weights(doc: Document, raw: Mapping[str, Any]) -> str | None:
    value = raw.get("weights")
    if value is None or str(value).lower() == "none":
        return None
    if str(value).lower() == "imagenet":
        return "imagenet"
    folder = Path(doc.file).parent if Path(doc.file).is_file() else Path.cwd()
    return str((folder / str(value)).resolve())


def _preprocess(doc: Document, raw: Mapping[str, Any], app: Application | None) -> str:
    from .bases import APPLICATIONS

    value = str(raw.get("preprocess", "auto")).lower()
    if value == "auto":
        return f"keras.applications.{app.module}" if app else "none"
    if value in ("none", "caffe", "tf", "torch"):
        return value
    other = application(value)
    if other is None:
        choices = ["auto", "none", "caffe", "tf", "torch", *APPLICATIONS]  # what is accepted
        raise _fail(doc, f"unknown preprocess {value!r}.{did_you_mean(value, choices)}", ("base", "preprocess"))
    return f"keras.applications.{other.module}"


def finish(doc: Document, graph: Graph, base: BaseInfo | None) -> Graph:
    """Apply ``freeze:`` and the first ``fine_tune:`` stage to the nodes; keep the plan on the graph."""
    if base is not None and base.opaque:  # the graph is the head; its input is the base's output
        graph = replace(graph, input_name=base.scope, input_shape=base.output_shape)
    stages, initial = resolve_stages(doc, graph, base)
    bad = check_optimizers(stages)
    if bad:
        raise SpecError([doc.problem(msg, ("fine_tune", k, "optimizer")) for k, msg in bad])
    info = TransferInfo(base, stages, initial)
    return replace(_with_flags(graph, initial), extensions=freeze({**graph.extensions, EXTENSION_NAME: info}))
