"""The keyframe step in onnxruntime (umo.models.onnx_step) gives the PyTorch step's frames: offline,
streamed in any chunks, in the server's batched rounds, and for the bundled model on real speech;
graphs of other weights and files that are not graphs are refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.test_umo_streaming import speech, tiny  # noqa: F401 (fixture)
from serve.test_serve_batching import _assert_equal, _rounds
from umo.constants import REGION_DIMS, SAMPLE_RATE
from umo.errors import UmoError
from umo.formats.audio import load_audio
from umo.models.stepper import Stepper

pytest.importorskip("onnxruntime")
from umo.models.onnx_step import KeyframeGraph, export_keyframes, model_fingerprint  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    """A tiny model whose window wraps (3 steps), with a mouth head, and its exported graph."""
    torch.set_num_threads(1)
    model = tiny(window_steps=3, mouth_dim=16, mouth_dilations=(1, 2))
    path = export_keyframes(model, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return model, KeyframeGraph(path, model)


def _stream(model, graph, audio: np.ndarray, sizes, seed: int) -> dict[str, np.ndarray]:
    session = model.stream(seed=seed, graph=graph)
    parts, pos, i = [], 0, 0
    while pos < audio.size:
        n = int(sizes[i % len(sizes)])
        parts.append(session.push(audio[pos:pos + n]))
        pos, i = pos + n, i + 1
    parts.append(session.flush())
    return {r: np.concatenate([p[r] for p in parts]) for r in REGION_DIMS}


@pytest.mark.parametrize("sizes", [[160], [4000], list(np.random.default_rng(2).integers(1, 3000, size=40))])
def test_onnx_stream_equals_the_pytorch_generate(tiny_graph, speech, sizes):
    model, graph = tiny_graph
    ref = model.generate(torch.from_numpy(speech), seed=5)
    got = _stream(model, graph, speech, sizes, seed=5)
    for r in REGION_DIMS:
        assert got[r].shape == tuple(ref[r].shape)
        np.testing.assert_allclose(got[r], ref[r].numpy(), atol=1e-4, rtol=0, err_msg=r)


@pytest.mark.parametrize("max_wave", [12, 1])
def test_onnx_batched_rounds_equal_generate(tiny_graph, monkeypatch, max_wave):
    """max_wave 1: waves of one stream run in the graph, larger ones in PyTorch, on the same KV rings."""
    from umo.models import onnx_step

    monkeypatch.setattr(onnx_step, "ONNX_MAX_WAVE", max_wave)
    model, graph = tiny_graph
    clips = [load_audio(FIXTURES / n)[: int(s * SAMPLE_RATE)]
             for n, s in (("jfk.flac", 2.5), ("arctic_a0009.wav", 1.7), ("arctic_a0007.wav", 0.9))]
    ref = [model.generate(torch.from_numpy(a), seed=k) for k, a in enumerate(clips)]
    st = Stepper(model, graph)
    states = [st.new_state(k) for k in range(3)]
    outs = _rounds(st, states, clips, np.random.default_rng(1), [0, 17, 160, 533, 1600, 5000], skip=0.2)
    _assert_equal(outs, ref)
    assert all(s.key.steps > 3 for s in states)  # past the ring's W = 3 steps: it wrapped
    assert st.pool.in_use() == 3
    for s in states:
        st.release(s)
    assert st.pool.in_use() == 0


def test_bundled_graph_is_the_bundled_weights_and_gives_their_frames():
    from umo.inference import DEFAULT_GRAPH, ModelAnimator, default_weights_available

    if not default_weights_available():
        pytest.skip("no bundled model in this install")
    fast = ModelAnimator(engine="auto")  # auto picks the bundled graph: it was exported from these weights
    assert fast.engine == "onnx" and fast.graph.path == DEFAULT_GRAPH, \
        "the bundled ONNX graph is missing or stale: umo export src/umo/models/weights/default.safetensors " \
        "-o src/umo/models/weights/default.keyframes.onnx"
    ref = ModelAnimator(engine="torch")
    audio = load_audio(FIXTURES / "arctic_a0009.wav")
    a, b = fast.animate(audio), ref.animate(audio)
    assert a.num_frames == b.num_frames
    np.testing.assert_allclose(a.face, b.face, atol=1e-4, rtol=0)
    np.testing.assert_allclose(a.body, b.body, atol=1e-4, rtol=0)


def test_other_weights_and_other_files_are_refused(tiny_graph, tmp_path):
    from umo.inference import keyframe_graph

    model, graph = tiny_graph
    other = tiny(window_steps=3, mouth_dim=16, mouth_dilations=(1, 2))
    with torch.no_grad():
        other.audio_tok.weight.add_(1e-3)
    assert model_fingerprint(other) != model_fingerprint(model)
    with pytest.raises(UmoError, match="other weights"):
        KeyframeGraph(graph.path, other)
    with pytest.raises(UmoError, match="other weights"):
        keyframe_graph(other, "onnx", graph=graph.path)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(UmoError, match="not an ONNX model"):
        KeyframeGraph(bad, model)
    with pytest.raises(UmoError, match="not found"):
        KeyframeGraph(tmp_path / "missing.onnx", model)
    with pytest.raises(UmoError, match="engine must be one of"):
        keyframe_graph(model, "tensorrt")
    assert keyframe_graph(model, "torch") is None
    assert keyframe_graph(other, "auto") is None  # no graph of these weights at hand: PyTorch, no export


def test_cli_export_then_animate_with_either_engine(tmp_path, monkeypatch, capsys):
    """umo export -o X.onnx, umo animate --onnx X.onnx / --engine torch / --engine onnx (exporting into the
    cache once): the same face.csv to 1e-4 (written with 6 decimals)."""
    import dataclasses

    from umo.cli import main
    from umo.formats.livelink import read_livelink
    from umo.inference import graph_cache_dir
    from umo.training.checkpoint import FORMAT, FORMAT_VERSION, write_safetensors

    model = tiny(window_steps=3)
    weights = write_safetensors(tmp_path / "tiny.safetensors", model.state_dict(),
                                {"format": FORMAT, "version": FORMAT_VERSION, "kind": "inference",
                                 "model_config": dataclasses.asdict(model.cfg)})
    monkeypatch.setenv("UMO_CACHE", str(tmp_path / "cache"))
    assert main(["export", str(weights), "-o", str(tmp_path / "tiny.onnx")]) == 0
    audio = str(FIXTURES / "arctic_a0009.wav")
    faces = {}
    for name, extra in (("given", ["--onnx", str(tmp_path / "tiny.onnx")]), ("torch", ["--engine", "torch"]),
                        ("cached", ["--engine", "onnx"])):
        capsys.readouterr()
        assert main(["animate", audio, "--model", str(weights), "-o", str(tmp_path / name), "--no-preview",
                     "--no-body", *extra]) == 0
        err = capsys.readouterr().err
        assert ("keyframe steps: PyTorch" if name == "torch" else "keyframe steps: onnxruntime") in err, err
        faces[name] = read_livelink(tmp_path / name / "face.csv").face
    assert [p.suffix for p in graph_cache_dir().iterdir()] == [".onnx"]  # --engine onnx exported it once
    for name in ("given", "cached"):
        np.testing.assert_allclose(faces[name], faces["torch"], atol=1e-4, rtol=0, err_msg=name)
