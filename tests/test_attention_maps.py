"""specs/vit_tiny_digits.yaml trains on the digits from one command, and `archspec activations` draws
its attention maps: the weights Keras computes, each row a softmax, laid on the 4x4 patch grid."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

from archspec.errors import UsageError
from archspec.training import attention, datasets

VIT = ROOT / "specs" / "vit_tiny_digits.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    """The tiny ViT trained by one `archspec train` command for 6 epochs, and a digit image."""
    from PIL import Image

    from archspec.cli import main

    root = tmp_path_factory.mktemp("vit")
    data = datasets.write("npz", root / "digits.npz")
    run = root / "run"
    args = ["train", str(VIT), "--data", str(data), "--run-dir", str(run), "--epochs", "6", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    images, _, _ = datasets.digits()
    Image.fromarray(images[0, ..., 0]).save(root / "zero.png")
    return {"run": run, "image": root / "zero.png", "images": images}


def test_vit_learns_the_digits_well_above_chance(vit_run):
    test = json.loads((vit_run["run"] / "test.json").read_text())
    assert test["count"] == 359
    assert test["metrics"]["accuracy"] > 0.75, test["metrics"]  # chance: 0.10; 93% after the spec's 30 epochs


def test_activations_draws_attention_maps_per_head(vit_run, tmp_path):
    from archspec.cli import main

    out = tmp_path / "maps.png"
    args = ["activations", str(vit_run["run"]), "--layer", "block1_attention", "--image", str(vit_run["image"])]
    result = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 heads of layer block1_attention: the [class] token's attention over 4x4 patches" in result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith("  ")]
    assert len(rows) == 4 and all(len(r) == 4 for r in rows)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _model_and_batch(vit_run):
    from archspec.training.evaluate import open_model, prepare

    loaded = open_model(vit_run["run"])
    return loaded.model, prepare(vit_run["images"][:3].astype(np.float32), loaded)


def test_maps_are_softmax_rows_on_the_patch_grid(vit_run):
    model, batch = _model_and_batch(vit_run)
    result = attention.maps_for(model, "block2_attention", batch)
    assert result.scores.shape == (4, 17, 17) and result.maps.shape == (4, 4, 4) and result.class_token
    assert np.allclose(result.scores.sum(-1), 1.0, atol=1e-5)  # every query's weights over the keys
    # the class token's row without its weight on itself is the map
    assert np.allclose(result.maps.reshape(4, 16), result.scores[:, 0, 1:])
    assert np.allclose(result.maps.sum((1, 2)) + result.scores[:, 0, 0], 1.0, atol=1e-5)


def test_maps_are_keras_own_scores_and_the_arithmetic_of_its_weights(vit_run, keras):
    model, batch = _model_and_batch(vit_run)
    scores = attention.attention_scores(model, "block1_attention", batch)
    assert scores.shape == (3, 4, 17, 17)
    layer = model.get_layer("block1_attention")
    x = np.asarray(keras.Model(model.inputs[0], model.get_layer("block1_norm1").output)(batch))
    _, direct = keras.layers.MultiHeadAttention.call(layer, x, x, x, return_attention_scores=True)
    assert np.allclose(scores, np.asarray(direct), atol=1e-6)
    # softmax(Q K^T / sqrt(key_dim)) per head, from the layer's own projection weights
    q = np.einsum("btd,dhk->bthk", x, layer._query_dense.kernel.numpy()) + layer._query_dense.bias.numpy()
    k = np.einsum("btd,dhk->bthk", x, layer._key_dense.kernel.numpy()) + layer._key_dense.bias.numpy()
    logits = np.einsum("bqhk,bthk->bhqt", q, k) / np.sqrt(layer._key_dim)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    assert np.allclose(scores, expected, atol=1e-5)


def test_tokens_that_do_not_tile_the_image_are_refused():
    assert attention._grid((17,), True, (8, 8), "a") == (4, 4)
    assert attention._grid((16,), False, (8, 8), "a") == (4, 4)
    assert attention._grid((8,), False, (8, 16), "a") == (2, 4)
    assert attention._grid((3, 5), False, (8, 8), "a") == (3, 5)  # a feature map keeps its own grid
    with pytest.raises(UsageError, match=r"layer 'a' attends over 7 tokens, which do not tile the \(8, 8\) input"):
        attention._grid((7,), False, (8, 8), "a")
