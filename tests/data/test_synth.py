"""The synthetic corpus: varied, deterministic for a seed, resumable after a kill; and its text."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from umo.constants import MODEL_FPS
from umo.data.sentences import (
    LANGUAGES,
    TEMPLATES,
    expand,
    sample_sentences,
    written_sentences,
)
from umo.data.shards import INDEX, ShardReader, frames_for_samples, shard_name
from umo.data.synth import clip_spec, rasterize_phones, synthesize_corpus
from umo.errors import UmoError
from umo.speech.units import PHONES, Phone, Timing

HOURS = 40 / 3600  # 40 s of audio: a dozen clips


def _same_corpus(a, b):
    ra, rb = ShardReader(a), ShardReader(b)
    assert ra.ids() == rb.ids()
    for i in range(len(ra)):
        ca, cb = ra.clip(i), rb.clip(i)
        assert np.array_equal(ca.audio, cb.audio) and np.array_equal(ca.face, cb.face)
        assert np.array_equal(ca.body, cb.body) and np.array_equal(ca.phones, cb.phones)
        assert ca.meta == cb.meta


def test_corpus_contents_and_determinism(tmp_path):
    info = synthesize_corpus(tmp_path / "a", HOURS, seed=5, progress=False, clips_per_shard=4)
    assert info.hours * 3600 >= 40 and info.clips == info.new_clips > 5 and info.shards >= 2
    assert info.speed > 1.0  # faster than real time on any machine
    r = ShardReader(tmp_path / "a")
    for i in range(len(r)):
        c = r.clip(i)
        assert c.source == "synth" and c.face_mask.all() and c.has_body and c.has_hands and c.has_phones
        assert c.num_frames == frames_for_samples(len(c.audio))
        assert (c.phones >= 0).all() and (c.phones > 0).mean() > 0.3  # mostly speech, some silence
        assert c.face[:, :52].min() >= 0 and c.face[:, :52].max() <= 1 and c.body.std() > 0
        assert c.meta["text"] and 120 <= c.meta["rate"] <= 260 and 20 <= c.meta["pitch"] <= 80
    synthesize_corpus(tmp_path / "b", HOURS, seed=5, progress=False, clips_per_shard=4)
    _same_corpus(tmp_path / "a", tmp_path / "b")


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    full = synthesize_corpus(tmp_path / "full", HOURS, seed=2, progress=False, clips_per_shard=3)
    assert full.shards >= 3
    # a run killed while filling its third shard leaves two complete shards and their index
    killed = tmp_path / "killed"
    killed.mkdir()
    index = json.loads((tmp_path / "full" / INDEX).read_text())
    index["shards"], index["clips"] = index["shards"][:2], index["clips"][:6]
    (killed / INDEX).write_text(json.dumps(index))
    for k in range(2):
        shutil.copy(tmp_path / "full" / shard_name(k), killed / shard_name(k))
    (killed / (shard_name(2) + ".tmp")).write_bytes(b"half a shard")
    resumed = synthesize_corpus(killed, HOURS, seed=2, progress=False, clips_per_shard=3)
    assert resumed.new_clips == full.clips - 6
    _same_corpus(tmp_path / "full", killed)
    # extending: a larger target continues the same corpus, as a longer fresh run would make it
    more = synthesize_corpus(killed, 2 * HOURS, seed=2, progress=False, clips_per_shard=3)
    assert more.clips > full.clips
    synthesize_corpus(tmp_path / "long", 2 * HOURS, seed=2, progress=False, clips_per_shard=3, workers=2)
    _same_corpus(tmp_path / "long", killed)
    with pytest.raises(UmoError, match="other settings"):
        synthesize_corpus(killed, HOURS, seed=3, progress=False, clips_per_shard=3)


def test_specs_are_varied():
    specs = [clip_spec(0, j) for j in range(300)]
    langs = {s.language for s in specs}
    assert langs == set(LANGUAGES)
    assert 0.55 < np.mean([s.language == "en" for s in specs]) < 0.85
    assert len({s.voice for s in specs}) > 60
    assert any("+klatt" in s.voice for s in specs) and any(s.voice == "en-us" for s in specs)
    rates = [s.rate for s in specs]
    assert min(rates) < 140 and max(rates) > 240
    assert len({s.text for s in specs}) > 250
    assert clip_spec(0, 7) == clip_spec(0, 7) != clip_spec(1, 7)


def test_rasterize_phones():
    t = Timing([Phone("SIL", 0.0, 0.1), Phone("HH", 0.1, 0.2), Phone("AY", 0.2, 0.5, 1, 0)])
    ph = rasterize_phones(t, 20, MODEL_FPS)  # frame i at i / 30 s
    names = [PHONES[i] for i in ph]
    assert names[:3] == ["SIL"] * 3 and names[3:6] == ["HH"] * 3 and names[6:15] == ["AY"] * 9
    assert names[15:] == ["SIL"] * 5  # after the last phone
    assert (rasterize_phones(Timing(), 4) == 0).all()


def test_sentences():
    assert len(written_sentences("en")) >= 250
    for lang in LANGUAGES:
        assert len(written_sentences(lang)) >= 30
        rng = np.random.default_rng(0)
        s = sample_sentences(50, rng, lang)
        assert len(s) == 50 and all(x.strip() for x in s) and len(set(s)) > 25
        assert s == sample_sentences(50, np.random.default_rng(0), lang)
        for tpl in TEMPLATES[lang]:
            text = expand(tpl, rng, lang)
            assert not re.search(r"[{}]", text), text
    with pytest.raises(UmoError, match="language"):
        sample_sentences(1, np.random.default_rng(0), "xx")
