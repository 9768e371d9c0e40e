"""Data beyond the toys: digits, coloured digits, shifts, user point clouds and image folders."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from efm_core.data.files import load_image_folder, load_point_cloud
from efm_core.data.images import (
    colourise,
    digits_split,
    grey,
    hue_to_rgb,
    image_hues,
    load_coloured_digits,
    load_digits,
    select_classes,
    shift_images,
)


def test_digits_format_matches_sklearn() -> None:
    from sklearn.datasets import load_digits as sk_load

    digits = load_digits()
    sk = sk_load()
    assert digits.images.shape == (1797, 1, 8, 8) and digits.images.dtype == torch.float32
    assert digits.labels.dtype == torch.int64
    assert torch.equal(digits.images, torch.from_numpy(sk.images.astype(np.float32) / 8 - 1)[:, None])
    assert torch.equal(digits.labels, torch.from_numpy(sk.target))
    assert digits.images.min() == -1 and digits.images.max() == 1


def test_digits_load_without_importing_sklearn_or_scipy_optimize() -> None:
    """The digits are read from scikit-learn's own CSV without running scikit-learn (its import takes seconds on a
    page's first load); neither it nor scipy.optimize (used only by OT pairing and W2) is imported on the way."""
    import subprocess
    import sys

    code = ("import sys; from efm_core.data.images import load_digits; assert load_digits().images.shape[0] == 1797; "
            "print(sorted(m for m in ('sklearn', 'scipy.optimize') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"


def test_split_is_fixed_disjoint_and_stratified() -> None:
    train, test = digits_split()
    assert (len(train.labels), len(test.labels)) == (1438, 359)
    all_rows = {tuple(x.flatten().tolist()) for x in load_digits().images}
    tr_rows = {tuple(x.flatten().tolist()) for x in train.images}
    te_rows = {tuple(x.flatten().tolist()) for x in test.images}
    assert tr_rows | te_rows == all_rows and not tr_rows & te_rows
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    again = digits_split()[1]
    assert torch.equal(again.images, test.images)
    assert not torch.equal(digits_split(seed=1)[1].images, test.images)
    with pytest.raises(ValueError, match="test_fraction"):
        digits_split(test_fraction=1.0)


def test_select_classes() -> None:
    twos_threes = load_digits([2, 3])
    assert set(twos_threes.labels.tolist()) == {2, 3}
    assert len(twos_threes.labels) == int(((load_digits().labels == 2) | (load_digits().labels == 3)).sum())
    coloured = select_classes(load_coloured_digits(seed=0), [7])
    assert set(coloured.labels.tolist()) == {7} and coloured.hues.shape == coloured.labels.shape
    with pytest.raises(ValueError, match="digits 0..9"):
        load_digits([10])


def test_hue_to_rgb_primaries_and_full_saturation() -> None:
    rgb = hue_to_rgb(torch.tensor([0.0, 60.0, 120.0, 180.0, 240.0, 300.0, 360.0]))
    expected = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1], [1, 0, 0]], dtype=torch.float32)
    assert torch.equal(rgb, expected)
    many = hue_to_rgb(360 * torch.rand(1000, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(many.amax(1), torch.ones(1000)) and torch.allclose(many.amin(1), torch.zeros(1000))


def test_coloured_digits_format_background_and_hue() -> None:
    cd = load_coloured_digits([2, 3], seed=3)
    base = load_digits([2, 3])
    assert cd.images.shape == (len(base.labels), 3, 8, 8) and cd.images.dtype == torch.float32
    assert cd.images.min() >= -1 and cd.images.max() <= 1
    background = base.images[:, 0] == -1
    assert (cd.images.permute(1, 0, 2, 3)[:, background] == -1).all()  # black background in every channel
    assert torch.allclose(grey(cd.images), base.images, atol=1e-6)  # grey = max over channels undoes the colour
    assert ((cd.hues >= 0) & (cd.hues < 360)).all() and torch.equal(cd.labels, base.labels)
    recovered = image_hues(cd.images)
    diff = torch.remainder(recovered - cd.hues, 360)
    assert torch.minimum(diff, 360 - diff).max() < 0.5
    assert torch.equal(load_coloured_digits([2, 3], seed=3).hues, cd.hues)
    assert not torch.equal(load_coloured_digits([2, 3], seed=4).hues, cd.hues)


def test_image_hues_of_grey_and_black_images_are_nan() -> None:
    black = -torch.ones(1, 3, 8, 8)
    white_stroke = black.clone()
    white_stroke[:, :, 2:6, 3] = 1.0
    assert torch.isnan(image_hues(torch.cat([black, white_stroke]))).all()
    with pytest.raises(ValueError, match="RGB"):
        image_hues(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="one hue per image"):
        colourise(torch.zeros(2, 1, 8, 8), torch.zeros(3))


def test_shift_images_are_one_pixel_shifts_filled_black() -> None:
    x = load_digits().images[:40]
    out = shift_images(x, torch.Generator().manual_seed(0), max_shift=1)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), value=-1.0)
    candidates = torch.stack([padded[:, :, dy : dy + 8, dx : dx + 8] for dy in range(3) for dx in range(3)], 1)
    matches = (candidates == out[:, None]).flatten(2).all(-1)
    assert matches.any(1).all()
    assert not matches[:, 4].all()  # not all left in place
    assert torch.equal(shift_images(x, torch.Generator(), max_shift=0), x)
    with pytest.raises(ValueError, match="max_shift"):
        shift_images(x, torch.Generator(), max_shift=8)


# --- point clouds ----------------------------------------------------------------------------------------------------


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize(
    "text",
    [b"x,y\n1,2\n3,4.5\n", b"# comment\n1;2\n3;4.5\n", b"1 2\n\n3\t4.5\n", b"\xef\xbb\xbf1, 2\r\n3, 4.5\r\n"],
)
def test_point_cloud_csv_variants(text: bytes) -> None:
    cloud = load_point_cloud(text)
    assert cloud.dtype == torch.float64
    assert torch.equal(cloud, torch.tensor([[1.0, 2.0], [3.0, 4.5]], dtype=torch.float64))


def test_point_cloud_sources_npy_path_and_filelike(tmp_path) -> None:
    pts = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    raw = _npy(pts)
    path = tmp_path / "pts.npy"
    path.write_bytes(raw)
    for source in (raw, path, str(path), io.BytesIO(raw)):
        assert torch.equal(load_point_cloud(source, dims=(1, 2)), torch.from_numpy(pts.astype(np.float64)))
    column = load_point_cloud(_npy(np.arange(5.0)))
    assert column.shape == (5, 1)
    assert load_point_cloud(_npy(np.zeros((4, 7)))).shape == (4, 7)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"1,2\n3,abc\n", "line 2"),
        (b"1,\n2,3\n", "line 1"),
        (b"1,2\n3,4,5\n", "3 columns"),
        (b"1,2\nnan,4\n", "NaN or infinite"),
        (b"1,2,3\n4,5,6\n", "this needs 1 or 2"),
        (b"x,y\n", "no rows"),
        (b"\xff\xfe\x00garbage\x81", "not UTF-8"),
        (_npy(np.array([{"a": 1}], dtype=object)), "Python objects"),
        (_npy(np.array(["a", "b"])), "must hold numbers"),
        (_npy(np.zeros((2, 2, 2))), "2-D table"),
        (_npy(np.array([1 + 2j])), "complex"),
        (b"\x93NUMPY\x01\x00broken", "npy"),
    ],
)
def test_point_cloud_rejects_bad_files_clearly(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_point_cloud(raw, dims=(1, 2))


def test_point_cloud_limits_and_missing_file(tmp_path) -> None:
    with pytest.raises(ValueError, match="at most 3"):
        load_point_cloud(b"1\n2\n3\n4\n", max_points=3)
    with pytest.raises(ValueError, match="does not exist"):
        load_point_cloud(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="path, bytes or a file-like"):
        load_point_cloud(3.0)  # type: ignore[arg-type]


# --- image folders ---------------------------------------------------------------------------------------------------


def test_image_folder_grey_resize_and_order(tmp_path) -> None:
    block = np.kron(np.array([[0, 255], [255, 0]], dtype=np.uint8), np.ones((8, 8), dtype=np.uint8))  # 16x16
    Image.fromarray(block).save(tmp_path / "b.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.full((28, 28), 255, dtype=np.uint8)).save(tmp_path / "sub" / "c.png")
    Image.fromarray(np.zeros((5, 5), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_image_folder(tmp_path, size=8)
    assert images.shape == (3, 1, 8, 8) and images.dtype == torch.float32
    assert (images[0] == -1).all()  # a.png, black
    expected = torch.from_numpy(np.kron(np.array([[-1.0, 1.0], [1.0, -1.0]]), np.ones((4, 4))).astype(np.float32))
    assert torch.equal(images[1, 0], expected)  # b.png, BOX-resized exactly
    assert (images[2] == 1).all()  # sub/c.png, white
    assert load_image_folder(tmp_path, size=(4, 2), limit=2).shape == (2, 1, 4, 2)


def test_image_folder_rgb(tmp_path) -> None:
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    rgb[..., 2] = 51
    Image.fromarray(rgb).save(tmp_path / "red.png")
    images = load_image_folder(tmp_path, size=8, channels=3)
    assert images.shape == (1, 3, 8, 8)
    assert torch.allclose(images[0, :, 0, 0], torch.tensor([1.0, -1.0, 51 / 127.5 - 1]))
    assert abs(float(image_hues(images)[0]) - 348.0) < 0.1  # (255, 0, 51): hue 360 - 12


def test_image_folder_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="cannot read image 'broken.png'"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="channels"):
        load_image_folder(tmp_path, channels=2)
