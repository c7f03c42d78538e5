"""The primitive layer types of the spec language; importing this registers them all."""

from . import (  # noqa: F401
    activation,
    axes,
    conv,
    core,
    merge,
    normalization,
    pooling,
    regularization,
    sequence,
    transformer,
    upsampling,
)
