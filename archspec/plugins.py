"""Layer types from installed packages: the ``archspec.layers`` entry point group.

A package adds a layer type by shipping a :class:`~archspec.registry.LayerType` subclass (its
arguments, shape/params/MACs rule, Keras builder and code emitter, exactly as a built-in type)
and naming it in its metadata::

    # pyproject.toml of the package `archspec-scaled-relu`
    [project.entry-points."archspec.layers"]
    scaled_relu = "archspec_scaled_relu:ScaledReLU"

A spec can then write ``{scaled_relu: 2.0}``. A spec only *names* a type; it never says where
code comes from, so nothing in a spec can import anything: the code that runs is what the
user installed, as with any Python package (docs/plugins.md, docs/security.md).

Plugins are looked for lazily, once per process, the first time a spec names a type that is
not built in (reading the installed packages' metadata costs ~0.08 s, bench/bench_plugins.py, which a command that
needs no plugin never pays). A plugin that fails to import or is malformed is reported by
its package and entry point with what went wrong, never as a traceback, and the types that
loaded still work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import Registry

GROUP = "archspec.layers"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded: which package, which entry point, what went wrong."""

    package: str
    entry_point: str  # its name, which by convention is the layer type's name
    reason: str

    def __str__(self) -> str:
        return f"plugin package {self.package!r} (entry point {self.entry_point!r} in {GROUP}) {self.reason}"

    def source(self) -> str:
        """Where the type would have come from, and why it did not: for an unknown type's error."""
        return f"plugin package {self.package!r}, but that plugin {self.reason} (entry point {self.entry_point!r})"


@dataclass
class _State:
    loaded: bool = False
    failures: tuple[PluginFailure, ...] = ()


_STATE = _State()


def failures() -> tuple[PluginFailure, ...]:
    """The plugins that failed to load in this process (empty until :func:`load` has run)."""
    return _STATE.failures


def load(reg: Registry) -> bool:
    """Register every plugin layer type into ``reg``, once per process.

    Returns True if this call added types (the caller looks its unknown name up again).
    """
    if _STATE.loaded:
        return False
    _STATE.loaded = True
    from importlib.metadata import entry_points  # here: importing it is part of the cost saved

    added = False
    problems: list[PluginFailure] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (_package(e), e.name)):
        failure = _register(reg, ep)
        if failure is None:
            added = True
        else:
            problems.append(failure)
    _STATE.failures = tuple(problems)
    return added


def reset(reg: Registry) -> None:
    """Forget the plugins (for tests): unregister their types and look again next time."""
    for name in list(reg.plugins):
        lt = reg.types.pop(name)
        for key in (name, *type(lt).aliases):
            reg.canonical.pop(key, None)
    reg.plugins.clear()
    _STATE.loaded, _STATE.failures = False, ()


def _package(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return str(getattr(dist, "name", None) or ep.value.split(":")[0].split(".")[0])


def _register(reg: Registry, ep: Any) -> PluginFailure | None:
    package = _package(ep)
    try:
        obj = ep.load()
    except Exception as exc:  # a plugin's import may fail in any way; report it, never crash
        return PluginFailure(package, ep.name, f"could not be imported: {type(exc).__name__}: {exc}")
    problem = _malformed(obj)
    if problem:
        return PluginFailure(package, ep.name, f"is not a layer type: {problem}")
    taken = [key for key in (obj.name, *obj.aliases) if key in reg.canonical]
    if taken:
        owner = reg.plugins.get(reg.canonical[taken[0]], "archspec (built in)")
        return PluginFailure(package, ep.name, f"names layer type {taken[0]!r}, which {owner} already has")
    try:
        reg.add(obj)
    except Exception as exc:  # its constructor ran plugin code
        return PluginFailure(package, ep.name, f"could not be registered: {type(exc).__name__}: {exc}")
    reg.plugins[obj.name] = f"plugin package {package!r}"
    return None


def _malformed(obj: Any) -> str:
    """What is wrong with an entry point's object as a layer type, or ''."""
    from .blocks import canonical_block_keys
    from .registry import _CHECKERS, LayerType

    if not (isinstance(obj, type) and issubclass(obj, LayerType)):
        return f"the entry point names {obj!r}, not a subclass of archspec.registry.LayerType"
    names = (getattr(obj, "name", ""), *obj.aliases)
    bad = [n for n in names if not isinstance(n, str) or not _IDENT.match(n)]
    if bad:
        return f"its name or alias {bad[0]!r} is not lower-case letters, digits and _"
    blocks = [n for n in names if n in canonical_block_keys()]
    if blocks:
        return f"its name {blocks[0]!r} is a built-in block's"
    if obj.infer is LayerType.infer:
        return f"{obj.__name__} has no shape rule (it does not override infer)"
    if not obj.keras_class and obj.build is LayerType.build:
        return f"{obj.__name__} has no Keras builder (set keras_class or override build)"
    kinds = [a.kind for a in obj.args if a.kind not in _CHECKERS]
    if kinds:
        return f"argument kind {kinds[0]!r} is unknown (known: {', '.join(sorted(_CHECKERS))})"
    return ""


def _install() -> None:
    from .registry import Registry

    Registry.plugin_loader = load


_install()
