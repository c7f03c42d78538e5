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


@keras.saving.register_keras_serializable(package="archspec")
class LayerScale(keras.layers.Layer):
    """A learned per-channel factor (CaiT's and ConvNeXt's layer scale): ``x * gamma``.

    The same layer as ``keras.applications.convnext.LayerScale`` (which Keras does not
    export): one trainable ``gamma`` of ``projection_dim`` values, all ``init_values`` at
    first. ``projection_dim`` may be left out; it is then the input's channel count.
    """

    def __init__(self, init_values: float = 1e-6, projection_dim: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.init_values = float(init_values)
        self.projection_dim = projection_dim

    def build(self, input_shape: Any) -> None:
        if self.projection_dim is None:
            self.projection_dim = int(input_shape[-1])
        self.gamma = self.add_weight(
            shape=(self.projection_dim,), initializer=keras.initializers.Constant(self.init_values), trainable=True
        )

    def call(self, x: Any) -> Any:
        return x * self.gamma

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


@keras.saving.register_keras_serializable(package="archspec")
class ScaledAdd(keras.layers.Layer):
    """``inputs[0] + scale * inputs[1]``: Inception-ResNet's scaled residual.

    The same computation as ``keras.applications.inception_resnet_v2.CustomScaleLayer`` (which
    Keras does not export); no weights.
    """

    def __init__(self, scale: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs: Any) -> Any:
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


def _known(shape: Any, built: Any) -> tuple[Any, ...]:
    """``shape`` with the sizes it does not know taken from the shape the layer was built for.

    A tf.data pipeline can hand the model images whose height and width it no longer knows
    statically (an augmentation's transform); the model was built for one size, and the
    shape-dependent layers below compute their slices and tables from it.
    """
    if built is None:
        return tuple(shape)
    return tuple(b if s is None else s for s, b in zip(shape, built, strict=True))


@keras.saving.register_keras_serializable(package="archspec")
class CropTo(keras.layers.Layer):
    """Centre-crop ``x`` to the height and width of ``reference`` (U-Net's copy and crop).

    Called on ``[x, reference]``; when the size difference is odd the extra row or column
    is cut at the bottom or right. Both sizes are known when the model is built, so this
    is a fixed ``Cropping2D`` whose amounts come from the graph.
    """

    built_shapes: Any = None

    def build(self, input_shape: Any) -> None:
        self.built_shapes = [tuple(s) for s in input_shape]

    def call(self, inputs: Any) -> Any:
        x, reference = inputs
        built = self.built_shapes or (None, None)
        shape, ref = _known(x.shape, built[0]), _known(reference.shape, built[1])
        (top, bottom), (left, right) = self.amounts(shape, ref)
        return x[:, top : shape[1] - bottom, left : shape[2] - right, :]

    @staticmethod
    def amounts(shape: Any, reference: Any) -> tuple[tuple[int, int], tuple[int, int]]:
        dh, dw = int(shape[1]) - int(reference[1]), int(shape[2]) - int(reference[2])
        if dh < 0 or dw < 0:
            raise ValueError(f"CropTo cannot crop {tuple(shape)} to the larger {tuple(reference)}")
        return (dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape, reference = input_shape
        return (shape[0], reference[1], reference[2], shape[3])


@keras.saving.register_keras_serializable(package="archspec")
class MultiHeadAttention(keras.layers.MultiHeadAttention):
    """Keras' ``MultiHeadAttention`` called the way a graph layer is: on one tensor (self-
    attention: query, key and value are that tensor) or on ``[query, value]`` or
    ``[query, value, key]``. Its weights, their names and its arithmetic are Keras'.
    ``return_attention_scores=True`` also returns the attention weights, shape
    ``(batch, heads, *query positions, *key positions)``, for attention maps (seed 003)."""

    @staticmethod
    def _split(inputs: Any) -> tuple[Any, Any, Any]:
        parts = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        query = parts[0]
        value = parts[1] if len(parts) > 1 else query
        key = parts[2] if len(parts) > 2 else value
        return query, value, key

    def build(self, input_shape: Any) -> None:  # type: ignore[override]
        nested = isinstance(input_shape, list | tuple) and isinstance(input_shape[0], list | tuple)
        query, value, key = self._split(input_shape if nested else [input_shape])
        super().build(tuple(query), tuple(value), tuple(key))

    def call(  # type: ignore[override]
        self, inputs: Any, training: bool | None = None, return_attention_scores: bool = False
    ) -> Any:
        query, value, key = self._split(inputs)
        return super().call(query, value, key, training=training, return_attention_scores=return_attention_scores)

    def compute_output_shape(self, input_shape: Any) -> Any:  # type: ignore[override]
        nested = isinstance(input_shape, list | tuple) and isinstance(input_shape[0], list | tuple)
        query, value, key = self._split(input_shape if nested else [input_shape])
        return super().compute_output_shape(tuple(query), tuple(value), tuple(key))

    def _compute_attention(self, query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        """Keras' attention; with ``value_dim != key_dim`` always its explicit einsum path.

        Keras otherwise calls ``ops.dot_product_attention``, whose JAX version requires values
        as wide as keys and fails on ``value_dim != key_dim`` (Keras 3.15); the einsum path is
        the same arithmetic on every backend. Its attention scores are dropped by ``call``
        unless they were asked for."""
        if self._value_dim != self._key_dim and not self._flash_attention:
            if len(args) >= 3:
                args = (*args[:2], True, *args[3:])
            else:
                kwargs["return_attention_scores"] = True
        return super()._compute_attention(query, key, value, *args, **kwargs)

    def compute_output_spec(  # type: ignore[override]
        self, inputs: Any, training: bool | None = None, return_attention_scores: bool = False
    ) -> Any:
        query, value, key = self._split(inputs)
        shape = keras.layers.MultiHeadAttention.compute_output_shape(self, query.shape, value.shape, key.shape)
        output = keras.KerasTensor(shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        scores = (query.shape[0], self.num_heads, *query.shape[1:-1], *key.shape[1:-1])
        return output, keras.KerasTensor(scores, dtype=self.compute_dtype)


@keras.saving.register_keras_serializable(package="archspec")
class ClassToken(keras.layers.Layer):
    """Prepend a learned [class] token to a sequence of tokens (ViT, Dosovitskiy et al. 2021):
    ``(tokens, dim)`` becomes ``(tokens + 1, dim)``; one trainable vector of ``dim`` values."""

    def build(self, input_shape: Any) -> None:
        self.token = self.add_weight(shape=(1, 1, int(input_shape[-1])), initializer="zeros", name="token")

    def call(self, x: Any) -> Any:
        token = ops.broadcast_to(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, x.shape[-1]))
        return ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] + 1, input_shape[2])


@keras.saving.register_keras_serializable(package="archspec")
class PositionEmbedding(keras.layers.Layer):
    """Add a position embedding of the input's own shape (one vector per token).

    ``learned``: a trainable weight, initialised as ViT's (normal, stddev 0.02).
    ``sincos``: the fixed sine/cosine table of Vaswani et al. (2017), no weights; the
    first half of the channels are sines, the second half cosines.
    """

    def __init__(self, kind: str = "learned", **kwargs: Any):
        super().__init__(**kwargs)
        if kind not in ("learned", "sincos"):
            raise ValueError(f"`kind` must be 'learned' or 'sincos'. Received: kind={kind!r}")
        self.kind = kind

    built_shape: Any = None

    def build(self, input_shape: Any) -> None:
        self.built_shape = tuple(input_shape)
        if self.kind == "learned":
            init = keras.initializers.RandomNormal(stddev=0.02)
            self.embedding = self.add_weight(shape=tuple(input_shape[1:]), initializer=init, name="embedding")

    def call(self, x: Any) -> Any:
        if self.kind == "learned":
            return x + ops.cast(self.embedding, x.dtype)
        shape = _known(x.shape, self.built_shape)
        return x + ops.cast(sincos_table(shape[1], shape[-1]), x.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kind": self.kind}


def sincos_table(tokens: int, dim: int) -> Any:
    """The (tokens, dim) sine/cosine table: position p, frequency 1 / 10000^(2i / dim)."""
    half = dim // 2
    positions = ops.expand_dims(ops.arange(tokens, dtype="float32"), 1)
    freqs = ops.power(10000.0, -ops.arange(half, dtype="float32") * 2.0 / dim)
    angles = positions * ops.expand_dims(freqs, 0)
    table = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=1)
    return ops.pad(table, [[0, 0], [0, dim - 2 * half]])  # an odd dim gets one zero channel


@keras.saving.register_keras_serializable(package="archspec")
class SelectToken(keras.layers.Layer):
    """The token at ``index`` of a ``(tokens, dim)`` sequence (ViT's [class] token output)."""

    def __init__(self, index: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, x: Any) -> Any:
        return x[:, self.index]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], *input_shape[2:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "index": self.index}


@keras.saving.register_keras_serializable(package="archspec")
class Patches(keras.layers.Layer):
    """Cut a feature map into non-overlapping ``size`` patches, each flattened to one token
    (ViT's "sequence of flattened 2D patches"): ``(H, W, C)`` becomes
    ``(H/ph * W/pw, ph * pw * C)``, tokens in row-major order, each token's values ordered
    (row, column, channel) as a Conv2D kernel is, so that ``Patches`` then ``Dense(D)`` is
    ``Conv2D(D, size, strides=size)`` then ``Reshape((-1, D))`` with the kernel reshaped."""

    def __init__(self, size: Any = (16, 16), **kwargs: Any):
        super().__init__(**kwargs)
        self.size = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))

    built_shape: Any = None

    def build(self, input_shape: Any) -> None:
        self.built_shape = tuple(input_shape)

    def call(self, x: Any) -> Any:
        (ph, pw), (h, w, c) = self.size, _known(x.shape, self.built_shape)[1:]
        grid = ops.reshape(x, (-1, h // ph, ph, w // pw, pw, c))
        grid = ops.transpose(grid, (0, 1, 3, 2, 4, 5))
        return ops.reshape(grid, (-1, (h // ph) * (w // pw), ph * pw * c))

    def compute_output_shape(self, input_shape: Any) -> Any:
        (ph, pw), (h, w, c) = self.size, input_shape[1:]
        return (input_shape[0], (h // ph) * (w // pw), ph * pw * c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": list(self.size)}
