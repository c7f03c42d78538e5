"""The built-in block library (residual, inception, dense, squeeze-excitation, mobile blocks)."""

from . import residual, se  # noqa: F401  (importing registers the blocks)
