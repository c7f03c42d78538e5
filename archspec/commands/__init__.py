"""CLI commands that import TensorFlow; loaded lazily by :class:`archspec.cli.LazyGroup`."""
