"""`umo send` end to end: a take written by the rule animator, played by the real command in a
subprocess to python-osc's OSC server (VMC) and a UDP socket (Live Link Face) on 127.0.0.1; what
arrives is checked against the take's own files. Its errors, and Ctrl-C."""

from __future__ import annotations

import csv
import json
import logging
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from umo.cli import main
from umo.constants import ARKIT_NAMES, LIVELINK_CURVES
from umo.live import vmc as V

MIRROR = np.diag([-1.0, 1.0, 1.0])  # umo's frame -> Unity's (docs/live.md)


def umo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "umo", *args]


def read_csv(path) -> tuple[list[str], np.ndarray]:
    """face.csv by the csv module, by column name: (curve names, (T, 61) values)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0][2:], np.array([[float(v) for v in r[2:]] for r in rows[1:]])


def test_send_plays_the_take_in_real_time_to_vmc_and_livelink(take, vmc_receiver, livelink_receiver):
    names, values = read_csv(take / "face.csv")
    n = len(values)
    proc = subprocess.run(umo_command("send", str(take), "--vmc", f"127.0.0.1:{vmc_receiver.port}",
                                      "--livelink", f"127.0.0.1:{livelink_receiver.port}",
                                      "--livelink-subject", "umo-test"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"sent {n} frames" in proc.stderr and "Traceback" not in proc.stderr
    time.sleep(0.3)  # the last datagrams' way through loopback

    # --- VMC: one frame per Blend/Apply, each complete and in the documented order
    frames = vmc_receiver.frames()
    assert len(frames) == n
    assert tuple(names[:52]) == ARKIT_NAMES
    times = []
    for i, frame in enumerate(frames):
        addresses = [a for _, a, _ in frame]
        assert addresses[:3] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos"]
        assert frame[0][2] == [1, 3, 0, 1] and frame[2][2] == ["root", 0, 0, 0, 0, 0, 0, 1]
        times.append(frame[1][2][0])
        bones = [args for _, a, args in frame if a == "/VMC/Ext/Bone/Pos"]
        blends = [args for _, a, args in frame if a == "/VMC/Ext/Blend/Val"]
        assert addresses[-1] == "/VMC/Ext/Blend/Apply" and len(addresses) == 3 + len(bones) + len(blends) + 1
        assert [b[0] for b in bones] == [b for b in V.BONE_NAMES if b not in V.LEG_BONES]  # a talk: legs at rest
        assert all(len(b) == 8 and abs(np.linalg.norm(b[4:]) - 1) < 1e-5 for b in bones)
        assert [b[0] for b in blends] == list(names[:52]) + list(V.VRM_PRESETS)
        got = dict((b[0], b[1]) for b in blends)
        want = values[i, :52]
        np.testing.assert_allclose([got[name] for name in names[:52]], want, atol=1e-7)
        presets = V.vrm_presets(want[None])[0]
        np.testing.assert_allclose([got[p] for p in V.VRM_PRESETS], presets, atol=1e-6)
        assert all(0.0 <= v <= 1.0 for v in got.values())
    assert np.all(np.diff(times) > 0)

    # the bones agree with body.bvh: the spine and neck chain's local rotations compose to the head's
    # global rotation, in Unity's frame; the hips sit at the root position, in metres
    from umo.formats.bvh import read_animation_bvh
    from umo.skeleton import forward_kinematics

    body = read_animation_bvh(take / "body.bvh")
    assert body.num_frames == n
    _, glob = forward_kinematics(body.skeleton, body.body, body.root_pos)
    head = body.skeleton.index("Head")
    chain = ["Hips", "Spine", "Chest", "UpperChest", "Neck", "Head"]
    for i in range(0, n, 7):
        pose = {args[0]: args[1:] for _, a, args in frames[i] if a == "/VMC/Ext/Bone/Pos"}
        composed = np.eye(3)
        for bone in chain:
            composed = composed @ Rotation.from_quat(pose[bone][3:]).as_matrix()
        np.testing.assert_allclose(composed, MIRROR @ glob[i, head] @ MIRROR, atol=2e-5)
        root = next(args for _, a, args in frames[i] if a == "/VMC/Ext/Root/Pos")
        np.testing.assert_allclose(np.add(root[1:4], pose["Hips"][:3]), MIRROR @ body.root_pos[i] / 100, atol=1e-6)

    # real time: the frames went out at the take's 30 fps, not in a burst
    applies = [f[-1][0] for f in frames]
    span = applies[-1] - applies[0]
    assert 0.85 * (n - 1) / 30 <= span <= (n - 1) / 30 + 1.0, span

    # --- Live Link: one packet per frame, the CSV's 61 values by name, the subject asked for
    packets = livelink_receiver.packets()
    assert len(packets) == n
    assert list(names) == list(LIVELINK_CURVES)
    for i, p in enumerate(packets):
        assert p.subject == "umo-test" and p.device_id and p.version == 6
        assert (p.frame_time.numerator, p.frame_time.denominator) == (30, 1)
        np.testing.assert_allclose(p.values, values[i], rtol=1e-6, atol=1e-7)
    # stamped with the time of day at 30 fps: it advances by about a frame per packet (unless midnight passed)
    stamps = np.array([p.frame_time.seconds for p in packets])
    if stamps[-1] > stamps[0]:
        assert np.all(np.diff(stamps) >= 0) and 0.85 * (n - 1) / 30 <= stamps[-1] - stamps[0] <= (n - 1) / 30 + 1.0


def test_send_plays_a_generated_walk_with_its_root_travel_and_legs(tmp_path, vmc_receiver):
    """`umo generate` writes body.bvh alone; `umo send` plays it with a still face: Root/Pos carries the
    walk's travel on the floor, Root/Pos + the Hips' position follows body.bvh's root, the legs go too."""
    from umo.formats.bvh import read_animation_bvh

    out = tmp_path / "walk"
    proc = subprocess.run(umo_command("generate", "walks forward 1 meter then turns left", "-o", str(out),
                                      "--seconds", "3"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "face.csv").exists()
    body = read_animation_bvh(out / "body.bvh")
    proc = subprocess.run(umo_command("send", str(out), "--vmc", f"127.0.0.1:{vmc_receiver.port}"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.3)
    frames = vmc_receiver.frames()
    assert len(frames) == body.num_frames
    travel = []
    for i, frame in enumerate(frames):
        root = next(args for _, a, args in frame if a == "/VMC/Ext/Root/Pos")
        pose = {args[0]: args[1:] for _, a, args in frame if a == "/VMC/Ext/Bone/Pos"}
        assert list(pose) == list(V.BONE_NAMES)  # the legs too
        world = np.add(root[1:4], pose["Hips"][:3])
        np.testing.assert_allclose(world, MIRROR @ body.root_pos[i] / 100, atol=1e-5)
        blends = [args[1] for _, a, args in frame if a == "/VMC/Ext/Blend/Val"]
        assert not any(blends)  # the face stays neutral
        travel.append(root[1:4])
    travel = np.array(travel)
    assert np.all(travel[:, 1] == 0) and np.linalg.norm(travel[-1] - travel[0]) > 0.9  # it walked a metre


def test_send_loops_until_ctrl_c_and_stops_cleanly(take, vmc_receiver, wait_until):
    n = len(read_csv(take / "face.csv")[1])
    proc = subprocess.Popen(umo_command("send", str(take), "--vmc", f":{vmc_receiver.port}", "--loop"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: vmc_receiver.applies() > n + 5, timeout=60), "the take did not loop"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped after" in err and "Traceback" not in err


@pytest.fixture
def cli_logging():
    """main() routes the "umo" logger and warnings to the stderr of the moment (here pytest's capture,
    closed after the test): put both back as they were."""
    logger = logging.getLogger("umo")
    saved = list(logger.handlers), logger.propagate, logger.level, warnings.showwarning
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[1]
    logger.setLevel(saved[2])
    warnings.showwarning = saved[3]


@pytest.mark.parametrize("args, message", [
    (["{missing}", "--vmc", ":39539"], "take folder not found"),
    (["{face}", "--vmc", ":39539"], "is not a folder"),
    (["{empty}", "--vmc", ":39539"], "holds no face.csv"),
    (["{take}", "--vmc", "localhost:port"], "the port must be a number from 1 to 65535"),
    (["{take}", "--vmc", "127.0.0.1:0"], "the port must be a number from 1 to 65535"),
    (["{take}", "--livelink", "::1:11111"], "IPv6 address in brackets"),
    (["{take}", "--vmc", "no-such-host.invalid:39539"], "cannot resolve the host"),
    (["{take}"], "nowhere to send to"),
    (["{take}", "--livelink", ":11111", "--livelink-subject", ""], "subject must not be empty"),
])
def test_send_errors_are_one_line_without_traceback(take, tmp_path, capsys, cli_logging, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nope", "face": take / "face.csv", "empty": tmp_path / "empty", "take": take}
    argv = ["send"] + [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("umo: error: ") and message in err and "Traceback" not in err, err


def test_the_send_parser_loads_no_numpy_nor_python_osc():
    """`umo send --help` and its parsing stay as quick as `umo --help` (tests/test_startup.py)."""
    code = ("import json, sys\nfrom umo.cli import build_parser\n"
            "build_parser(['send', 't', '--vmc', ':1']).parse_args(['send', 't', '--vmc', ':1'])\n"
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    roots = {m.split(".")[0] for m in json.loads(proc.stdout.splitlines()[-1])}
    assert not roots & {"numpy", "torch", "scipy", "pythonosc"}
