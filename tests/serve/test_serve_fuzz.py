"""Property-based fuzzing (hypothesis) of umo serve's protocol: arbitrary JSON values, strings and
bytes, to the message parsers and to a real running server. Every input gives either a correct
result or a clear error (UmoError; on the socket one "error" message then close code 1008), never
another exception, a traceback sent to the client, a server fault (1011) or a hang.

The example counts are small (the whole file runs in well under a minute on 2 cores); the
strategies lean towards almost-valid messages so that the fuzzing gets past "start"."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umo.constants import EMOTIONS
from umo.errors import UmoError
from umo.serve import protocol as P
from umo.serve.server import CLOSE_NORMAL, CLOSE_POLICY, running_server

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect

# no example database: the checkout is shared, and a failing example is printed by hypothesis anyway
PARSER_SETTINGS = settings(max_examples=300, deadline=None, database=None)
SERVER_SETTINGS = settings(max_examples=40, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RECV_TIMEOUT_S = 10.0  # no answer within this: the server hangs

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-10**400, max_value=10**400)
    | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)
# values that some field accepts, so that random messages are often valid
PLAUSIBLE = [16000, 8000, 44100, 48000, 4000, 16000.0, "pcm_s16le", "pcm_f32le", "json", "binary", ["face"],
             ["face", "body"], ["head", "eyes"], 30, 0, 7, 2**31, "hello there", "",
             [["AA", 0.1, 0.2]], [["SIL", 0, 0.5], ["hh", 0.5, 0.6], ["ah1", 0.6, 0.9]], [["AA", 0.3, 0.2]],
             "happy", "Sad", "glad", 0.5, 1.5, "text", "audio", "en-us", "Hi. How are you?"]
FIELDS = sorted(set().union(*P.MESSAGE_FIELDS.values()) - {"type"})
field_values = st.sampled_from(PLAUSIBLE) | json_values


def messages_of(kind) -> st.SearchStrategy[dict]:
    return st.builds(lambda k, fields: {**fields, "type": k}, kind,
                     st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), field_values, max_size=4))


message_dicts = messages_of(st.sampled_from(sorted(P.MESSAGE_FIELDS)) | st.text(max_size=6))
start_dicts = messages_of(st.just("start")) | st.fixed_dictionaries(
    {"type": st.just("start")}, optional={"sample_rate": st.sampled_from([8000, 16000, 22050, 44100]),
                                          "encoding": st.sampled_from(sorted(P.ENCODINGS)),
                                          "format": st.sampled_from(P.FORMATS), "seed": st.integers(0, 9)})
deep_json = st.integers(1, 30_000).map(lambda n: "[" * n + "]" * n)  # up to the 64 KiB text limit
text_messages = (message_dicts.map(json.dumps) | json_values.map(json.dumps) | st.text(max_size=80) | deep_json)
audio = (st.binary(max_size=4000)
         | st.integers(0, 4000).map(lambda n: (np.sin(np.arange(n) / 7.0) * 8000).astype("<i2").tobytes()))
any_message = text_messages | audio


# ------------------------------------------------------------------------------ the parsers
@PARSER_SETTINGS
@given(text=text_messages)
def test_parse_json_gives_a_typed_object_or_a_clear_error(text):
    try:
        msg = P.parse_json(text)
    except UmoError as e:
        assert str(e)
        return
    assert isinstance(msg, dict) and isinstance(msg["type"], str)


@PARSER_SETTINGS
@given(msg=message_dicts | start_dicts)
def test_message_parsers_give_a_valid_result_or_a_clear_error(msg):
    parsers = {"start": P.parse_start, "end": P.parse_end, "text": P.parse_text,
               "phones": lambda m: P.parse_phones(m, 3600.0), "emotion": P.parse_emotion}
    for kind, parse in parsers.items():
        try:
            out = parse(msg)
        except UmoError as e:
            assert str(e) and len(str(e)) < 1000  # a bad value is shown cut short, not echoed whole
            continue
        assert msg["type"] == kind and set(msg) <= P.MESSAGE_FIELDS[kind]
        if kind == "start":
            assert P.MIN_RATE <= out.sample_rate <= P.MAX_RATE and out.encoding in P.ENCODINGS
            assert out.format in P.FORMATS and out.outputs and set(out.outputs) <= set(P.OUTPUTS)
            assert isinstance(out.seed, int) and 0 <= out.seed < 2**31 and (out.text is None or isinstance(out.text, str))
        elif kind == "text":
            assert isinstance(out, str)
        elif kind == "emotion":
            assert out.emotion in EMOTIONS and 0.0 <= out.intensity <= 1.0
        elif kind == "phones":
            starts = [s for _, s, _ in out]
            assert out and starts == sorted(starts)
            assert all(0 <= s <= e <= 3600.0 and math.isfinite(e) for _, s, e in out)


@PARSER_SETTINGS
@given(data=st.binary(max_size=2000), encoding=st.sampled_from(sorted(P.ENCODINGS)))
def test_decode_pcm_gives_bounded_samples_or_a_clear_error(data, encoding):
    try:
        x = P.decode_pcm(data, encoding)
    except UmoError:
        assert len(data) % P.ENCODINGS[encoding] or encoding == "pcm_f32le"
        return
    assert x.dtype == np.float32 and x.size == len(data) // P.ENCODINGS[encoding]
    assert np.all(np.isfinite(x)) and np.all(np.abs(x) <= P.FLOAT_PEAK_LIMIT)


# ------------------------------------------------------------------------------ a running server
@pytest.fixture(scope="module")
def fuzz_server():
    from umo.models import UmoModel, get_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = UmoModel(get_config("tiny")).eval()
    # a short audio-idle limit: a session left open without "end" errs within half a second
    limits = P.Limits(idle_timeout_s=10.0, audio_idle_timeout_s=0.5)
    with running_server(model, engine="thread", limits=limits) as srv:
        yield srv


@SERVER_SETTINGS
@given(first=start_dicts.map(json.dumps) | any_message, rest=st.lists(any_message, max_size=6),
       end=st.sampled_from([True, True, True, False]))
def test_a_running_server_answers_anything_with_frames_or_one_clear_error(fuzz_server, first, rest, end):
    sent = [first, *rest] + ([json.dumps({"type": "end"})] if end else [])
    received: list = []
    with connect(fuzz_server.url, max_size=None, close_timeout=RECV_TIMEOUT_S) as ws:
        try:
            for m in sent:
                ws.send(m)
        except websockets.ConnectionClosed:  # the server closed after an error while we were sending
            pass
        try:
            while True:
                received.append(ws.recv(timeout=RECV_TIMEOUT_S))  # TimeoutError: a hang
        except websockets.ConnectionClosed:
            pass
        code = ws.close_code
    texts = [json.loads(m) for m in received if isinstance(m, str)]
    kinds = [m["type"] for m in texts]
    assert set(kinds) <= {"ready", "frames", "warning", "error", "done", "audio"}, kinds
    assert kinds and kinds[-1] in ("error", "done") and kinds.count("error") + kinds.count("done") == 1, kinds
    if kinds[-1] == "error":
        msg = texts[-1]["message"]
        assert code == CLOSE_POLICY, (code, msg)  # 1011 would be a fault of the server's own
        assert msg and "Traceback" not in msg and 'File "' not in msg
    else:  # a correct stream: ready, then every frame once, in order, as many as "done" says
        assert code == CLOSE_NORMAL and kinds[0] == "ready"
        ready, done = texts[0], texts[-1]
        starts, counts, pcm_next = [], [], False
        for m in received:
            if isinstance(m, bytes) and pcm_next:  # a text session's speech, after its "audio" header
                pcm_next = False
                continue
            if isinstance(m, bytes):
                f = P.parse_frames_binary(m)
                starts.append(f["start"])
                counts.append(next(iter(v for k, v in f.items() if k in P.OUTPUTS)).shape[0])
            elif json.loads(m)["type"] == "audio":
                pcm_next = True
            elif json.loads(m)["type"] == "frames":
                f = json.loads(m)
                starts.append(f["start"])
                counts.append(len(f["frames"]))
        assert starts == list(np.cumsum([0] + counts[:-1])) and sum(counts) == done["frames"]
        assert abs(done["frames"] - done["duration_s"] * 30) <= 1.5  # ceil(audio * 30), resampled or not
        assert ready["format"] in P.FORMATS
    for _ in range(100):  # the session is gone from the server, whatever happened
        if not fuzz_server.sessions:
            break
        time.sleep(0.05)
    assert not fuzz_server.sessions
