"""Attention maps (seed 003: "visualization of the model's attention"): the attention weights of one
``attention`` layer (Keras ``MultiHeadAttention``, called again with ``return_attention_scores=True``)
for one image, per head, laid on the patch grid and drawn over the image.

With a [class] token (a ViT), a map is the class token's attention over the patches: the row of
the attention matrix whose query is the class token, without its weight on itself. Without one,
a map is the attention each position receives, averaged over the queries. Every row of the full
matrix sums to 1 (a softmax over the keys).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..errors import UsageError
from ..fileio import atomic_path


@dataclass(frozen=True)
class AttentionMaps:
    """One image's attention maps: ``maps`` (heads, grid rows, grid columns) and how they were read."""

    layer: str
    scores: np.ndarray  # (heads, queries, keys): the full attention matrix of each head
    maps: np.ndarray  # (heads, rows, columns)
    class_token: bool
    description: str


def is_attention(layer: Any) -> bool:
    return isinstance(layer, keras.layers.MultiHeadAttention)


def attention_scores(model: keras.Model, layer_name: str, batch: np.ndarray) -> np.ndarray:
    """The attention weights of ``layer_name`` for ``batch``: (examples, heads, *query positions, *key positions).

    The model is cut at the layer's inputs (the tensors of the call that built it), and the layer is called
    on their values with return_attention_scores=True: the weights Keras computes, with the model's weights."""
    layer = model.get_layer(layer_name)
    node = layer._inbound_nodes[0]
    call = (node.arguments.args, node.arguments.kwargs)
    flat = keras.tree.flatten(call)
    tensors = [t for t in flat if isinstance(t, keras.KerasTensor)]
    out = keras.Model(model.inputs[0], tensors)(batch, training=False)
    values = iter(out if isinstance(out, list | tuple) else [out])
    args, kwargs = keras.tree.pack_sequence_as(
        call, [next(values) if isinstance(t, keras.KerasTensor) else t for t in flat]
    )
    _, scores = layer(*args, **{**kwargs, "return_attention_scores": True, "training": False})
    return np.asarray(scores, dtype=np.float64)


def maps_for(model: keras.Model, layer_name: str, batch: np.ndarray) -> AttentionMaps:
    """The attention maps of the first image of ``batch`` (already scaled as the model expects)."""
    scores = attention_scores(model, layer_name, batch[:1])[0]
    layer = model.get_layer(layer_name)
    key_shape = tuple(int(d) for d in _key_tensor(layer).shape[1:-1])
    heads = scores.shape[0]
    flat = scores.reshape(heads, -1, math.prod(key_shape))
    class_token = any(type(lyr).__name__ == "ClassToken" for lyr in model.layers) and len(key_shape) == 1
    grid = _grid(key_shape, class_token, tuple(int(d) for d in model.inputs[0].shape[1:3]), layer_name)
    if class_token:
        maps = flat[:, 0, 1:]
        what = f"the [class] token's attention over {grid[0]}x{grid[1]} patches"
    else:
        maps = flat.mean(axis=1)
        what = f"the attention each of {grid[0]}x{grid[1]} positions receives, averaged over the queries"
    return AttentionMaps(layer_name, flat, maps.reshape(heads, *grid), class_token, what)


def _key_tensor(layer: Any) -> Any:
    """The key input of the layer's first call (the value's, or the query's, when not given apart)."""
    args = layer._inbound_nodes[0].arguments
    first = args.args[0] if args.args else args.kwargs.get("query")
    if isinstance(first, list | tuple):  # archspec's form: [query, value, key]
        return first[min(len(first), 3) - 1]
    key = args.kwargs.get("key", args.kwargs.get("value"))
    if key is None and len(args.args) > 1:
        key = args.args[2] if len(args.args) > 2 else args.args[1]
    return key if key is not None else first


def _grid(key_shape: tuple[int, ...], class_token: bool, image: tuple[int, ...], layer: str) -> tuple[int, int]:
    """Rows and columns of the key positions: a feature map's own, or the patches of a token sequence."""
    if len(key_shape) == 2:
        return key_shape  # type: ignore[return-value]
    count = key_shape[0] - class_token
    if len(image) == 2 and count > 0:
        rows = round(math.sqrt(count * image[0] / image[1]))
        if rows and count % rows == 0 and image[0] % rows == 0 and image[1] % (count // rows) == 0:
            return rows, count // rows
    raise UsageError(
        f"layer {layer!r} attends over {key_shape[0]} tokens, which do not tile the {image} input as patches; "
        "attention maps need tokens from `patches` (with or without a [class] token) or a feature map"
    )


def draw(result: AttentionMaps, image: np.ndarray, target: Path) -> None:
    """The image, then each head's map and their mean, drawn over the image (nearest: one square per patch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [*(f"head {i}" for i in range(len(result.maps))), "mean of heads"]
    maps = [*result.maps, result.maps.mean(axis=0)]
    height, width = image.shape[:2]
    extent = (0, width, height, 0)
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(1.9 * (len(panels) + 1), 2.4), squeeze=False)
    shown = _displayable(image)
    axes[0][0].imshow(shown, cmap="gray", extent=extent)
    axes[0][0].set_title("input", fontsize=8)
    for ax, title, values in zip(axes[0][1:], panels, maps):
        ax.imshow(shown, cmap="gray", extent=extent)
        ax.imshow(values, cmap="inferno", alpha=0.6, extent=extent, interpolation="nearest")
        ax.set_title(f"{title}\nmax {values.max():.2f}", fontsize=8)
    for ax in axes[0]:
        ax.axis("off")
    fig.suptitle(f"{result.layer}: {result.description}", fontsize=8)
    fig.tight_layout()
    with atomic_path(target, suffix=Path(target).suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _displayable(image: np.ndarray) -> np.ndarray:
    """Raw pixel values as imshow takes them: grey as a 2-D array, colour scaled to 0..1."""
    if image.shape[-1] == 1:
        return image[..., 0]
    rgb = image[..., :3]
    return np.clip(rgb / max(float(rgb.max()), 1.0), 0, 1)  # type: ignore[no-any-return]


def grid_text(values: np.ndarray) -> str:
    """A map as rows of numbers (printed for small grids: the map in the terminal, not only in the PNG)."""
    return "\n".join("  " + " ".join(f"{v:.2f}" for v in row) for row in values)


def summary_lines(result: AttentionMaps, max_cells: int = 64) -> Sequence[str]:
    """What the command prints beyond the file it wrote: the mean map as numbers, when it is small."""
    mean = result.maps.mean(axis=0)
    if mean.size > max_cells:
        return []
    return [f"mean over {len(result.maps)} heads of {result.description}:", grid_text(mean)]
