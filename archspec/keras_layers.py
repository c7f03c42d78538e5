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


@keras.saving.register_keras_serializable(package="archspec")
class StochasticDepth(keras.layers.Layer):
    """Residual add with stochastic depth (Huang et al. 2016): ``shortcut + b * residual``.

    Called on ``[shortcut, residual]``. In training, each example keeps its residual branch
    with probability ``survival`` (``b = 1 / survival``) or drops it (``b = 0``), so the
    expected output equals the plain sum and inference needs no rescaling: there the layer
    is exactly ``shortcut + residual``. (The paper scales by ``p_l`` at test time instead;
    the two are the same network in expectation, and this form keeps inference identical
    to a network trained without stochastic depth.) Pure ``keras.ops`` with a
    ``SeedGenerator``, so it runs under XLA and on every backend.
    """

    def __init__(self, survival: float = 0.8, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not 0.0 < float(survival) <= 1.0:
            raise ValueError(f"`survival` must be in (0, 1]. Received: survival={survival!r}")
        self.survival = float(survival)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        shortcut, residual = inputs
        if not training or self.survival >= 1.0:
            return shortcut + residual
        batch = ops.shape(residual)[0]
        mask_shape = (batch,) + (1,) * (len(residual.shape) - 1)
        draw = keras.random.uniform(mask_shape, seed=self.seed_generator, dtype=residual.dtype)
        keep = ops.cast(draw < self.survival, residual.dtype)
        return shortcut + residual * (keep / ops.cast(self.survival, residual.dtype))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "survival": self.survival, "seed": self.seed}
