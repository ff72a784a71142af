"""Dataset and transforms: each transform against what it should do to a known tensor."""
import random

import numpy as np
import pytest
import torch

from model.data import (
    CentreCrop,
    Cutout,
    DvsLipDataset,
    HorizontalFlip,
    RandomCrop,
    TimeMask,
    Zoom,
    eval_transform,
    input_side,
    pad_collate,
    train_side,
    train_transform,
)
from stream.events import make_events
from stream.sources.npy import save_clip


def ramp(t=10, side=128):
    return torch.arange(t * 2 * side * side, dtype=torch.float32).reshape(t, 2, side, side)


def test_centre_and_random_crop_take_the_right_window():
    x = ramp()
    np.testing.assert_array_equal(CentreCrop(88)(x), x[..., 20:108, 20:108])
    for seed in range(5):
        out = RandomCrop(88, random.Random(seed))(x)
        first = int(out[0, 0, 0, 0].item())  # ramp values are unique: locate the window
        top, left = divmod(first, 128)
        assert 0 <= top <= 40 and 0 <= left <= 40
        np.testing.assert_array_equal(out, x[..., top : top + 88, left : left + 88])


def test_flip_mirrors_columns():
    x = ramp(2, 8)
    np.testing.assert_array_equal(HorizontalFlip(1.0)(x), x.numpy()[..., ::-1])
    assert HorizontalFlip(0.0)(x) is x


def test_cutout_masks_the_same_pixels_in_every_bin():
    x = torch.ones(5, 2, 88, 88)
    out = Cutout(rng=random.Random(0))(x)
    zero = out == 0
    assert zero.any() and (zero == zero[0:1, 0:1]).all()
    assert zero[0, 0].float().mean() < 0.25


def test_time_mask_zeros_whole_bins_only():
    x = torch.ones(90, 2, 8, 8)
    out = TimeMask(rng=random.Random(1))(x)
    per_bin = out.sum(dim=(1, 2, 3))
    assert set(per_bin.tolist()) <= {0.0, 128.0} and (per_bin == 0).any()
    assert x.sum() == 90 * 128  # input untouched


def test_zoom_keeps_shape_and_mass_roughly():
    x = torch.zeros(3, 2, 88, 88)
    x[:, :, 40:48, 40:48] = 1
    for seed in range(6):
        out = Zoom(rng=random.Random(seed))(x)
        assert out.shape == x.shape
        assert 0.3 * x.sum() < out.sum() < 3 * x.sum()


def test_dataset_item_is_the_signed_reference_binning_centre_cropped(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    ev = make_events(np.sort(rng.integers(0, 1_500_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))
    save_clip(tmp_path / "test" / "water" / "0.npy", ev)
    ds = DvsLipDataset(tmp_path, "test", ["about", "water"])
    x, label = ds[0]
    assert label == 1 and x.shape == (90, 2, 88, 88)
    # independent count: events inside the centre 88 window and the first 90 bins
    b = np.round(ev["t"] / (4e4 / 3))
    inside = (b < 90) & (ev["x"] >= 20) & (ev["x"] < 108) & (ev["y"] >= 20) & (ev["y"] < 108)
    assert x[:, 0].sum() == (inside & (ev["p"] == 1)).sum()
    assert x[:, 1].sum() == -(inside & (ev["p"] == 0)).sum()
    varlen = DvsLipDataset(tmp_path, "test", ["about", "water"], bins=None)
    assert varlen[0][0].shape[0] == int(np.round(ev["t"][-1] / (4e4 / 3))) + 1


@pytest.mark.slow
def test_cached_dataset_gives_the_same_items_and_rebuilds_when_the_folder_changes(tmp_path):
    rng = np.random.default_rng(1)
    for k in range(3):
        n = 3000
        ev = make_events(np.sort(rng.integers(0, 1_300_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
                         rng.integers(0, 2, n))
        save_clip(tmp_path / "data" / "test" / ("about", "water")[k % 2] / f"{k}.npy", ev)
    words = ["about", "water"]
    plain = DvsLipDataset(tmp_path / "data", "test", words)
    cached = DvsLipDataset(tmp_path / "data", "test", words, cache=tmp_path / "cache")
    files = list((tmp_path / "cache").glob("*.npy"))
    assert len(files) == 1 and len(cached) == 3
    for i in range(3):
        (a, la), (b, lb) = plain[i], cached[i]
        assert la == lb and torch.equal(a, b)
    stamp = files[0].stat().st_mtime_ns
    DvsLipDataset(tmp_path / "data", "test", words, cache=tmp_path / "cache")
    assert files[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    save_clip(tmp_path / "data" / "test" / "water" / "9.npy", make_events([10], [64], [64], [1]))
    grown = DvsLipDataset(tmp_path / "data", "test", words, cache=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2 and grown[3][0].sum() == 1
    loader = torch.utils.data.DataLoader(grown, batch_size=2, num_workers=1)  # the memmap reopens in the worker
    assert sum(len(y) for _, y in loader) == 4


def test_pad_collate_pads_to_longest():
    batch = [(torch.ones(3, 2, 4, 4), 0), (torch.ones(5, 2, 4, 4), 1)]
    x, y, lengths = pad_collate(batch)
    assert x.shape == (2, 5, 2, 4, 4) and lengths.tolist() == [3, 5] and x[0, 3:].sum() == 0 and y.tolist() == [0, 1]


def test_train_transform_output_shape():
    assert train_transform()(torch.rand(90, 2, 128, 128)).shape == (90, 2, 88, 88)
    assert eval_transform()(torch.rand(90, 2, 128, 128)).shape == (90, 2, 88, 88)


def test_a_network_reading_a_wider_window_gets_that_window_everywhere(tmp_path):
    """A config's input_size is the centre crop it reads: the evaluation crop, the training crop
    (drawn from 8 px more, as the paper's 88 from 96) and the binned cache all follow it."""
    assert input_side({}) == 88 and input_side({"input_size": 104}) == 104
    assert [train_side(s) for s in (88, 104, 124, 128)] == [96, 112, 128, 128]
    x = ramp()
    assert torch.equal(eval_transform(104)(x), x[..., 12:116, 12:116])
    crops = [train_transform(False, False, side=104)(x) for _ in range(40)]
    lefts = {int(min(c[0, 0, 0, 0], c[0, 0, 0, -1]) % 128) for c in crops}  # the crop's first column (or flipped)
    assert all(c.shape == (10, 2, 104, 104) for c in crops) and lefts <= set(range(8, 17)) and len(lefts) > 3
    rng = np.random.default_rng(2)
    n = 4000
    ev = make_events(np.sort(rng.integers(0, 1_000_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
                     rng.integers(0, 2, n))
    save_clip(tmp_path / "data" / "test" / "water" / "0.npy", ev)
    plain = DvsLipDataset(tmp_path / "data", "test", ["about", "water"], side=104)
    cached = DvsLipDataset(tmp_path / "data", "test", ["about", "water"], side=104, cache=tmp_path / "cache")
    narrow = DvsLipDataset(tmp_path / "data", "test", ["about", "water"], cache=tmp_path / "cache")
    assert plain[0][0].shape == (90, 2, 104, 104) and torch.equal(plain[0][0], cached[0][0])
    assert np.load(cached.cache.path, mmap_mode="r").shape[-1] == 112 and narrow.cache.path != cached.cache.path
    assert torch.equal(narrow[0][0], plain[0][0][..., 8:96, 8:96])
