"""Hostile and broken data files: each is refused with exit status 2, naming the file and what is
wrong, before anything is allocated from it (issue 21), and labels are checked against the model.

Every broken file is generated here (tmp_path). The loader tests need TensorFlow's tf.data but
build no model; the CLI tests build a tiny model and are marked slow.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.errors import UsageError
from archspec.training.config import data_config
from archspec.training.data import load_source, load_splits

SHAPE = (8, 8, 1)
IMAGES = np.zeros((6, 8, 8, 1), dtype=np.uint8)
LABELS = np.array([0, 1, 2, 0, 1, 2])


def _npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)
    return path


def _h5(path: Path, build) -> Path:
    with h5py.File(path, "w") as fh:
        build(fh)
    return path


def _csv(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _object_npz(d: Path) -> Path:
    return _npz(d / "obj.npz", images=IMAGES, labels=np.array([{"x": 1}] * 6, dtype=object))


def _truncated_npz(d: Path) -> Path:
    good = _npz(d / "good.npz", images=np.random.default_rng(0).random((50, 8, 8, 1)), labels=np.zeros(50))
    data = good.read_bytes()
    (d / "cut.npz").write_bytes(data[: len(data) // 2])
    return d / "cut.npz"


def _bad_member_npz(d: Path) -> Path:
    with zipfile.ZipFile(d / "member.npz", "w") as zf:
        zf.writestr("images.npy", b"\x93NUMPY garbage")
        zf.writestr("labels.npy", b"junk")
    return d / "member.npz"


def _dangling(fh: h5py.File) -> None:
    fh["images"] = h5py.SoftLink("/nowhere")
    fh["labels"] = LABELS


def _group(fh: h5py.File) -> None:
    fh["images"] = IMAGES
    fh.create_group("labels")


def _scalar_h5(fh: h5py.File) -> None:
    fh["images"] = IMAGES
    fh["labels"] = 3


def _latin1_names(fh: h5py.File) -> None:
    fh["images"], fh["labels"] = IMAGES, LABELS
    fh["label_names"] = np.array([b"caf\xe9", b"b", b"c"])


#: name -> (a function writing the broken file into a folder, what the message must say)
BROKEN = {
    "object array in npz": (_object_npz, "object array"),
    "not a zip": (lambda d: _csv(d / "x.npz", "images,labels\n1,2\n"), "not an .npz file"),
    "empty npz": (lambda d: _csv(d / "e.npz", b""), "not an .npz file"),
    "empty zip": (lambda d: zipfile.ZipFile(d / "z.npz", "w").close() or d / "z.npz", "has no array 'images'"),
    "truncated npz": (_truncated_npz, "cannot read it as .npz"),
    "garbage member": (_bad_member_npz, "cannot read it as .npz"),
    "scalar images": (lambda d: _npz(d / "s.npz", images=np.array(5), labels=np.array(3)), "got a scalar"),
    "scalar labels": (lambda d: _npz(d / "s.npz", images=IMAGES, labels=np.array(3)), "got shape ()"),
    "string images": (lambda d: _npz(d / "s.npz", images=np.array(["a"] * 6), labels=LABELS), "got <U1 values"),
    "one-hot labels": (lambda d: _npz(d / "o.npz", images=IMAGES, labels=np.eye(6)), r"got shape \(6, 6\)"),
    "huge label": (lambda d: _npz(d / "h.npz", images=IMAGES, labels=np.array([0, 1, 2, 0, 1, 10**12])), "label 5"),
    "uint64 max label": (
        lambda d: _npz(d / "u.npz", images=IMAGES, labels=np.array([0, 1, 2, 0, 1, 2**64 - 1], dtype=np.uint64)),
        "is 18446744073709551615",
    ),
    "negative label": (lambda d: _npz(d / "n.npz", images=IMAGES, labels=np.array([0, 1, -3, 0, 1, 2])), "is -3"),
    "fractional label": (lambda d: _npz(d / "f.npz", images=IMAGES, labels=LABELS + 0.5), "whole class indices"),
    "non-UTF-8 npz names": (
        lambda d: _npz(d / "l.npz", images=IMAGES, labels=LABELS, label_names=np.array([b"\xff", b"b", b"c"])),
        r"label_names\[0\] is not UTF-8",
    ),
    "label beyond label_names": (
        lambda d: _npz(d / "l.npz", images=IMAGES, labels=LABELS, label_names=np.array(["a", "b"])),
        "the data names 2 classes",
    ),
    "dangling soft link": (lambda d: _h5(d / "d.h5", _dangling), "soft link to '/nowhere', which does not exist"),
    "group for a dataset": (lambda d: _h5(d / "g.h5", _group), "'labels' is a group"),
    "scalar h5 labels": (lambda d: _h5(d / "s.h5", _scalar_h5), "'labels' is a scalar"),
    "non-UTF-8 h5 names": (lambda d: _h5(d / "n.h5", _latin1_names), r"label_names\[0\] is not UTF-8"),
    "not hdf5": (lambda d: _csv(d / "x.h5", "hello"), "not an HDF5 file"),
    "latin-1 csv": (
        lambda d: _csv(d / "l.csv", "label,caf\xe9\n0,1\n1,2\n".encode("latin-1")),
        "not UTF-8 text",
    ),
    "inf label in csv": (
        lambda d: _csv(
            d / "i.csv",
            "label,"
            + ",".join(f"p{i}" for i in range(64))
            + "\n"
            + "\n".join(f"{lab}," + ",".join("0" * 64) for lab in ("0", "1", "inf")),
        ),
        "label 2 is inf",
    ),
    "negative label in csv": (
        lambda d: _csv(
            d / "n.csv",
            "label,"
            + ",".join(f"p{i}" for i in range(64))
            + "\n"
            + "\n".join(f"{lab}," + ",".join("0" * 64) for lab in ("0", "-1", "2")),
        ),
        "label 1 is -1",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_data_files_are_usage_errors_naming_the_file(name, tmp_path):
    write, message = BROKEN[name]
    path = write(tmp_path)
    with pytest.raises(UsageError, match=message) as info:
        load_source(str(path), data_config({}), SHAPE, classes=10)
    assert str(path) in str(info.value)


def test_a_huge_label_is_refused_before_anything_is_allocated_from_it(tmp_path):
    """Without a model to compare with (no `classes`), a label of 10**12 would have made 10**12 class names."""
    path = _npz(tmp_path / "h.npz", images=IMAGES, labels=np.array([0, 1, 2, 0, 1, 10**12]))
    with pytest.raises(UsageError, match="at most 100,000 classes"):
        load_source(str(path), data_config({}), SHAPE)


def test_labels_are_checked_against_the_model_in_every_split(tmp_path):
    train = _npz(tmp_path / "train.npz", images=IMAGES, labels=LABELS)
    test = _npz(tmp_path / "test.npz", images=IMAGES, labels=np.array([0, 1, 2, 3, 4, 9]))
    cfg = data_config({"path": str(train), "test": str(test)})
    assert load_splits(cfg, SHAPE, classes=10).counts == {"train": 6, "test": 6}
    with pytest.raises(UsageError, match=r"test.npz: label 5 is 9, but the model has 4 outputs.*--set classes=N"):
        load_splits(cfg, SHAPE, classes=4)


def test_array_images_of_another_size_are_resized_with_a_note(tmp_path):
    path = _npz(tmp_path / "d.npz", images=IMAGES, labels=LABELS)
    source = load_source(str(path), data_config({}), (28, 28, 1), classes=3)
    assert source.notes == (f"{path}: resizing its 8x8 images to the model input 28x28 (bilinear)",)
    assert load_source(str(path), data_config({}), SHAPE, classes=3).notes == ()
    cfg = data_config({"path": str(path)})
    assert load_splits(cfg, (28, 28, 1), classes=3).notes == source.notes


# -- through the CLI: exit status 2, the file named, no traceback ----------------------------------

TINY = """archspec: 1
name: tiny
input: [8, 8, 1]
classes: 3
layers:
  - {flatten: null, name: flat}
  - {dense: 3, activation: softmax, name: predictions}
train: {epochs: 1, batch_size: 4}
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["object array in npz", "huge label", "dangling soft link", "latin-1 csv"])
def test_train_refuses_broken_data_with_exit_2(name, tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    data = BROKEN[name][0](tmp_path)
    result = CliRunner().invoke(main, ["train", str(spec), "--data", str(data), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert str(data) in result.output and "internal error" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_train_refuses_data_whose_classes_do_not_match_the_model(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.replace("classes: 3", "classes: 17").replace("dense: 3", "dense: 17"))
    data = _npz(tmp_path / "d.npz", images=IMAGES, labels=LABELS, label_names=np.array(["a", "b", "c"]))
    result = CliRunner().invoke(main, ["train", str(spec), "--data", str(data), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "the data has 3 classes (a, b, c) but the model has 17 outputs" in result.output
    assert "--set classes=3" in result.output


# -- a run directory names only files inside itself; archspec deletes only what it wrote ------------


def test_a_run_directory_names_checkpoints_only_inside_itself(tmp_path):
    from archspec.training.rundir import RunDir

    run, outside = tmp_path / "run", tmp_path / "precious.keras"
    (run / "checkpoints").mkdir(parents=True)
    outside.write_text("not archspec's")
    (run / "checkpoints" / "epoch-0001.keras").symlink_to(outside)
    rd = RunDir(run)
    for name in (str(outside), "../precious.keras", "checkpoints/../../precious.keras", "checkpoints/epoch-0001.keras"):
        with pytest.raises(UsageError, match="refusing to use it"):
            rd.checkpoint(name)
        rd.remove_checkpoint(name)
        assert outside.read_text() == "not archspec's"
    (run / "checkpoints" / "epoch-0002.keras").write_text("own")
    assert rd.checkpoint("checkpoints/epoch-0002.keras") == run / "checkpoints" / "epoch-0002.keras"
    rd.remove_checkpoint("checkpoints/epoch-0002.keras")
    assert not (run / "checkpoints" / "epoch-0002.keras").exists()


def test_resume_removes_only_archspecs_own_temporaries(tmp_path):
    from archspec.training.rundir import RunDir

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    own = [
        run / ".state.json.k2j_x9qa",
        run / ".best.keras.abcdefgh.keras",
        run / "checkpoints/.epoch-0003.keras.q1w2e3r4.keras",
    ]
    theirs = [
        run / ".gitignore",
        run / ".notes.abcdefgh",
        run / "checkpoints/.mine.abcdefgh.keras",
        run / ".state.json.lock",
    ]
    for file in own + theirs:
        file.write_text("x")
    assert sorted(RunDir(run).clean_temporaries()) == sorted(own)
    assert all(f.exists() for f in theirs)


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_outside_the_run_and_deletes_nothing(tmp_path):
    import json
    import shutil

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    data = _npz(tmp_path / "d.npz", images=IMAGES, labels=LABELS)
    run = tmp_path / "run"
    assert (
        CliRunner().invoke(main, ["train", str(spec), "--data", str(data), "--run-dir", str(run), "-q"]).exit_code == 0
    )
    state = json.loads((run / "state.json").read_text())
    outside = tmp_path / "elsewhere.keras"  # a valid model: before the fix it was loaded, then deleted
    shutil.copyfile(run / state["checkpoint"], outside)
    (run / "state.json").write_text(json.dumps({**state, "checkpoint": str(outside), "finished": False}))
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--epochs", "2", "-q"])
    assert result.exit_code == 2, result.output
    assert "is not one archspec writes" in result.output and outside.exists()


# -- image folders: GIFs, links, archspec's own outputs, AutoGraph --------------------------------


def _grey_folder(root: Path, suffix: str = ".gif", per_class: int = 4) -> Path:
    from PIL import Image

    for c in range(2):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            Image.fromarray(np.full((8, 8), 40 * k + c, np.uint8)).save(root / f"c{c}" / f"{k}{suffix}")
    return root


def test_grey_single_frame_gifs_read_as_the_models_channels(tmp_path):
    """TensorFlow decodes GIFs to 3 channels only: a grey model on a GIF folder crashed mid-epoch."""
    from archspec.training.data import normalizer, pipeline

    root = _grey_folder(tmp_path / "gifs")
    splits = load_splits(data_config({"path": str(root)}), SHAPE, classes=2)
    ds = pipeline(splits.train, batch_size=8, classes=2, input_shape=SHAPE, normalize=normalizer(None, False))
    (x, _), *_ = list(ds)
    assert x.shape == (8, 8, 8, 1)
    values = sorted({round(float(v) * 255) for v in np.asarray(x).reshape(-1)})
    assert values == [0, 1, 40, 41, 80, 81, 120, 121]  # grey stays grey: luma of (v, v, v) is v


def test_folder_splits_trace_without_autograph_warnings(tmp_path):
    import subprocess
    import sys

    root = _grey_folder(tmp_path / "pngs", ".png")
    code = (
        "import sys\nfrom archspec.training.config import data_config\nfrom archspec.training.data import load_splits\n"
        f"s = load_splits(data_config({{'path': {str(root)!r}, 'validation': 0.25, 'test': 0.25}}), (8, 8, 1))\n"
        "print(sum(1 for _ in s.train), sum(1 for _ in s.validation), sum(1 for _ in s.test))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["4", "2", "2"]
    assert "could not transform" not in proc.stderr


def test_a_subfolder_without_images_is_not_a_class(tmp_path):
    from archspec.transfer.extract import ImageFolder

    root = _grey_folder(tmp_path / "animals", ".png")
    (root / "hdf5").mkdir()
    (root / "hdf5" / "features.hdf5").write_bytes(b"\x89HDF\r\n\x1a\n")  # the notes' animals/hdf5/features.hdf5
    folder = ImageFolder.scan(root)
    assert folder.label_names == ("c0", "c1") and folder.skipped == ("hdf5",)
    source = load_source(str(root), data_config({}), SHAPE)
    assert source.class_names == ("c0", "c1") and source.count == 8
    assert source.notes == (f"{root / 'hdf5'}: holds no images, so it is not a class",)


def test_dangling_links_in_image_folders_are_usage_errors(tmp_path):
    from archspec.transfer.extract import ImageFolder

    root = _grey_folder(tmp_path / "pngs", ".png")
    (root / "c1" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(UsageError, match=r"gone.png: a dangling symbolic link"):
        ImageFolder.scan(root)
    with pytest.raises(UsageError, match=r"gone.png: a dangling symbolic link"):
        load_source(str(root), data_config({}), SHAPE)


def test_decompression_bombs_are_refused_by_extract(tmp_path, monkeypatch):
    from PIL import Image

    from archspec.transfer.extract import load_images

    root = _grey_folder(tmp_path / "pngs", ".png")
    Image.new("L", (100, 100)).save(root / "c0" / "big.png")
    for limit in (4000, 9000):
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(UsageError, match=r"big\.png: refused as a possible decompression bomb"):
            load_images([root / "c0" / "big.png"], (8, 8, 1))
    (root / "c0" / "junk.png").write_bytes(b"not an image")
    with pytest.raises(UsageError, match=r"cannot read image .*junk\.png"):
        load_images([root / "c0" / "junk.png"], (8, 8, 1))


def test_extract_shuffles_rows_with_a_recorded_seed(tmp_path):
    from archspec.transfer.extract import ImageFolder

    folder = ImageFolder.scan(_grey_folder(tmp_path / "pngs", ".png"))
    a, b, c = folder.shuffled(7), folder.shuffled(7), folder.shuffled(8)
    assert a == b and a != c and sorted(a.paths) == sorted(folder.paths)
    assert [a.labels[i] for i in range(8)] == [folder.labels[folder.paths.index(p)] for p in a.paths]
    assert list(a.labels) != sorted(a.labels)


# -- fit-features and model files ----------------------------------------------------------------

BROKEN_FEATURES = {
    "group": (lambda fh: (fh.create_group("features"), fh.__setitem__("labels", [0, 1])), "'features' is a group"),
    "1-D features": (lambda fh: fh.__setitem__("features", np.zeros(4)), "features must be a 2-D array"),
    "fractional labels": (lambda fh: fh.__setitem__("labels", [0.5, 1.0]), "whole class indices"),
    "label past names": (lambda fh: fh.__setitem__("labels", [0, 7]), "the data names 2 classes"),
    "non-UTF-8 names": (lambda fh: fh.__setitem__("label_names", np.array([b"\xe9", b"b"])), "not UTF-8"),
    "row mismatch": (lambda fh: fh.__setitem__("labels", [0, 1, 1]), "2 feature rows but 3 labels"),
    "nan": (lambda fh: fh.__setitem__("features", np.full((2, 3), np.nan)), "NaN or infinite"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_FEATURES))
def test_fit_features_refuses_malformed_feature_files(name, tmp_path):
    build, message = BROKEN_FEATURES[name]
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as fh:
        build(fh)
        for key, value in (("features", np.zeros((2, 3))), ("labels", [0, 1]), ("label_names", np.array([b"a", b"b"]))):
            if key not in fh:
                fh[key] = value
    result = CliRunner().invoke(main, ["fit-features", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and message in result.output


@pytest.mark.slow
def test_model_files_keras_refuses_are_usage_errors(tmp_path):
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("config.json", '{"class_name": "Nothing", "config": 3}')
        zf.writestr("metadata.json", "{}")
    for args in (["predict", str(bad), str(image)], ["evaluate", str(bad), "--data", str(image)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "bad.keras" in result.output and "Keras cannot load this model" in result.output
    import keras

    inputs = keras.Input((8, 8, 1))
    good = tmp_path / "good.keras"
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))).save(good)
    for name in ("object array in npz", "huge label", "group for a dataset", "inf label in csv"):
        data = BROKEN[name][0](tmp_path)
        result = CliRunner().invoke(main, ["evaluate", str(good), "--data", str(data)])
        assert result.exit_code == 2 and str(data) in result.output, result.output


def test_fit_features_refuses_classes_too_small_to_split(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as fh:
        fh["features"], fh["labels"], fh["label_names"] = np.zeros((5, 3)), [0, 0, 0, 0, 1], np.array([b"a", b"b"])
    result = CliRunner().invoke(main, ["fit-features", str(path)])
    assert result.exit_code == 2, result.output
    assert "at least 2 rows of every class; only 1 of: b" in result.output


def test_resume_removes_a_checkpoint_a_kill_left_after_the_commit(tmp_path):
    from archspec.training.rundir import RunDir

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("epoch-0002.keras", "epoch-0003.keras", "notes.keras"):
        (run / "checkpoints" / name).write_text("x")
    removed = RunDir(run).remove_stale_checkpoints({"checkpoint": "checkpoints/epoch-0003.keras"})
    assert removed == [run / "checkpoints" / "epoch-0002.keras"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0003.keras", "notes.keras"]


def test_a_class_folder_whose_name_is_not_utf8_is_a_usage_error(tmp_path):
    import os

    from archspec.transfer.extract import ImageFolder

    root = _grey_folder(tmp_path / "pngs", ".png")
    os.rename(root / "c1", os.path.join(os.fsencode(root), b"caf\xe9"))
    with pytest.raises(UsageError, match="a class folder whose name is not UTF-8"):
        ImageFolder.scan(root)
    with pytest.raises(UsageError, match="a class folder whose name is not UTF-8"):
        load_source(str(root), data_config({}), SHAPE)


@pytest.mark.slow
def test_extract_refuses_a_dangling_link_and_a_bomb_with_exit_2(tmp_path, monkeypatch):
    from PIL import Image

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    root = _grey_folder(tmp_path / "pngs", ".png")
    link = root / "c1" / "gone.png"
    link.symlink_to(tmp_path / "nowhere.png")
    args = ["extract", str(spec), "--data", str(root), "-o", str(tmp_path / "f.h5"), "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "gone.png: a dangling symbolic link" in result.output, result.output
    link.unlink()
    Image.new("L", (100, 100)).save(root / "c0" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 9000)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "big.png: refused as a possible decompression bomb" in result.output, result.output
    assert not (tmp_path / "f.h5").exists()


@pytest.mark.slow
def test_train_on_a_folder_of_grey_gifs_with_a_split(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.replace("classes: 3", "classes: 2").replace("dense: 3", "dense: 2"))
    root = _grey_folder(tmp_path / "gifs", ".gif", per_class=6)
    args = ["train", str(spec), "--data", str(root), "--run-dir", str(tmp_path / "run"), "-q"]
    spec.write_text(spec.read_text().replace("train: {", "train: {data: {validation: 0.25}, "))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "done: 1 epochs" in result.output
