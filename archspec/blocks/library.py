"""The built-in block library (residual, inception, dense, squeeze-excitation, mobile blocks)."""

# heads: fc_head and gap_head, the notes' transfer-learning heads
from . import dense, heads, inception, mobile, residual, se, taps  # noqa: F401  (importing registers the blocks)
