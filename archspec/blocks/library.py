"""The built-in block library (residual, inception, dense, squeeze-excitation, mobile blocks)."""

from ..transfer import heads as _heads  # noqa: F401  (fc_head, gap_head: the notes' transfer-learning heads)
from . import dense, inception, mobile, residual, se, taps  # noqa: F401  (importing registers the blocks)
