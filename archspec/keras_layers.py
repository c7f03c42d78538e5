"""Keras layers that archspec provides because Keras has none.

Registered as serializable under the package name ``archspec``, so a saved ``.keras`` model
loads again with ``safe_mode=True`` once ``archspec.keras_layers`` is imported (no Lambda
layers anywhere). Importing this module imports Keras.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="archspec")
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's local response normalization across channels.

    ``b_c = a_c / (k + alpha * sum_{c' in window} a_{c'}^2) ** beta``, the window being
    ``size`` channels centred on ``c`` (TensorFlow's ``depth_radius = size // 2``).
    Written with ``keras.ops`` so that it runs on every backend and under XLA.
    """

    def __init__(self, size: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, **kwargs: Any):
        super().__init__(**kwargs)
        self.size, self.k, self.alpha, self.beta = int(size), float(k), float(alpha), float(beta)

    def call(self, inputs: Any) -> Any:
        radius = self.size // 2
        squared = ops.square(inputs)
        channels = inputs.shape[-1]
        padded = ops.pad(squared, [[0, 0]] * (len(inputs.shape) - 1) + [[radius, radius]])
        window_sum = sum(padded[..., i : i + channels] for i in range(2 * radius + 1))
        return inputs / ops.power(self.k + self.alpha * window_sum, self.beta)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "k": self.k, "alpha": self.alpha, "beta": self.beta}
