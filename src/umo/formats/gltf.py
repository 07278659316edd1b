"""Animated glTF 2.0 out: the preview character and the take's animation in one file.

    write_gltf(anim, "take.glb")    binary glTF: a JSON chunk and one BIN chunk
    write_gltf(anim, "take.gltf")   JSON glTF with the buffer embedded as a base64 ``data:`` URI

What the file holds (https://registry.khronos.org/glTF/specs/2.0/glTF-2.0.html):

    nodes      the canonical skeleton, one node per joint in ``umo.constants.JOINT_NAMES`` order (node
               index = joint index), rest offsets of ``umo.skeleton`` in metres, Hips the root;
               ``umoBody`` (the skinned mannequin, at the scene root as skinned meshes must be);
               ``umoHead`` under the Head joint, ``LeftEye`` / ``RightEye`` under the head
    skins      ``umoSkeleton``: the 75 joints, inverse bind matrices of the rest pose
    meshes     ``umoBody``: tubes, joint spheres, palms and a torso (``umo.character.body_mesh``),
               skinned; ``umoHead``: the head with the 52 ARKit morph targets in Live Link order,
               named in ``mesh.extras.targetNames`` (sparse accessors: a target stores only the
               vertices it moves); ``umoEye``: the eyeball. Vertex colours (COLOR_0), no textures.
    animations one, "umo": LINEAR samplers on one time track (float32 seconds, frame i at i / fps):
               the rotation (quaternion x, y, z, w) of every joint that moves, the translation of
               Hips when the root moves, the head's 52 morph weights per frame (the face values as
               float32, unclipped), the rotation of each eye that moves
    extras     ``asset.extras``: fps, frames, and ``audio``: the name of the WAV beside the file

The nodes' own transforms and the head's default weights are frame 0's, so a viewer that does not
play the animation shows the take's first frame.

Head rotation, as the pipeline does it: umo's animator writes the head yaw/pitch/roll into the neck
chain (``umo.skeleton.add_head_to_body``), so a body whose neck chain moves is written as it is; a
body whose neck chain is still gets ``anim.head`` added there; without a body the character stands
in the rule animator's relaxed rest pose (``umo.animator.gestures.rest_pose``) with the head on its
neck chain. Eyes turn about their centres by ``R = Ry(-yaw) Rx(pitch) Rz(roll)``, as the preview turns
them: Live Link's eye yaw is positive towards the character's right (LeftEyeYaw > 0 goes with
EyeLookInLeft), the other way round from the head's.

Audio: glTF has no standard way to carry sound, and none is invented here; ``umo convert ... --audio``
writes the take's audio beside the file (same stem, .wav) and names it in ``asset.extras.audio``.

Reading back: :func:`read_gltf` turns such a file (or any glTF whose joints carry the canonical
joint names with the canonical rest pose, and whose morph targets carry ARKit names) into an
Animation, so ``umo convert take.glb take.html`` shows it in the preview, and ``.csv`` / ``.bvh``
come back out. Head angles are read from the neck chain (its whole rotation as yaw/pitch/roll).

Memory: the buffer is laid out first (sizes are known), then written piece by piece, the long tracks
a block of frames (or one joint) at a time, so an hour's take never exists as one array of bytes.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from umo.animation import Animation
from umo.constants import ARKIT_NAMES
from umo.errors import UmoError

SUFFIXES = (".glb", ".gltf")
FRAME_BLOCK = 8192  # frames converted and written at a time
STILL_EPS = 1e-6  # rad / cm: a track that varies less than this is written once, on the node
SPARSE_EPS = {"POSITION": 1e-6, "NORMAL": 1e-4}  # m / unit: smaller changes of a morph target are dropped
GLB_MAX_BYTES = 2**32 - 1  # a GLB's length field is a uint32

# glTF enums
FLOAT, UNSIGNED_BYTE, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5121, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
_GLB_MAGIC, _CHUNK_JSON, _CHUNK_BIN = 0x46546C67, 0x4E4F534A, 0x004E4942
_COMPONENTS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


@dataclass(frozen=True)
class GltfInfo:
    """What :func:`write_gltf` wrote."""

    path: Path
    num_frames: int
    animated_joints: tuple[str, ...]  # joints with a rotation track, in skeleton order
    root_moves: bool  # Hips has a translation track
    head_added: bool  # anim.head was added to the neck chain (no body, or a still neck chain)


# --------------------------------------------------------------------------------------------------
# the buffer and its accessors
# --------------------------------------------------------------------------------------------------
Chunks = Callable[[], Iterable[np.ndarray | bytes]]


class _Document:
    """The glTF JSON being built, and the binary buffer laid out beside it (written later)."""

    def __init__(self) -> None:
        self.json: dict = {"bufferViews": [], "accessors": []}
        self._pieces: list[tuple[int, int, Chunks]] = []  # (byte offset, byte length, chunk producer)
        self.size = 0

    def view(self, nbytes: int, chunks: Chunks, target: int | None = None) -> int:
        """A bufferView of ``nbytes`` whose bytes ``chunks()`` yields when the file is written."""
        self.size = (self.size + 3) & ~3  # every view starts 4-byte aligned
        view = {"buffer": 0, "byteOffset": self.size, "byteLength": int(nbytes)}
        if target is not None:
            view["target"] = target
        self._pieces.append((self.size, int(nbytes), chunks))
        self.size += int(nbytes)
        self.json["bufferViews"].append(view)
        return len(self.json["bufferViews"]) - 1

    def array_view(self, a: np.ndarray, target: int | None = None) -> int:
        a = np.ascontiguousarray(a)
        return self.view(a.nbytes, lambda: (a,), target)

    def accessor(self, view: int | None, component: int, count: int, kind: str, *, minmax: np.ndarray | None = None,
                 sparse: dict | None = None, normalized: bool = False) -> int:
        acc: dict = {"componentType": component, "count": int(count), "type": kind}
        if view is not None:
            acc["bufferView"] = view
        if normalized:
            acc["normalized"] = True
        if minmax is not None:  # (N, components) values: their per-component bounds
            acc["min"] = [_num(v, component) for v in minmax.min(axis=0)]
            acc["max"] = [_num(v, component) for v in minmax.max(axis=0)]
        if sparse is not None:
            acc["sparse"] = sparse
        self.json["accessors"].append(acc)
        return len(self.json["accessors"]) - 1

    def array(self, a: np.ndarray, kind: str, target: int | None = None, bounds: bool = False) -> int:
        """An accessor over a small array written as it is (float32 / uint8 / uint16 / uint32)."""
        component = {np.float32: FLOAT, np.uint8: UNSIGNED_BYTE, np.uint16: UNSIGNED_SHORT,
                     np.uint32: UNSIGNED_INT}[a.dtype.type]
        rows = a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(-1, 1)
        return self.accessor(self.array_view(a, target), component, len(rows), kind,
                             minmax=rows if bounds else None)

    def write_bin(self, f) -> int:
        """Writes the buffer's bytes (padded to 4) to the binary file f; returns the count."""
        pos = 0
        for offset, nbytes, chunks in self._pieces:
            f.write(b"\0" * (offset - pos))
            written = 0
            for chunk in chunks():
                data = memoryview(np.ascontiguousarray(chunk) if isinstance(chunk, np.ndarray) else chunk).cast("B")
                f.write(data)
                written += len(data)
            if written != nbytes:
                raise AssertionError(f"a buffer view promised {nbytes} bytes and got {written}")
            pos = offset + nbytes
        pad = (-pos) % 4
        f.write(b"\0" * pad)
        return pos + pad

    @property
    def padded_size(self) -> int:
        return (self.size + 3) & ~3


def _num(v, component: int):
    """A bound as JSON: ints for integer components, the float32 value exactly for floats."""
    return int(v) if component != FLOAT else float(np.float32(v))


def _sparse_target(doc: _Document, values: np.ndarray, eps: float, bounds: bool) -> int:
    """A morph target accessor (V, 3) storing only the vertices that move more than eps."""
    values = np.where(np.abs(values).max(axis=1, keepdims=True) > eps, values, 0).astype(np.float32)
    rows = np.flatnonzero(np.abs(values).max(axis=1) > 0).astype(np.uint32)
    minmax = values if bounds else None
    if len(rows) == 0:  # no bufferView and no sparse: all zeros
        return doc.accessor(None, FLOAT, len(values), "VEC3", minmax=minmax)
    sparse = {"count": int(len(rows)),
              "indices": {"bufferView": doc.array_view(rows), "componentType": UNSIGNED_INT},
              "values": {"bufferView": doc.array_view(values[rows])}}
    return doc.accessor(None, FLOAT, len(values), "VEC3", minmax=minmax, sparse=sparse)


# --------------------------------------------------------------------------------------------------
# the animation's tracks
# --------------------------------------------------------------------------------------------------
def _quat(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> quaternions (..., 4) x, y, z, w."""
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    k = np.where(theta > 1e-8, np.sin(theta / 2) / np.where(theta > 1e-8, theta, 1.0), 0.5)
    return np.concatenate([rotvec * k, np.cos(theta / 2)], axis=-1)


def _continuous(q: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions with signs chosen so that neighbours agree (q and -q are one rotation;
    interpolating between opposite signs would take the long way round)."""
    q = q * np.where(q[:1, 3:] < 0, -1.0, 1.0)
    flips = np.cumprod(np.where(np.sum(q[1:] * q[:-1], axis=1) < 0, -1.0, 1.0))
    q[1:] *= flips[:, None]
    return q


EYE_YAW_SIGN = np.array([-1.0, 1.0, 1.0])  # Live Link eye yaw is positive towards the character's right


def _eye_rotvec(angles: np.ndarray) -> np.ndarray:
    """(T, 3) Live Link eye yaw, pitch, roll -> axis-angle of R = Ry(-yaw) Rx(pitch) Rz(roll)."""
    from umo.skeleton import head_to_rotvec

    return head_to_rotvec(angles * EYE_YAW_SIGN)  # the head's convention with yaw mirrored


@dataclass
class _Tracks:
    """The body as the file shows it: a still pose and per-joint tracks (joint -> (T, 3) axis-angle)."""

    still: np.ndarray  # (J, 3) frame 0's rotation of every joint
    moving: dict[int, np.ndarray]
    root: np.ndarray  # (T, 3) cm, or (1, 3) when the root stays
    head_added: bool


def _body_tracks(anim: Animation) -> _Tracks:
    from scipy.spatial.transform import Rotation

    from umo.skeleton import HEAD_CHAIN_SHARE, canonical_skeleton, head_to_rotvec, rest_root_position

    sk = canonical_skeleton()
    if anim.body is None:
        from umo.animator.gestures import rest_pose

        still, moving = rest_pose(), {}
        root = rest_root_position()[None]
    else:
        if not anim.skeleton.is_canonical():
            raise UmoError("a glTF is written on umo's canonical skeleton: retarget the body first "
                           "(umo convert does it for any BVH)")
        span = anim.body.max(axis=0) - anim.body.min(axis=0)  # (J, 3)
        still = anim.body[0].copy()
        moving = {int(j): anim.body[:, j] for j in np.flatnonzero(span.max(axis=1) > STILL_EPS)}
        root = anim.root_pos if float(np.ptp(anim.root_pos, axis=0).max()) > STILL_EPS else anim.root_pos[:1]
    chain = [sk.index(name) for name, _ in HEAD_CHAIN_SHARE]
    head_added = not any(j in moving for j in chain)
    if head_added:
        w = head_to_rotvec(np.nan_to_num(anim.head))  # (T, 3)
        for (name, share), j in zip(HEAD_CHAIN_SHARE, chain):
            track = (Rotation.from_rotvec(np.tile(still[j], (len(w), 1))) * Rotation.from_rotvec(share * w)).as_rotvec()
            if float(np.ptp(track, axis=0).max()) > STILL_EPS:
                moving[j] = track
            still[j] = track[0]
    return _Tracks(still, dict(sorted(moving.items())), root, head_added)


def _blocks(n: int, fn: Callable[[int, int], np.ndarray]) -> Chunks:
    """A chunk producer: fn(a, b) for frames [a, b) in FRAME_BLOCK steps."""
    return lambda: (fn(a, min(n, a + FRAME_BLOCK)) for a in range(0, n, FRAME_BLOCK))


# --------------------------------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------------------------------
def write_gltf(anim: Animation, path: str | Path, *, title: str | None = None, audio_file: str | None = None) -> GltfInfo:
    """Writes ``anim`` on the preview character as an animated glTF 2.0 file; its suffix picks the
    container: .glb (binary) or .gltf (JSON, embedded buffer). ``audio_file``: the name of the audio
    written beside it (recorded in ``asset.extras.audio``; glTF has no audio of its own).

    The file is written under a temporary name and renamed into place when complete."""
    from umo import __version__
    from umo.character import EYE_CENTRES, HEAD_LIFT, body_mesh, eyeball_mesh, head_mesh
    from umo.skeleton import canonical_skeleton, forward_kinematics, rest_root_position

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UmoError(f"{path}: a glTF file ends in {' or '.join(SUFFIXES)}")
    t = anim.num_frames
    if t == 0:
        raise UmoError("the animation has no frames: there is nothing to write")
    sk = canonical_skeleton()
    tracks = _body_tracks(anim)
    doc = _Document()
    nodes: list[dict] = []

    # --- the skeleton's nodes (node index = joint index) ------------------------------------------
    still_q = _quat(tracks.still)
    for j, name in enumerate(sk.names):
        node: dict = {"name": name, "translation": [float(v) for v in sk.offsets[j] * 0.01]}
        if j == 0:
            node["translation"] = [float(v) for v in tracks.root[0] * 0.01]
        q = _continuous(_quat(tracks.moving[j][:1])) if j in tracks.moving else still_q[j:j + 1]
        if np.abs(q[0] - [0, 0, 0, 1]).max() > 0:
            node["rotation"] = [float(v) for v in q[0] / np.linalg.norm(q[0])]
        children = sk.children(j)
        if children:
            node["children"] = children
        nodes.append(node)

    # --- meshes: the skinned body, the head with its morph targets, the eyes ------------------------
    materials = [
        {"name": "umoBody", "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.05,
                                                     "roughnessFactor": 0.5}, "doubleSided": True},
        {"name": "umoSkin", "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0,
                                                     "roughnessFactor": 0.62}, "doubleSided": True},
        {"name": "umoEye", "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0,
                                                    "roughnessFactor": 0.22}},
    ]

    def primitive(mesh, material: int) -> dict:
        attrs = {
            "POSITION": doc.array(mesh.positions, "VEC3", ARRAY_BUFFER, bounds=True),
            "NORMAL": doc.array(mesh.normals, "VEC3", ARRAY_BUFFER),
            "COLOR_0": doc.array(mesh.colors, "VEC3", ARRAY_BUFFER),
        }
        if mesh.joints is not None:
            attrs["JOINTS_0"] = doc.array(mesh.joints, "VEC4", ARRAY_BUFFER)
            attrs["WEIGHTS_0"] = doc.array(mesh.weights, "VEC4", ARRAY_BUFFER)
        indices = mesh.indices.astype(np.uint16 if mesh.num_vertices <= 65535 else np.uint32)
        prim = {"attributes": attrs, "indices": doc.array(indices, "SCALAR", ELEMENT_ARRAY_BUFFER),
                "material": material, "mode": 4}
        if mesh.morphs:
            prim["targets"] = [{"POSITION": _sparse_target(doc, d, SPARSE_EPS["POSITION"], bounds=True),
                                "NORMAL": _sparse_target(doc, n, SPARSE_EPS["NORMAL"], bounds=False)}
                               for d, n in zip(mesh.morphs, mesh.morph_normals)]
        return prim

    body, head, eye = body_mesh(), head_mesh(ARKIT_NAMES), eyeball_mesh()
    face0 = np.nan_to_num(anim.face[0]).astype(np.float32)
    meshes = [
        {"name": "umoBody", "primitives": [primitive(body, 0)]},
        {"name": "umoHead", "primitives": [primitive(head, 1)], "weights": [float(v) for v in face0],
         "extras": {"targetNames": list(ARKIT_NAMES)}},
        {"name": "umoEye", "primitives": [primitive(eye, 2)]},
    ]
    bind, _ = forward_kinematics(sk, np.zeros((1, sk.num_joints, 3)), rest_root_position()[None])
    ibm = np.tile(np.eye(4, dtype=np.float32), (sk.num_joints, 1, 1))
    ibm[:, 3, :3] = -bind[0] * 0.01  # column-major: the translation is the fourth column
    skin = {"name": "umoSkeleton", "inverseBindMatrices": doc.array(ibm, "MAT4"),
            "joints": list(range(sk.num_joints)), "skeleton": 0}

    body_node = len(nodes)
    nodes.append({"name": "umoBody", "mesh": 0, "skin": 0})
    head_node = len(nodes)
    eye_nodes = [head_node + 1, head_node + 2]
    nodes.append({"name": "umoHead", "mesh": 1, "translation": [0.0, HEAD_LIFT, 0.0], "children": eye_nodes})
    nodes[sk.index("Head")].setdefault("children", []).append(head_node)
    eyes = np.nan_to_num(anim.eyes)
    eye_moves = []
    for e, (name, centre) in enumerate(zip(("LeftEye", "RightEye"), EYE_CENTRES)):
        node = {"name": name, "mesh": 2, "translation": list(centre)}
        q0 = _quat(_eye_rotvec(eyes[:1, 3 * e:3 * e + 3]))[0]
        if np.abs(q0 - [0, 0, 0, 1]).max() > 0:
            node["rotation"] = [float(v) for v in _continuous(q0[None])[0]]
        nodes.append(node)
        eye_moves.append(float(np.ptp(eyes[:, 3 * e:3 * e + 3], axis=0).max()) > STILL_EPS)

    # --- the animation ------------------------------------------------------------------------------
    fps = float(anim.fps)
    times = doc.accessor(doc.view(4 * t, _blocks(t, lambda a, b: (np.arange(a, b) / fps).astype("<f4"))),
                         FLOAT, t, "SCALAR")
    last = float(np.float32((t - 1) / fps))
    doc.json["accessors"][times].update(min=[0.0], max=[last])
    samplers: list[dict] = []
    channels: list[dict] = []

    def channel(node: int, path_: str, output: int) -> None:
        samplers.append({"input": times, "output": output, "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path_}})

    def quat_track(rotvec: Callable[[], np.ndarray]) -> int:
        # one joint's (T, 4) at a time: the sign continuity runs along the whole track
        view = doc.view(16 * t, lambda: (_continuous(_quat(rotvec())).astype("<f4"),))
        return doc.accessor(view, FLOAT, t, "VEC4")

    for j, track in tracks.moving.items():
        channel(j, "rotation", quat_track(lambda track=track: track))
    if len(tracks.root) > 1:
        root = tracks.root
        view = doc.view(12 * t, _blocks(t, lambda a, b: (root[a:b] * 0.01).astype("<f4")))
        channel(0, "translation", doc.accessor(view, FLOAT, t, "VEC3"))
    face = anim.face
    weights = doc.view(4 * t * len(ARKIT_NAMES), _blocks(t, lambda a, b: np.nan_to_num(face[a:b]).astype("<f4")))
    channel(head_node, "weights", doc.accessor(weights, FLOAT, t * len(ARKIT_NAMES), "SCALAR"))
    for e, node in enumerate(eye_nodes):
        if eye_moves[e]:
            channel(node, "rotation", quat_track(lambda e=e: _eye_rotvec(eyes[:, 3 * e:3 * e + 3])))

    gltf = {
        "asset": {"version": "2.0", "generator": f"umo {__version__} (umo.formats.gltf)",
                  "extras": {"fps": fps, "frames": t, **({"audio": audio_file} if audio_file else {})}},
        "scene": 0,
        "scenes": [{"name": title or path.stem, "nodes": [0, body_node]}],
        "nodes": nodes,
        "meshes": meshes,
        "materials": materials,
        "skins": [skin],
        "animations": [{"name": "umo", "samplers": samplers, "channels": channels}],
        "accessors": doc.json["accessors"],
        "bufferViews": doc.json["bufferViews"],
        "buffers": [{"byteLength": doc.padded_size}],
    }
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if suffix == ".glb":
            _write_glb(gltf, doc, partial)
        else:
            _write_embedded(gltf, doc, partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return GltfInfo(path, t, tuple(sk.names[j] for j in tracks.moving), len(tracks.root) > 1, tracks.head_added)


def _json_bytes(gltf: dict) -> bytes:
    return json.dumps(gltf, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _write_glb(gltf: dict, doc: _Document, path: Path) -> None:
    text = _json_bytes(gltf)
    text += b" " * ((-len(text)) % 4)  # the JSON chunk is padded with spaces
    total = 12 + 8 + len(text) + 8 + doc.padded_size
    if total > GLB_MAX_BYTES:
        raise UmoError(f"the take needs {total / 2**30:.1f} GiB, past a GLB's 4 GiB limit: split it")
    with open(path, "wb") as f:
        f.write(struct.pack("<III", _GLB_MAGIC, 2, total))
        f.write(struct.pack("<II", len(text), _CHUNK_JSON))
        f.write(text)
        f.write(struct.pack("<II", doc.padded_size, _CHUNK_BIN))
        if doc.write_bin(f) != doc.padded_size:
            raise AssertionError("the BIN chunk's length changed while it was written")


class _Base64Writer:
    """A binary file-like object that writes base64 text to a text file, 3 bytes at a time."""

    def __init__(self, out) -> None:
        self.out, self.rest = out, b""

    def write(self, data) -> None:
        data = self.rest + bytes(data)
        cut = len(data) - len(data) % 3
        self.out.write(base64.b64encode(data[:cut]).decode("ascii"))
        self.rest = data[cut:]

    def close(self) -> None:
        self.out.write(base64.b64encode(self.rest).decode("ascii"))
        self.rest = b""


def _write_embedded(gltf: dict, doc: _Document, path: Path) -> None:
    placeholder = "@umo-buffer@"
    gltf["buffers"][0]["uri"] = placeholder
    head, tail = _json_bytes(gltf).decode("utf-8").split(placeholder)
    with open(path, "w", encoding="utf-8") as f:
        f.write(head)
        f.write("data:application/octet-stream;base64,")
        b64 = _Base64Writer(f)
        doc.write_bin(b64)
        b64.close()
        f.write(tail)


# --------------------------------------------------------------------------------------------------
# the reader
# --------------------------------------------------------------------------------------------------
_DTYPES = {FLOAT: "<f4", UNSIGNED_INT: "<u4", UNSIGNED_SHORT: "<u2", UNSIGNED_BYTE: "u1", 5122: "<i2", 5120: "i1"}


def _load(path: Path) -> tuple[dict, list[bytes]]:
    """A .glb or .gltf -> (its JSON, its buffers' bytes). .gltf buffers: data: URIs or files beside it."""
    data = path.read_bytes()
    if data[:4] == b"glTF":
        try:
            _, version, length = struct.unpack_from("<III", data, 0)
            n, kind = struct.unpack_from("<II", data, 12)
            if version != 2 or kind != _CHUNK_JSON or length > len(data):
                raise ValueError
            gltf = json.loads(data[20:20 + n])
            chunks = []
            off = 20 + n
            while off + 8 <= length:
                m, kind = struct.unpack_from("<II", data, off)
                if kind == _CHUNK_BIN:
                    chunks.append(data[off + 8:off + 8 + m])
                off += 8 + m
        except (ValueError, struct.error, UnicodeDecodeError) as e:
            raise UmoError(f"{path}: not a readable binary glTF 2.0 file ({str(e) or 'a bad header'})") from None
        buffers = [chunks[0] if chunks and "uri" not in b else b"" for b in gltf.get("buffers", [])]
        for i, b in enumerate(gltf.get("buffers", [])):
            if "uri" in b:
                buffers[i] = _uri_bytes(path, b["uri"])
        return gltf, buffers
    try:
        gltf = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise UmoError(f"{path}: not a glTF file ({e})") from None
    return gltf, [_uri_bytes(path, b.get("uri", "")) for b in gltf.get("buffers", [])]


def _uri_bytes(path: Path, uri: str) -> bytes:
    if not uri:
        raise UmoError(f"{path}: a buffer without a uri (only a .glb carries its own)")
    if uri.startswith("data:"):
        return base64.b64decode(uri.split(",", 1)[1])
    from urllib.parse import unquote

    target = path.parent / unquote(uri)
    if not target.is_file():
        raise UmoError(f"{path}: its buffer {uri} is not beside it")
    return target.read_bytes()


def _read_accessor(gltf: dict, buffers: list[bytes], i: int) -> np.ndarray:
    """Accessor i -> (count, components) float64 (normalised integers scaled; sparse applied)."""
    acc = gltf["accessors"][i]
    k = _COMPONENTS.get(acc["type"], {"VEC2": 2, "MAT2": 4, "MAT3": 9}.get(acc["type"], 1))
    dtype = np.dtype(_DTYPES[acc["componentType"]])

    def from_view(view: int, offset: int, count: int, dt: np.dtype, comps: int) -> np.ndarray:
        bv = gltf["bufferViews"][view]
        buf = buffers[bv["buffer"]]
        start = bv.get("byteOffset", 0) + offset
        stride = bv.get("byteStride", comps * dt.itemsize)
        if count == 0:
            return np.zeros((0, comps), dt)
        raw = np.frombuffer(buf, np.uint8, (count - 1) * stride + comps * dt.itemsize, start)
        rows = np.lib.stride_tricks.as_strided(raw, (count, comps * dt.itemsize), (stride, 1))
        return np.ascontiguousarray(rows).view(dt).reshape(count, comps)

    count = acc["count"]
    out = (from_view(acc["bufferView"], acc.get("byteOffset", 0), count, dtype, k).astype(np.float64)
           if "bufferView" in acc else np.zeros((count, k)))
    if "sparse" in acc:
        sp = acc["sparse"]
        idx = from_view(sp["indices"]["bufferView"], sp["indices"].get("byteOffset", 0), sp["count"],
                        np.dtype(_DTYPES[sp["indices"]["componentType"]]), 1)[:, 0].astype(np.int64)
        out[idx] = from_view(sp["values"]["bufferView"], sp["values"].get("byteOffset", 0), sp["count"], dtype, k)
    if acc.get("normalized"):
        info = np.iinfo(dtype)
        out = np.maximum(out / info.max, -1.0)
    return out


def read_gltf(path: str | Path, fps: float | None = None) -> Animation:
    """A glTF's first animation -> Animation on the canonical skeleton (see the module's notes).

    fps: the frame rate (default: ``asset.extras.fps`` as umo writes it, else the animation's median
    key spacing). Tracks keyed on other times are resampled: linearly, rotations by slerp. Joints
    are matched by canonical name; those without a track keep their node's rotation. The face comes
    from the weights track of a mesh whose morph targets are named (``extras.targetNames``) with
    ARKit names, in any case; shapes it lacks stay 0. Eyes: the nodes LeftEye / RightEye."""
    path = Path(path)
    if not path.is_file():
        raise UmoError(f"file not found: {path}")
    gltf, buffers = _load(path)
    try:
        return _animation(path, gltf, buffers, fps)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:  # a field missing or out of range
        raise UmoError(f"{path}: a malformed glTF ({type(e).__name__}: {e})") from None


def _animation(path: Path, gltf: dict, buffers: list[bytes], fps: float | None) -> Animation:
    from scipy.spatial.transform import Rotation, Slerp

    from umo.constants import ARKIT_INDEX, NUM_BLENDSHAPES
    from umo.skeleton import HEAD_CHAIN_SHARE, canonical_skeleton, rest_root_position

    anims = gltf.get("animations") or []
    if not anims:
        raise UmoError(f"{path}: holds no animation")
    anim = anims[0]
    nodes = gltf.get("nodes", [])
    tracks: dict[tuple[int, str], tuple[np.ndarray, np.ndarray, str]] = {}
    for ch in anim.get("channels", []):
        target = ch.get("target", {})
        if "node" not in target:
            continue
        s = anim["samplers"][ch["sampler"]]
        times = _read_accessor(gltf, buffers, s["input"])[:, 0]
        tracks[(target["node"], target["path"])] = (times, _read_accessor(gltf, buffers, s["output"]),
                                                    s.get("interpolation", "LINEAR"))
    if not tracks:
        raise UmoError(f"{path}: its animation has no channels")
    if fps is None:
        fps = (gltf.get("asset", {}).get("extras") or {}).get("fps")
    longest = max((v[0] for v in tracks.values()), key=len)
    if fps is None:
        steps = np.diff(longest)
        if not len(steps) or np.median(steps) <= 0:
            raise UmoError(f"{path}: cannot tell its frame rate from one key: pass fps")
        fps = float(np.round(1.0 / np.median(steps), 3))
    end = max(float(v[0][-1]) for v in tracks.values())
    t = int(round(end * fps)) + 1
    grid = np.arange(t) / fps

    def sample(times: np.ndarray, values: np.ndarray, interpolation: str) -> np.ndarray:
        """(K, C) keys -> (t, C) on the grid (CUBICSPLINE: the keys' values, linearly)."""
        if interpolation == "CUBICSPLINE":
            values = values.reshape(len(times), 3, -1)[:, 1]
        if len(times) == t and np.allclose(times, grid, atol=0.5 / fps / 1000):
            return values
        if interpolation == "STEP":
            return values[np.clip(np.searchsorted(times, grid + 1e-9, side="right") - 1, 0, len(times) - 1)]
        return np.stack([np.interp(grid, times, values[:, c]) for c in range(values.shape[1])], axis=1)

    def sample_quat(times: np.ndarray, values: np.ndarray, interpolation: str) -> np.ndarray:
        if interpolation == "CUBICSPLINE":
            values = values.reshape(len(times), 3, 4)[:, 1]
        if interpolation == "LINEAR" and len(times) > 1 and not (
                len(times) == t and np.allclose(times, grid, atol=0.5 / fps / 1000)):
            return Slerp(times, Rotation.from_quat(values))(np.clip(grid, times[0], times[-1])).as_quat()
        return sample(times, values, "STEP" if interpolation != "LINEAR" else interpolation)

    sk = canonical_skeleton()
    names = [n.get("name", "") for n in nodes]
    body = np.zeros((t, sk.num_joints, 3))
    found = 0
    for j, name in enumerate(sk.names):
        if name not in names:
            continue
        found += 1
        i = names.index(name)
        if (i, "rotation") in tracks:
            body[:, j] = Rotation.from_quat(sample_quat(*tracks[(i, "rotation")])).as_rotvec()
        elif "rotation" in nodes[i]:
            body[:, j] = Rotation.from_quat(nodes[i]["rotation"]).as_rotvec()
    has_body = found > 0
    root = np.tile(rest_root_position(), (t, 1))
    if "Hips" in names:
        i = names.index("Hips")
        if (i, "translation") in tracks:
            root = sample(*tracks[(i, "translation")]) * 100.0
        elif "translation" in nodes[i]:
            root = np.tile(np.asarray(nodes[i]["translation"], dtype=np.float64) * 100.0, (t, 1))

    face = np.zeros((t, NUM_BLENDSHAPES))
    lower = {n.lower(): k for n, k in ARKIT_INDEX.items()}
    for (i, what), track in tracks.items():
        mesh = gltf["meshes"][nodes[i]["mesh"]] if what == "weights" and "mesh" in nodes[i] else None
        target_names = (mesh or {}).get("extras", {}).get("targetNames") or []
        slots = [(s, lower[str(n).lower()]) for s, n in enumerate(target_names) if str(n).lower() in lower]
        if not slots:
            continue
        times, values, interpolation = track
        n_targets = len(mesh["primitives"][0].get("targets", target_names))
        w = values.reshape(-1)
        if interpolation == "CUBICSPLINE":
            w = w.reshape(len(times), 3, n_targets)[:, 1].reshape(-1)
            interpolation = "LINEAR"
        w = sample(times, w.reshape(len(times), n_targets), interpolation)
        for s, k in slots:
            face[:, k] = w[:, s]
        break

    eyes = np.zeros((t, 6))
    for e, name in enumerate(("LeftEye", "RightEye")):
        if name in names:
            i = names.index(name)
            q = (sample_quat(*tracks[(i, "rotation")]) if (i, "rotation") in tracks
                 else np.tile(nodes[i].get("rotation", [0, 0, 0, 1]), (t, 1)))
            eyes[:, 3 * e:3 * e + 3] = Rotation.from_quat(q).as_euler("YXZ") * EYE_YAW_SIGN
    chain = Rotation.identity(t)
    for name, _ in HEAD_CHAIN_SHARE:
        chain = chain * Rotation.from_rotvec(body[:, sk.index(name)])
    head = chain.as_euler("YXZ")  # yaw, pitch, roll as umo.skeleton.head_to_rotvec turns them
    return Animation(fps=float(fps), face=face, head=head, eyes=eyes, body=body if has_body else None,
                     root_pos=root if has_body else None, skeleton=sk)
