"""The built-in block library (residual, inception, dense, squeeze-excitation, mobile blocks)."""

# heads: fc_head and gap_head, the notes' transfer-learning heads
from . import convnext, dense, heads, inception, mobile, residual, se, taps, transformer, unet  # noqa: F401  (importing registers the blocks)
