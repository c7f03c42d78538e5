"""The primitive layer types of the spec language; importing this registers them all."""

from . import activation, conv, core, merge, normalization, pooling, regularization  # noqa: F401
