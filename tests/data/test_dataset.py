"""WindowDataset: the batch contract (shapes, dtypes, masks), alignment, augmentation, loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from umo.constants import lip_aperture
from umo.data.augment import AugmentConfig
from umo.data.dataset import SOURCES, WindowDataset, samples_for_frames
from umo.data.shards import ShardWriter, frames_for_samples
from umo.data.synth import synthesize_corpus
from umo.errors import UmoError

T = 96
S = T * 1600 // 3
CONTRACT = {
    "audio": ((S,), torch.float32), "face": ((T, 61), torch.float32), "body": ((T, 36), torch.float32),
    "hands": ((T, 138), torch.float32), "phones": ((T,), torch.int64), "face_mask": ((61,), torch.float32),
    "has_body": ((), torch.float32), "has_hands": ((), torch.float32), "frame_mask": ((T,), torch.float32),
    "source_id": ((), torch.int64),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synthesize_corpus(out, hours=60 / 3600, seed=1, progress=False, clips_per_shard=8)
    return out


@pytest.fixture(scope="module")
def ramp_corpus(tmp_path_factory):
    """Clips whose audio sample n is n / 250000 and whose face channel 0 at frame i is i: alignment
    can be read off exactly. Clip "custom/short" (40 frames) is shorter than a window; a FACEGOOD-like
    clip has only some face channels and no body."""
    out = tmp_path_factory.mktemp("ramp")
    with ShardWriter(out, clips_per_shard=2) as w:
        for k, (n_frames, source) in enumerate([(400, "custom"), (40, "custom"), (300, "facegood")]):
            s = n_frames * 1600 // 3
            t = frames_for_samples(s)
            face = np.zeros((t, 61), np.float32)
            face[:, 0] = np.arange(t) / 1000.0
            mask = np.ones(61, bool) if source == "custom" else np.arange(61) < 30
            w.add("custom/short" if n_frames == 40 else f"{source}/{k}", source,
                  (np.arange(s) / 250_000).astype(np.float32), {"face": face * mask}, np.zeros(t, np.int64),
                  mask, has_body=False, has_hands=False)
    return out


def test_contract(corpus):
    ds = WindowDataset([corpus])
    assert len(ds) == ds.total_frames // T
    item = ds[0]
    assert set(item) == set(CONTRACT)
    for k, (shape, dtype) in CONTRACT.items():
        assert tuple(item[k].shape) == shape and item[k].dtype == dtype, k
    assert item["source_id"].item() == SOURCES.index("synth")
    assert item["face_mask"].all() and item["has_body"] == 1 and item["frame_mask"].all()
    assert (item["phones"] >= 0).all()
    assert samples_for_frames(T) == S
    # deterministic per (seed, epoch, index); new windows with set_epoch
    assert torch.equal(ds[3]["audio"], WindowDataset([corpus])[3]["audio"])
    ds.set_epoch(1)
    assert not torch.equal(ds[3]["audio"], WindowDataset([corpus])[3]["audio"])


def test_lips_follow_the_audio(corpus):
    ds = WindowDataset([corpus])
    edges = (np.arange(T + 1) * 1600 + 1) // 3
    rs = []
    for i in range(min(len(ds), 24)):
        it = ds[i]
        a = it["audio"].numpy()
        loud = np.array([np.sqrt(np.mean(a[edges[j]:edges[j + 1]] ** 2)) for j in range(T)])
        lip = lip_aperture(it["face"][:, :52].numpy())
        if loud.std() > 0 and lip.std() > 0:
            rs.append(np.corrcoef(loud, lip)[0, 1])
    assert len(rs) > 10 and np.mean(rs) > 0.3


def test_exact_alignment_and_padding(ramp_corpus):
    ds = WindowDataset([ramp_corpus], windows_per_epoch=40)
    seen_short = seen_partial = False
    for i in range(40):
        it = ds[i]
        real = int(it["frame_mask"].sum())
        first = round(it["face"][0, 0].item() * 1000)  # the window's first frame in its clip
        # frame j of the window starts at sample j * 1600 / 3 of the window: the clip's sample of frame first + j
        for j in range(0, real, 7):
            expect = (first + j) * 1600 / 3 / 250_000
            # within 6 samples (int16 storage quantises the ramp to 1 / 32767 = 7.6 samples)
            assert abs(it["audio"][int(round(j * 1600 / 3))].item() - expect) < 6 / 250_000
        assert np.allclose(it["face"][:real, 0].numpy() * 1000, first + np.arange(real), atol=0.3)  # float16 storage
        if real < T:
            seen_short = True
            assert (it["phones"][real:] == -1).all() and not it["face"][real:].any()
            assert not it["audio"][samples_for_frames(real) + 1:].any()
        if it["source_id"] == SOURCES.index("facegood"):
            seen_partial = True
            assert it["face_mask"].sum() == 30 and not it["face"][:, 30:].any() and it["has_body"] == 0
    assert seen_short and seen_partial


def test_filters_and_weights(ramp_corpus, corpus):
    only = WindowDataset([ramp_corpus, corpus], sources={"facegood"}, windows_per_epoch=10)
    assert all(only[i]["source_id"] == SOURCES.index("facegood") for i in range(10))
    no_short = WindowDataset([ramp_corpus], exclude={"short"}, windows_per_epoch=30)
    assert all(no_short[i]["frame_mask"].all() for i in range(30))
    heavy = WindowDataset([ramp_corpus, corpus], source_weights={"facegood": 1000.0}, windows_per_epoch=20)
    assert np.mean([heavy[i]["source_id"] == SOURCES.index("facegood") for i in range(20)]) > 0.8
    with pytest.raises(UmoError, match="multiple of 3"):
        WindowDataset([corpus], window_frames=100)
    with pytest.raises(UmoError, match="source"):
        WindowDataset([corpus], sources={"nope"})
    with pytest.raises(UmoError, match="no clips"):
        WindowDataset([corpus], sources={"beat"})


def test_augmentation_on_and_off(corpus):
    plain = WindowDataset([corpus])
    aug = WindowDataset([corpus], augment=AugmentConfig(p_speed=1.0, p_noise=1.0))
    a, b = plain[5], aug[5]
    for k, (shape, dtype) in CONTRACT.items():
        assert tuple(b[k].shape) == shape and b[k].dtype == dtype
    assert not torch.equal(a["audio"], b["audio"])
    assert torch.equal(b["audio"], aug[5]["audio"])  # seeded
    off = WindowDataset([corpus], augment=AugmentConfig.off())
    assert torch.equal(off[5]["audio"], a["audio"]) and torch.equal(off[5]["face"], a["face"])


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader(corpus, workers):
    ds = WindowDataset([corpus], augment=AugmentConfig(), windows_per_epoch=8)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers, shuffle=True)
    batches = list(loader)
    assert len(batches) == 2
    for k, (shape, dtype) in CONTRACT.items():
        assert tuple(batches[0][k].shape) == (4,) + shape and batches[0][k].dtype == dtype
