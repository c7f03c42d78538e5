"""The built-in block library (residual, inception, dense, squeeze-excitation, mobile blocks)."""
