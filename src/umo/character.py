"""The preview character as plain triangle meshes, built in Python for files (the animated glTF).

A port of what ``umo/preview/assets/scene.js`` builds in the browser, deterministic and in numpy:

    head_mesh()     the procedural head: skin (superellipse cross-sections, a slit on the lip line),
                    mouth bowl, teeth, tongue, ears, eyelids; vertex colours; the 52 ARKit morph
                    targets in Live Link order (umo.constants.ARKIT_NAMES): the jaw turns the lower
                    face about a pivot, smiles lift the mouth corners, blinks close the lids over the
                    eyes, brows rise and fall ... Head frame: :data:`HEAD_LIFT` above the Head joint.
    eyeball_mesh()  one eyeball (sclera, iris, pupil looking down +Z), centred on its pivot; the eye
                    centres in the head frame are :data:`EYE_CENTRES` (left eye first).
    body_mesh(sk)   the mannequin: tapered tubes between joints, spheres at joints, palms, a shaped
                    torso; skinned to the joints (rigid, the torso blended along the spine), in the
                    bind pose: the rest pose with the root at ``umo.skeleton.rest_root_position``.

Units: metres (the skeleton is in cm), Y up, the character faces +Z, its left is +X. Colours are
linear RGB (the sRGB values of scene.js converted). Dimension letters: V vertices, F triangles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from umo.constants import ARKIT_NAMES
from umo.skeleton import Skeleton, canonical_skeleton, forward_kinematics, rest_root_position

CM = 0.01  # skeleton cm -> metres


@dataclass(frozen=True)
class MeshData:
    """One triangle mesh. Arrays are float32 except the indices (uint32) and joints (uint8)."""

    positions: np.ndarray  # (V, 3) metres
    normals: np.ndarray  # (V, 3) unit
    colors: np.ndarray  # (V, 3) linear RGB in [0, 1]
    indices: np.ndarray  # (3F,) counter-clockwise seen from outside
    morphs: tuple[np.ndarray, ...] = ()  # per morph target (V, 3) position displacements at weight 1
    morph_normals: tuple[np.ndarray, ...] = ()  # per morph target (V, 3) normal changes at weight 1
    morph_names: tuple[str, ...] = ()
    joints: np.ndarray | None = None  # (V, 4) skin joint indices (skeleton order)
    weights: np.ndarray | None = None  # (V, 4) skin weights, each row sums to 1

    @property
    def num_vertices(self) -> int:
        return self.positions.shape[0]


# --------------------------------------------------------------------------------------------------
# small maths (vectorised)
# --------------------------------------------------------------------------------------------------
def _smoothstep(e0: float, e1: float, x):
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gauss(dx, sx, dy, sy):
    return np.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2))


def _hermite(xs: tuple[float, ...], ys: tuple[float, ...]):
    """Cubic Hermite interpolation through (xs, ys) with finite-difference tangents: a smooth profile."""
    xs_a, ys_a = np.asarray(xs), np.asarray(ys)
    n = len(xs)
    lo, hi = np.maximum(np.arange(n) - 1, 0), np.minimum(np.arange(n) + 1, n - 1)
    m = (ys_a[hi] - ys_a[lo]) / (xs_a[hi] - xs_a[lo])

    def f(x):
        x = np.clip(np.asarray(x, dtype=np.float64), xs_a[0], xs_a[-1])
        i = np.clip(np.searchsorted(xs_a, x, side="left") - 1, 0, n - 2)
        h = xs_a[i + 1] - xs_a[i]
        t = (x - xs_a[i]) / h
        t2, t3 = t * t, t * t * t
        return ((2 * t3 - 3 * t2 + 1) * ys_a[i] + (t3 - 2 * t2 + t) * h * m[i]
                + (-2 * t3 + 3 * t2) * ys_a[i + 1] + (t3 - t2) * h * m[i + 1])

    return f


def _srgb(hex_color: int) -> np.ndarray:
    """0xRRGGBB (sRGB) -> (3,) linear RGB."""
    c = np.array([(hex_color >> 16) & 255, (hex_color >> 8) & 255, hex_color & 255]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _mix(a, b, t):
    t = np.asarray(t, dtype=np.float64)[..., None]
    return a + (b - a) * t


def vertex_normals(pos: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals of a triangle mesh. pos: (V, 3), idx: (3F,) -> (V, 3)."""
    tri = idx.reshape(-1, 3)
    a, b, c = pos[tri[:, 0]], pos[tri[:, 1]], pos[tri[:, 2]]
    face = np.cross(b - a, c - a)  # (F, 3), length = twice the area
    out = np.zeros_like(pos, dtype=np.float64)
    for k in range(3):
        for d in range(3):
            out[:, d] += np.bincount(tri[:, k], weights=face[:, d], minlength=len(pos))
    n = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(n > 0, n, 1.0)


class _Builder:
    """Collects vertices (with per-vertex metadata) and triangles."""

    def __init__(self) -> None:
        self.pos: list[np.ndarray] = []
        self.col: list[np.ndarray] = []
        self.meta: list[dict[str, np.ndarray]] = []
        self.idx: list[np.ndarray] = []
        self.n = 0

    def add(self, pos: np.ndarray, col: np.ndarray, **meta) -> np.ndarray:
        """Adds (N, 3) vertices; returns their indices. meta: per-vertex arrays or scalars."""
        pos = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
        k = len(pos)
        self.pos.append(pos)
        self.col.append(np.broadcast_to(np.asarray(col, dtype=np.float64), (k, 3)))
        self.meta.append({name: np.broadcast_to(np.asarray(v), (k,)) for name, v in meta.items()})
        ids = np.arange(self.n, self.n + k)
        self.n += k
        return ids

    def patch(self, grid: np.ndarray, col: np.ndarray, wrap: bool, **meta) -> np.ndarray:
        """A (rows+1, cols(+1)) grid of points -> its vertices and quads; wrap joins the last column
        to the first. col and meta arrays may be per grid point ((R, C, 3) / (R, C))."""
        r, c = grid.shape[:2]
        ids = self.add(grid.reshape(-1, 3), np.broadcast_to(col, (r, c, 3)).reshape(-1, 3),
                       **{k: np.broadcast_to(np.asarray(v), (r, c)).reshape(-1) for k, v in meta.items()}
                       ).reshape(r, c)
        cols = c if wrap else c - 1
        j = np.arange(cols)
        j1 = (j + 1) % c
        a, b = ids[:-1][:, j], ids[:-1][:, j1]
        d, e = ids[1:][:, j], ids[1:][:, j1]
        self.idx.append(np.stack([a, b, e, a, e, d], axis=-1).reshape(-1))
        return ids

    def triangles(self, idx) -> None:
        self.idx.append(np.asarray(idx).reshape(-1))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        pos = np.concatenate(self.pos)
        col = np.concatenate(self.col)
        names = {k for m in self.meta for k in m}
        meta = {}
        for name in names:
            parts = [m[name] if name in m else np.zeros(len(p)) for m, p in zip(self.meta, self.pos)]
            meta[name] = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])
        return pos, col, meta, np.concatenate(self.idx).astype(np.int64)


def _outward(builder: _Builder, start: int, centre: np.ndarray) -> None:
    """Flips the triangles added since index ``start`` of builder.idx when most face away from
    ``centre``-outwards (keeps every closed part counter-clockwise seen from outside)."""
    pos = np.concatenate(builder.pos)
    for k in range(start, len(builder.idx)):
        tri = builder.idx[k].reshape(-1, 3)
        a, b, c = pos[tri[:, 0]], pos[tri[:, 1]], pos[tri[:, 2]]
        if np.sum(np.cross(b - a, c - a) * ((a + b + c) / 3 - centre)) < 0:
            builder.idx[k] = tri[:, [0, 2, 1]].reshape(-1)


def _ellipsoid_grid(c, r, nv: int, nu: int) -> np.ndarray:
    """(nv+1, nu, 3) points of an ellipsoid, pole to pole (scene.js's ellipsoid())."""
    v = np.pi * np.arange(nv + 1)[:, None] / nv
    u = 2 * np.pi * np.arange(nu)[None, :] / nu
    return np.stack(np.broadcast_arrays(c[0] + r[0] * np.sin(v) * np.sin(u), c[1] - r[1] * np.cos(v),
                                        c[2] + r[2] * np.sin(v) * np.cos(u)), axis=-1)


# --------------------------------------------------------------------------------------------------
# the head (head frame: origin HEAD_LIFT above the skeleton's Head joint)
# --------------------------------------------------------------------------------------------------
HEAD_LIFT = 0.03  # m: the head sits this much above the Head joint (near the top of the neck)
Y_BOT, Y_TOP = -0.062, 0.172  # chin underside and crown
Y_MOUTH, MOUTH_W = -0.012, 0.024  # the lip line and the half-width of the mouth slit
EYE_X, EYE_Y, EYE_R = 0.032, 0.063, 0.0125
LID_UPPER_R, LID_LOWER_R = 0.0143, 0.0139  # the upper lid closes over the lower one
JAW_PIVOT = (0.0, 0.035, -0.005)
JAW_ANGLE = 0.30  # rad: JawOpen = 1 turns the jaw about 17 degrees

_PROFILE_Y = (-0.04, -0.025, -0.01, 0.005, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12)
_width_at = _hermite(_PROFILE_Y, (0.043, 0.052, 0.057, 0.061, 0.066, 0.070, 0.073, 0.075, 0.076, 0.074))
_front_at = _hermite(_PROFILE_Y, (0.084, 0.092, 0.096, 0.098, 0.099, 0.100, 0.101, 0.101, 0.099, 0.092))
_back_at = _hermite(_PROFILE_Y, (0.040, 0.055, 0.068, 0.080, 0.090, 0.097, 0.101, 0.103, 0.102, 0.097))
A_FRONT, A_BACK = 2.5, 2.2  # superellipse exponents of the horizontal cross-sections

# parts of the head mesh
SKIN, CAVITY, TEETH_UP, TEETH_LO, TONGUE, LID, EAR = range(7)
_C = {name: _srgb(h) for name, h in {
    "skin": 0xD9A58A, "lips": 0xB0605E, "brow": 0x4A3326, "hair": 0x3A281E, "lash": 0x1C1310,
    "teeth": 0xEFE8DA, "tongue": 0xC05A62, "cavity": 0x5A1C20, "cavity_deep": 0x220909,
    "sclera": 0xF1EDE6, "iris": 0x5F7F9C, "iris_rim": 0x2A3A4C, "pupil": 0x060606,
}.items()}


def _section(y):
    """Half-width, front depth and back depth of the head's cross-section at heights y."""
    y = np.asarray(y, dtype=np.float64)
    s_lo = (-0.04 - y) / (-0.04 - Y_BOT)
    s_hi = (y - 0.12) / (Y_TOP - 0.12)
    k = np.where(y < -0.04, np.sqrt(np.maximum(0, 1 - s_lo ** 2)),
                 np.where(y > 0.12, np.sqrt(np.maximum(0, 1 - s_hi ** 2)), 1.0))
    yy = np.clip(y, -0.04, 0.12)
    return _width_at(yy) * k, _front_at(yy) * k, _back_at(yy) * k


def _front_surface_z(x: float, y: float) -> float:
    w, f, _ = _section(y)
    return float(f * max(0.0, 1 - abs(x / w) ** A_FRONT) ** (1 / A_FRONT))


EYE_Z = _front_surface_z(EYE_X, EYE_Y) - EYE_R + 0.0005
EYE_CENTRES = ((EYE_X, EYE_Y, EYE_Z), (-EYE_X, EYE_Y, EYE_Z))  # left eye (+X) first, head frame


def _sculpt(x, y, z, u):
    """Face features on the base superellipsoid: displaced points (N, 3) and colours (N, 3)."""
    ax, ym = np.abs(x), Y_MOUTH
    fm = _smoothstep(0.01, 0.06, z)  # the face, not the sides and back
    dx, dy = np.zeros_like(x), np.zeros_like(x)
    dz = 0.012 * _gauss(x, 0.032, y - ym, 0.028) * fm  # muzzle
    t_nose = np.clip((0.072 - y) / (0.072 - 0.026), 0, 1)
    h_nose = np.where(y > 0.072, 0.004 * np.exp(-(((y - 0.072) / 0.012) ** 2)),
                      np.where(y > 0.026, 0.004 + 0.016 * t_nose ** 1.4,
                               0.020 * np.exp(-(((0.026 - y) / 0.0075) ** 2))))
    dz += h_nose * np.exp(-0.5 * (x / (0.0065 + 0.006 * t_nose)) ** 2) * fm  # bridge to tip
    dz += 0.005 * _gauss(x, 0.009, y - 0.028, 0.008) * fm  # tip
    dz += 0.007 * _gauss(ax - 0.014, 0.006, y - 0.022, 0.006) * fm  # wings
    dz += 0.006 * _gauss(ax - 0.030, 0.022, y - 0.085, 0.008) * fm  # brow ridge
    dz -= 0.010 * _gauss(ax - EYE_X, 0.0135, y - EYE_Y, 0.0095) * fm  # eye sockets
    cheek = _gauss(ax - 0.046, 0.014, y - 0.040, 0.014) * fm  # cheekbones
    dz += 0.004 * cheek
    dx += 0.003 * np.sign(x) * cheek
    lip_x = np.exp(-((x / MOUTH_W) ** 4))
    upper_lip = lip_x * np.exp(-0.5 * ((y - (ym + 0.006)) / 0.0045) ** 2)
    lower_lip = lip_x * np.exp(-0.5 * ((y - (ym - 0.007)) / 0.0055) ** 2)
    dz += (0.0045 * upper_lip + 0.0055 * lower_lip) * fm
    dz -= 0.002 * lip_x * np.exp(-0.5 * ((y - ym) / 0.0015) ** 2) * fm  # lips curl in at the line
    dz += 0.010 * _gauss(x, 0.016, y + 0.045, 0.010) * fm  # chin
    dy -= 0.004 * _gauss(x, 0.02, y + 0.055, 0.008) * fm

    color = np.broadcast_to(_C["skin"], (len(x), 3))
    lip = np.clip(1.6 * (upper_lip + lower_lip) - 0.25, 0, 1) * fm
    color = _mix(color, _C["lips"], lip)
    brow_arc = 0.085 + 0.004 * (1 - ((ax - 0.030) / 0.02) ** 2)
    brow = np.exp(-(((ax - 0.031) / 0.018) ** 4)) * _smoothstep(0.0045, 0.002, np.abs(y - brow_arc)) * fm
    color = _mix(color, _C["brow"], brow)
    au = np.abs(u)
    hair_line = np.minimum(0.116 - 0.116 * _smoothstep(0.45 * np.pi, 0.85 * np.pi, au),
                           0.05 + 0.35 * np.abs(au - 0.47 * np.pi))  # falls to the nape; sideburns
    color = _mix(color, _C["hair"], _smoothstep(hair_line - 0.002, hair_line + 0.004, y))
    return np.stack([x + dx, y + dy, z + dz], axis=-1), color


# Eyelid edges: elevation (rad, 0 = the eye centre's height) of the lid edge at the middle of the eye.
LID_REST = {"upper": 0.30, "lower": -0.42}
# per eye morph (Left/Right stripped): the lid edges at weight 1, and an azimuth shift (rad)
LID_TARGETS: dict[str, dict[str, float]] = {
    "EyeBlink": {"upper": -0.40, "lower": -0.34},
    "EyeSquint": {"upper": 0.18, "lower": -0.14},
    "EyeWide": {"upper": 0.62, "lower": -0.48},
    "EyeLookDown": {"upper": 0.02, "lower": -0.56},
    "EyeLookUp": {"upper": 0.52, "lower": -0.34},
    "EyeLookIn": {"dphi": -0.14},  # towards the nose (for the left eye, -X)
    "EyeLookOut": {"dphi": 0.14},
}


def _lid_point(eye, upper, phi, frac, edge, dphi):
    """Points of the lid shells (per-vertex arrays): the edge at elevation ``edge`` mid-eye."""
    shape = np.maximum(0, 1 - (phi / 1.25) ** 2)
    top = np.where(upper > 0, 1.25, -1.15)
    el = top + frac * (edge * shape - top)
    r = np.where(upper > 0, LID_UPPER_R, LID_LOWER_R)
    sx = np.where(eye == 0, 1.0, -1.0)
    ph = phi + dphi
    return np.stack([sx * EYE_X + r * np.cos(el) * np.sin(ph), EYE_Y + r * np.sin(el),
                     EYE_Z + r * np.cos(el) * np.cos(ph)], axis=-1)


def _jaw_weight(x, y, z, side):
    """How much a face vertex follows the jaw (0..1). side: +1 the upper copy of a vertex on the
    lip line, -1 the lower copy, 0 elsewhere."""
    d, ax, w = y - Y_MOUTH, np.abs(x), MOUTH_W
    c = np.where(ax < w, np.sqrt(np.maximum(0, 1 - (ax / w) ** 2)), 0.0)  # the slit opens as an ellipse
    band = 0.004 + 0.022 * _smoothstep(0.6 * w, 2.4 * w, ax)  # cheeks stretch over a wider band
    sgn = np.where(side != 0, side, np.sign(d))
    s = 2 * _smoothstep(-band, band, d) - 1
    return (0.5 - 0.5 * (c * sgn + (1 - c) * s)) * _smoothstep(-0.03, 0.03, z)


def _build_head_geometry() -> _Builder:
    b = _Builder()
    # --- the skin: stacked superellipse cross-sections, with a slit along the lip line ---------
    ys = [-0.04 + (Y_BOT + 0.04) * np.sin(np.pi / 2 * (1 - i / 10)) for i in range(10)]
    ys += [-0.04 + (Y_MOUTH + 0.04) * i / 20 for i in range(20)]
    row_mouth = len(ys)
    ys += [Y_MOUTH + (0.12 - Y_MOUTH) * i / 76 for i in range(76)]
    ys += [0.12 + (Y_TOP - 0.12) * np.sin(np.pi / 2 * i / 22) for i in range(23)]
    nu = 152
    s = -1 + 2 * np.arange(nu) / nu
    us = np.pi * s * (0.4 + 0.6 * s * s)  # denser columns on the face
    yy, uu = np.meshgrid(np.array(ys), us, indexing="ij")  # (R, NU)
    w, f, bk = _section(yy)
    su, cu = np.sin(uu), np.cos(uu)
    a = np.where(cu >= 0, A_FRONT, A_BACK)
    x = w * np.sign(su) * np.abs(su) ** (2 / a)
    z = np.where(cu >= 0, f, -bk) * np.abs(cu) ** (2 / a)
    p, color = _sculpt(x.reshape(-1), yy.reshape(-1), z.reshape(-1), uu.reshape(-1))
    rows, cols = yy.shape
    p, color = p.reshape(rows, cols, 3), color.reshape(rows, cols, 3)
    in_slit = np.zeros((rows, cols), dtype=bool)
    in_slit[row_mouth] = (cu[row_mouth] > 0) & (np.abs(p[row_mouth, :, 0]) < MOUTH_W - 1e-4)
    grid = b.add(p.reshape(-1, 3), color.reshape(-1, 3), part=SKIN,
                 side=in_slit.reshape(-1).astype(np.float64)).reshape(rows, cols)
    slit_cols = np.flatnonzero(in_slit[row_mouth])
    lower = b.add(p[row_mouth, slit_cols], color[row_mouth, slit_cols], part=SKIN, side=-1.0)
    below = grid[row_mouth].copy()  # the quads under the lip line hang on the lower lip's copies
    below[slit_cols] = lower
    c = np.arange(cols)
    c1 = (c + 1) % cols
    top, bot = grid[:-1], grid[1:].copy()
    bot[row_mouth - 1] = below
    ai, bi, di, ei = top[:, c], top[:, c1], bot[:, c], bot[:, c1]
    start = len(b.idx)
    b.triangles(np.stack([ai, bi, ei, ai, ei, di], axis=-1))
    _outward(b, start, np.array([0.0, 0.05, 0.0]))

    # --- mouth: a dark bowl behind the lips, teeth, tongue --------------------------------------
    ym = Y_MOUTH
    bc, br = (0.0, ym - 0.004, 0.086), (0.026, 0.021, 0.04)
    v = np.pi / 2 + (np.pi / 2) * np.arange(15)[:, None] / 14  # the back half only
    u = 2 * np.pi * np.arange(24)[None, :] / 24
    bowl = np.stack(np.broadcast_arrays(bc[0] + br[0] * np.sin(v) * np.cos(u), bc[1] + br[1] * np.sin(v) * np.sin(u),
                                        bc[2] + br[2] * np.cos(v)), axis=-1)
    shade = _mix(_C["cavity"], _C["cavity_deep"], np.arange(15) / 14)[:, None, :]
    b.patch(bowl, shade, True, part=CAVITY)

    def teeth(part: int, radius: float, zc: float, y0: float, y1: float) -> None:
        ang = -0.85 + 1.7 * np.arange(21)[None, :] / 20
        yv = y0 + (y1 - y0) * np.arange(4)[:, None] / 3
        pts = np.stack(np.broadcast_arrays(radius * np.sin(ang), yv, zc + radius * np.cos(ang)), axis=-1)
        b.patch(pts, _C["teeth"], False, part=part)

    teeth(TEETH_UP, 0.025, 0.075, ym - 0.0015, ym + 0.009)
    teeth(TEETH_LO, 0.023, 0.074, ym - 0.010, ym - 0.002)
    tongue_c = np.array([0.0, ym - 0.010, 0.080])
    start = len(b.idx)
    b.patch(_ellipsoid_grid(tongue_c, (0.018, 0.0055, 0.021), 10, 16), _C["tongue"], True, part=TONGUE)
    _outward(b, start, tongue_c)

    # --- ears -----------------------------------------------------------------------------------
    for sx in (1.0, -1.0):
        ear_c = np.array([sx * 0.073, 0.050, -0.012])
        pts = _ellipsoid_grid(ear_c, (0.010, 0.029, 0.017), 10, 16)
        pts[..., 0] += sx * 0.25 * (pts[..., 2] + 0.012)  # flare backwards-out
        start = len(b.idx)
        b.patch(pts, _C["skin"], True, part=EAR)
        _outward(b, start, ear_c)

    # --- eyelids: spherical shells around each eyeball, parametrised so morphs move the edge ----
    n_k, n_phi = 10, 26
    kk, jj = np.meshgrid(np.arange(n_k + 1), np.arange(n_phi + 1), indexing="ij")
    phi, frac = -1.45 + 2.9 * jj / n_phi, kk / n_k
    for eye in (0, 1):
        for upper in (1, 0):
            pts = _lid_point(np.full(phi.shape, eye), np.full(phi.shape, upper), phi, frac,
                             LID_REST["upper" if upper else "lower"], 0.0)
            col = np.broadcast_to(_C["skin"], (*phi.shape, 3)).copy()
            if upper:
                col[kk >= n_k - 1] = _C["lash"]
            else:
                col[kk == n_k] = _mix(_C["skin"], _C["lips"], 0.4)
            b.patch(pts, col, False, part=LID, eye=eye, upper=upper, phi=phi, frac=frac)
    return b


def _skin_morphs(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(V, 3) displacement of every skin morph at weight 1 (the face's morph targets, scene.js's
    SKIN_MORPHS). v: per-vertex x, y, z, L (jaw weight), up (1 above the lip line), fm (face mask),
    lips (lip mask), mouth (mouth area)."""
    x, y, z, L, up, fm, lips = v["x"], v["y"], v["z"], v["L"], v["up"], v["fm"], v["lips"]
    zero = np.zeros_like(x)
    d3 = lambda dx, dy, dz: np.stack(np.broadcast_arrays(dx, dy, dz), axis=-1)  # noqa: E731

    def jaw_open(angle: float) -> np.ndarray:
        ry, rz = y - JAW_PIVOT[1], z - JAW_PIVOT[2]
        c, s = np.cos(angle), np.sin(angle)
        return d3(zero, (ry * c - rz * s - ry) * L, (ry * s + rz * c - rz) * L)

    def side_w(s: float):
        return _smoothstep(-0.012, 0.012, s * x)  # 1 on side s (+1 left, -1 right)

    def corner(s: float, sigma: float):
        return _gauss(x - s * MOUTH_W, sigma, y - Y_MOUTH, sigma) * fm

    lips_up, lips_lo = lips * up, lips * (1 - up)
    m: dict[str, np.ndarray] = {
        "JawForward": d3(zero, zero, 0.010 * L),
        "JawLeft": d3(0.011 * L, zero, zero),
        "JawRight": d3(-0.011 * L, zero, zero),
        "JawOpen": jaw_open(JAW_ANGLE),
        "MouthPucker": d3(-0.45 * x * lips, (1 - 2 * up) * 0.001 * lips, 0.013 * lips),
        "MouthLeft": d3(0.009 * v["mouth"], zero, zero),
        "MouthRight": d3(-0.009 * v["mouth"], zero, zero),
        "MouthRollLower": d3(zero, 0.002 * lips_lo, -0.006 * lips_lo),
        "MouthRollUpper": d3(zero, -0.002 * lips_up, -0.006 * lips_up),
        "MouthShrugUpper": d3(zero, 0.004 * lips_up, 0.001 * lips_up),
        "BrowInnerUp": d3(zero, 0.008 * _gauss(np.abs(x) - 0.012, 0.014, y - 0.086, 0.014) * fm, zero),
        "TongueOut": d3(zero, zero, zero),
    }
    # MouthClose: the lips meet while the jaw stays open: it undoes JawOpen on the lips
    close = _smoothstep(MOUTH_W + 0.014, MOUTH_W, np.abs(x)) * np.exp(-(((y - Y_MOUTH) / 0.014) ** 2))
    m["MouthClose"] = -m["JawOpen"] * np.array([0.0, 1.0, 1.0]) * close[:, None]
    funnel = np.exp(-((x / 0.016) ** 2)) * lips
    m["MouthFunnel"] = d3(-0.30 * x * lips, (2 * up - 1) * 0.004 * funnel, 0.010 * lips)
    shrug = np.exp(-((x / 0.03) ** 4)) * _gauss(0, 1, y - (Y_MOUTH - 0.022), 0.018) * fm * (1 - up)
    m["MouthShrugLower"] = d3(zero, 0.005 * shrug, 0.003 * shrug)
    puff = _gauss(np.abs(x) - 0.042, 0.016, y + 0.004, 0.018) * _smoothstep(-0.02, 0.03, z)
    m["CheekPuff"] = d3(0.014 * np.sign(x) * puff, zero, 0.009 * puff + 0.003 * lips)
    for s, side in ((1.0, "Left"), (-1.0, "Right")):
        c = corner(s, 0.012)
        cheek = _gauss(x - s * 0.036, 0.015, y - 0.018, 0.013) * fm
        m["MouthSmile" + side] = d3(0.006 * s * c, 0.008 * c + 0.004 * cheek, -0.003 * c + 0.003 * cheek)
        m["MouthFrown" + side] = d3(0.002 * s * c, -0.007 * c, -0.001 * c)
        c = corner(s, 0.011)
        m["MouthDimple" + side] = d3(0.004 * s * c, zero, -0.005 * c)
        c = corner(s, 0.016)
        m["MouthStretch" + side] = d3(0.008 * s * c, -0.003 * c - 0.002 * lips_lo * side_w(s), -0.003 * c)
        w = lips * side_w(s)
        m["MouthPress" + side] = d3(zero, (1 - 2 * up) * 0.0015 * w, -0.002 * w)
        w = lips_lo * side_w(s)
        m["MouthLowerDown" + side] = d3(zero, -0.007 * w, 0.001 * w)
        w = lips_up * side_w(s)
        m["MouthUpperUp" + side] = d3(zero, 0.006 * w, 0.001 * w)
        g = _gauss(x - s * 0.030, 0.018, y - 0.084, 0.012) * fm
        m["BrowDown" + side] = d3(-0.003 * s * g, -0.006 * g, 0.001 * g)
        m["BrowOuterUp" + side] = d3(zero, 0.008 * _gauss(x - s * 0.046, 0.013, y - 0.084, 0.012) * fm, zero)
        g = _gauss(x - s * 0.038, 0.014, y - 0.038, 0.011) * fm
        m["CheekSquint" + side] = d3(zero, 0.005 * g, 0.002 * g)
        g = _gauss(x - s * 0.012, 0.008, y - 0.038, 0.014) * fm
        m["NoseSneer" + side] = d3(zero, 0.004 * g, 0.001 * g)
        m["EyeSquint" + side] = d3(zero, 0.003 * _gauss(x - s * EYE_X, 0.014, y - 0.048, 0.007) * fm, zero)
        m["EyeWide" + side] = d3(zero, 0.002 * _gauss(x - s * EYE_X, 0.016, y - 0.078, 0.008) * fm, zero)
    return m


@lru_cache(maxsize=2)
def head_mesh(names: tuple[str, ...] = ARKIT_NAMES) -> MeshData:
    """The procedural head with one morph target per name (Live Link ARKit names), head frame.

    A morph target's displacement at weight 1 (metres); the targets add up linearly, as in glTF and
    three.js. The normal changes are measured per target; MouthClose's from JawOpen (alone it folds
    the lower lip over the upper, so only the pair is meaningful)."""
    pos, col, meta, idx = _build_head_geometry().arrays()
    part = meta["part"].astype(int)
    x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
    d = y - Y_MOUTH
    side = meta["side"]
    step = np.where(side != 0, (side > 0).astype(float), (d > 0).astype(float))
    t = _smoothstep(MOUTH_W - 0.004, MOUTH_W + 0.004, np.abs(x))
    fm = _smoothstep(0.01, 0.06, z)
    v = {
        "x": x, "y": y, "z": z, "fm": fm,
        "up": step + (_smoothstep(-0.008, 0.008, d) - step) * t,  # 1 above the lip line, 0 below
        "lips": np.exp(-((x / 0.028) ** 4)) * np.exp(-((d / 0.013) ** 2)) * fm,
        "mouth": np.exp(-((x / 0.036) ** 4)) * np.exp(-((d / 0.02) ** 2)) * fm,
        "L": np.select([part == SKIN, part == CAVITY, (part == TEETH_LO) | (part == TONGUE)],
                       [_jaw_weight(x, y, z, side), _smoothstep(Y_MOUTH + 0.004, Y_MOUTH - 0.012, y), 1.0], 0.0),
    }
    skin_morphs = _skin_morphs(v)
    lid = part == LID
    eye, upper, phi, frac = meta["eye"], meta["upper"], meta["phi"], meta["frac"]
    rest_edge = np.where(upper > 0, LID_REST["upper"], LID_REST["lower"])
    lid_rest = _lid_point(eye[lid], upper[lid], phi[lid], frac[lid], rest_edge[lid], 0.0)

    disps: dict[str, np.ndarray] = {}
    for name in names:
        disp = np.zeros_like(pos)
        base = re.sub(r"(Left|Right)$", "", name)
        if name.startswith("Jaw"):  # the jaw carries the lower face, mouth bowl, lower teeth and tongue
            mask = np.isin(part, (SKIN, CAVITY, TEETH_LO, TONGUE))
            disp[mask] = skin_morphs[name][mask]
        elif name in skin_morphs:
            disp[part == SKIN] = skin_morphs[name][part == SKIN]
        if name == "TongueOut":
            tongue = part == TONGUE
            f = np.clip((z[tongue] - 0.059) / 0.042, 0, 1)  # the tip goes furthest
            disp[tongue] = np.stack([np.zeros_like(f), -0.004 * f, 0.012 + 0.026 * f], axis=-1)
        if base in LID_TARGETS:
            tgt = LID_TARGETS[base]
            on = lid & (eye == (0 if name.endswith("Left") else 1))
            sel = on[lid]
            edge = np.where(upper[on] > 0, tgt.get("upper", LID_REST["upper"]), tgt.get("lower", LID_REST["lower"]))
            dphi = tgt.get("dphi", 0.0) * np.where(eye[on] == 0, 1.0, -1.0)  # "in" is towards the nose
            disp[on] = _lid_point(eye[on], upper[on], phi[on], frac[on], edge, dphi) - lid_rest[sel]
        disps[name] = disp

    base_normals = vertex_normals(pos, idx)
    context = {"MouthClose": "JawOpen"}
    morph_normals = []
    for name in names:
        ctx = disps.get(context.get(name, ""), None)
        ref = base_normals if ctx is None else vertex_normals(pos + ctx, idx)
        moved = pos + disps[name] + (0 if ctx is None else ctx)
        morph_normals.append((vertex_normals(moved, idx) - ref).astype(np.float32))
    return MeshData(
        positions=pos.astype(np.float32), normals=base_normals.astype(np.float32), colors=col.astype(np.float32),
        indices=idx.astype(np.uint32), morphs=tuple(disps[n].astype(np.float32) for n in names),
        morph_normals=tuple(morph_normals), morph_names=tuple(names),
    )


@lru_cache(maxsize=1)
def eyeball_mesh() -> MeshData:
    """An eyeball of radius EYE_R centred on the origin, the pupil on +Z, a slight corneal bulge."""
    n_lat, n_lon = 28, 40
    th = np.pi * np.arange(n_lat + 1)[:, None] / n_lat  # 0 at the pupil
    ph = 2 * np.pi * np.arange(n_lon)[None, :] / n_lon
    unit = np.stack(np.broadcast_arrays(np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)), axis=-1)
    ang = np.broadcast_to(th, unit.shape[:2])
    bulge = 1 + 0.05 * np.cos(np.minimum(1.0, ang / 0.5) * np.pi / 2)  # the cornea
    col = np.where((ang < 0.17)[..., None], _C["pupil"],
                   np.where((ang < 0.46)[..., None], _mix(_C["iris"], _C["iris_rim"], _smoothstep(0.30, 0.46, ang)),
                            _C["sclera"]))
    b = _Builder()
    b.patch(EYE_R * unit * bulge[..., None], col, True)
    _outward(b, 0, np.zeros(3))
    pos, col, _, idx = b.arrays()
    return MeshData(pos.astype(np.float32), vertex_normals(pos, idx).astype(np.float32), col.astype(np.float32),
                    idx.astype(np.uint32))


# --------------------------------------------------------------------------------------------------
# the body: tubes between joints, spheres at joints, palms, a torso on the spine (bind pose)
# --------------------------------------------------------------------------------------------------
_BODY_COLORS = {name: _srgb(h) for name, h in {
    "body": 0x8EA4BD, "torso": 0x7890AC, "joint": 0x4D5D74, "hand": 0xA9BBCF, "neck": 0xD9A58A}.items()}
TORSO_CHAIN: tuple[str, ...] = ("Hips", "Spine", "Spine1", "Spine2", "Spine3", "Neck")
TUBE_SIDES = 18
SPHERE_GRID = (10, 16)  # latitude, longitude steps of a joint sphere


def _segment_style(child: str, torso: bool) -> tuple[float, float, str, bool] | None:
    """(radius at the parent end, at the child end, colour, is the palm) of the segment that ends at
    joint ``child``; None: not drawn. scene.js's segmentStyle."""
    if re.search(r"HeadEnd$|Site$|UpLeg$|Hand(Index|Middle|Ring|Pinky)$|Thumb1$", child):
        return None  # the head's tip, inside the pelvis, finger roots inside the palm
    if "Thumb" in child:
        return 0.0105, 0.0095, "hand", False
    if re.search(r"(Index|Middle|Ring|Pinky)1$", child):
        return 0.009, 0.009, "hand", child.endswith("Middle1")
    if re.search(r"(Index|Middle|Ring|Pinky)[234]$", child):
        return 0.0085, 0.0075, "hand", False
    # named by the child joint: ForeArm ends the upper arm, Hand the forearm, Arm the collarbone
    if child.endswith("ForeArm"):
        return 0.047, 0.038, "body", False
    if child.endswith("Hand"):
        return 0.037, 0.026, "body", False
    if child.endswith("Arm"):
        return 0.04, 0.046, "torso", False
    if child.endswith("Shoulder"):
        return None if torso else (0.045, 0.045, "torso", False)
    if child in ("Neck", "Neck1", "Head"):
        return 0.052, 0.050, "neck", False
    if re.fullmatch(r"Spine\d*", child):
        return None if torso else (0.11, 0.11, "torso", False)
    if child.endswith("Leg"):
        return 0.07, 0.052, "body", False
    if child.endswith("Foot") and "Fore" not in child:
        return 0.048, 0.040, "body", False
    if "Toe" in child or "ForeFoot" in child:
        return 0.036, 0.030, "body", False
    return 0.03, 0.03, "body", False


def _perpendicular(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(d, a)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1)


def _torso(b: _Builder, wp: np.ndarray, chain: list[int]) -> None:
    """A smooth torso skinned to the spine chain (Hips..Spine3), blended between neighbours.
    wp: (6, 3) bind positions of TORSO_CHAIN (m)."""
    y0 = wp[0, 1]
    ys = wp[:, 1] - y0
    top, scale = ys[5] + 0.01, (ys[5] - ys[0]) / 0.54  # the profile below is for a 54 cm spine
    py = (-0.10, -0.05, 0.0, 0.08, 0.18, 0.29, 0.40, 0.47, 0.52, 0.55)
    width = _hermite(py, (0.125, 0.152, 0.155, 0.14, 0.128, 0.142, 0.163, 0.168, 0.125, 0.062))
    front = _hermite(py, (0.070, 0.092, 0.095, 0.090, 0.092, 0.108, 0.118, 0.100, 0.070, 0.052))
    back = _hermite(py, (0.075, 0.098, 0.100, 0.085, 0.078, 0.085, 0.092, 0.088, 0.070, 0.052))
    mids = (ys[:5] + ys[1:6]) / 2  # bone k drives the segment above joint k
    nr, nc = 48, 48
    yq = py[0] + (top / scale - py[0]) * np.arange(nr + 1) / nr
    k = np.ones(nr + 1)
    k[[0, -1]] = 0.0  # close both ends
    yr = yq * scale
    m = np.clip(np.searchsorted(mids, yr, side="left") - 1, 0, 3)
    bw = 1 - (yr - mids[m]) / (mids[m + 1] - mids[m])
    bi, bj = m.copy(), m + 1
    low, high = yr <= mids[0], yr >= mids[4]
    bi[low], bj[low], bw[low] = 0, 0, 1.0
    bi[high], bj[high], bw[high] = 4, 4, 1.0
    u = 2 * np.pi * np.arange(nc)[None, :] / nc
    su, cu = np.sin(u), np.cos(u)
    w, f, bk = (width(yq) * k)[:, None], (front(yq) * k)[:, None], (back(yq) * k)[:, None]
    x = w * np.sign(su) * np.abs(su) ** (2 / 2.6)
    z = np.where(cu >= 0, f, -bk) * np.abs(cu) ** (2 / 2.6)
    pts = np.stack(np.broadcast_arrays(wp[0, 0] + x, (y0 + yr)[:, None], wp[0, 2] + z), axis=-1)
    ch = np.asarray(chain)
    start = len(b.idx)
    b.patch(pts, _BODY_COLORS["torso"], True, j0=ch[bi][:, None], j1=ch[bj][:, None], w0=bw[:, None])
    _outward(b, start, np.array([wp[0, 0], y0 + 0.5 * top, wp[0, 2]]))


@lru_cache(maxsize=2)
def body_mesh(skeleton: Skeleton | None = None) -> MeshData:
    """The mannequin on ``skeleton`` (default: the canonical one) in its bind pose, skinned.

    Tubes and spheres follow one joint each (a tube parent -> child the parent joint, a sphere its
    joint): rigid, as in the preview; the torso is blended between the spine joints."""
    sk = skeleton or canonical_skeleton()
    names = sk.names
    pos, _ = forward_kinematics(sk, np.zeros((1, sk.num_joints, 3)), rest_root_position()[None])
    wp = pos[0] * CM  # (J, 3) bind positions, m
    offsets = sk.offsets * CM
    torso = all(n in names for n in TORSO_CHAIN)
    b = _Builder()
    joint_radius = np.zeros(len(names))
    ring = 2 * np.pi * np.arange(TUBE_SIDES) / TUBE_SIDES
    for j in range(1, len(names)):
        p = sk.parents[j]
        style = _segment_style(names[j], torso)
        length = float(np.linalg.norm(offsets[j]))
        if style is None or length < 0.004:
            continue
        r0, r1, color, palm = style
        d = offsets[j] / length
        e1, e2 = _perpendicular(d)
        if palm:  # the palm: a flat ellipsoid from the wrist to the knuckles
            thick = np.array([0.0, 1.0, 0.0]) - d[1] * d
            thick /= np.linalg.norm(thick)
            wide = np.cross(d, thick)
            centre = wp[p] + 0.5 * offsets[j]
            local = _ellipsoid_grid(np.zeros(3), (length * 0.58, 0.015, 0.043), *SPHERE_GRID)
            pts = centre + local @ np.stack([d, thick, wide])
            start = len(b.idx)
            b.patch(pts, _BODY_COLORS["hand"], True, j0=p, j1=p, w0=1.0)
            _outward(b, start, centre)
        circle = np.cos(ring)[:, None] * e1 + np.sin(ring)[:, None] * e2  # (S, 3)
        pts = np.stack([wp[p] + r0 * circle, wp[j] + r1 * circle])  # (2, S, 3): parent end, child end
        start = len(b.idx)
        b.patch(pts, _BODY_COLORS[color], True, j0=p, j1=p, w0=1.0)
        _outward(b, start, wp[p] + 0.5 * offsets[j])
        joint_radius[p] = max(joint_radius[p], r0)
        joint_radius[j] = max(joint_radius[j], r1)
    for j, name in enumerate(names):
        if joint_radius[j] > 0 and name not in ("Head", "Neck1", "Neck"):
            r = joint_radius[j] * (1.12 if re.search(r"Arm$|Shoulder$", name) else 1.06)  # proud of the limbs
            color = "hand" if re.search("Thumb|Index|Middle|Ring|Pinky", name) else "joint"
            start = len(b.idx)
            b.patch(_ellipsoid_grid(wp[j], (r, r, r), *SPHERE_GRID), _BODY_COLORS[color], True, j0=j, j1=j, w0=1.0)
            _outward(b, start, wp[j])
    if torso:
        chain = [names.index(n) for n in TORSO_CHAIN]
        _torso(b, wp[chain], chain[:5])
    positions, colors, meta, idx = b.arrays()
    j0, j1, w0 = meta["j0"].astype(np.uint8), meta["j1"].astype(np.uint8), meta["w0"]
    same = j0 == j1
    joints = np.zeros((len(positions), 4), np.uint8)
    weights = np.zeros((len(positions), 4), np.float32)
    joints[:, 0], joints[:, 1] = j0, np.where(same, 0, j1)
    weights[:, 0] = np.where(same, 1.0, w0)
    weights[:, 1] = np.where(same, 0.0, 1.0 - w0)
    return MeshData(positions.astype(np.float32), vertex_normals(positions, idx).astype(np.float32),
                    colors.astype(np.float32), idx.astype(np.uint32), joints=joints, weights=weights)
