/* umo scene: the procedural ARKit-52 head and the skeleton mannequin, shared by the preview page
   (preview.js, an embedded Animation) and the live page of `umo serve` (live.js, frames over a
   WebSocket). Needs three.js (global THREE). Exposes window.UmoScene:

     const ch = UmoScene.createCharacter({ canvas, names, skeleton, applyHead, onNoGL })
         names: the 52 blendshape names (Live Link order) -> ch.influences[ch.morphSlot[k]]
         skeleton: { names, parents, offsets (cm, flat) } or null for a head on a neck
         -> { renderer, scene, headGroup, headModel, headMesh, eyes, bones, hasBody, applyHead,
              setFace(weights), setHeadAngles(yaw, pitch, roll), setEyeAngles(a6), setCharacter(obj) }
     const view = UmoScene.createView(ch, { stage, canvas, insetToggle, insetBox, showInset, measure })
         measure(frameBox): grows a THREE.Box3 around what the camera must frame
         -> { resize(), render(), requestRender(), needsRender(), remeasure(), placeCamera() }

   Coordinates: metres (skeleton data is in cm), Y up, the character faces +Z, its left is +X.
   Head and eye angles (radians): yaw about +Y (positive: towards the character's left), pitch about
   +X (positive: chin/gaze down), roll about +Z; applied as R = Ry(yaw) Rx(pitch) Rz(roll), the same
   convention as umo.skeleton.head_to_rotvec. Eye yaw is the other way round, as Live Link and ARKit
   have it (and umo writes it): positive LeftEyeYaw goes with EyeLookInLeft, the gaze towards the
   character's right, so the eyeballs turn by -yaw about +Y. Bones: local quaternions relative to the
   rest pose. */
(function () {
  "use strict";
  const CM = 0.01; // data cm -> scene metres

  // ------------------------------------------------------------------------------------------------
  // small maths
  // ------------------------------------------------------------------------------------------------
  const clamp = (x, a, b) => Math.min(b, Math.max(a, x));
  const smoothstep = (e0, e1, x) => {
    const t = clamp((x - e0) / (e1 - e0), 0, 1);
    return t * t * (3 - 2 * t);
  };
  const gauss = (dx, sx, dy, sy) => Math.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2));
  const srgb = (hex) => {
    const c = new THREE.Color(hex); // hex is sRGB; three keeps linear components
    return [c.r, c.g, c.b];
  };
  const mix3 = (a, b, t) => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];

  // Cubic Hermite interpolation through (xs, ys) with finite-difference tangents: a smooth profile.
  function hermite(xs, ys) {
    const n = xs.length;
    const m = xs.map((_, i) => {
      const a = Math.max(0, i - 1), b = Math.min(n - 1, i + 1);
      return (ys[b] - ys[a]) / (xs[b] - xs[a]);
    });
    return (x) => {
      x = clamp(x, xs[0], xs[n - 1]);
      let i = 0;
      while (i < n - 2 && x > xs[i + 1]) i++;
      const h = xs[i + 1] - xs[i], t = (x - xs[i]) / h, t2 = t * t, t3 = t2 * t;
      return (2 * t3 - 3 * t2 + 1) * ys[i] + (t3 - 2 * t2 + t) * h * m[i] +
        (-2 * t3 + 3 * t2) * ys[i + 1] + (t3 - t2) * h * m[i + 1];
    };
  }

  // ------------------------------------------------------------------------------------------------
  // the procedural head: one mesh (skin, lips, brows, hair, eyelids, ears, mouth, teeth, tongue)
  // with the 52 ARKit morph targets; eyeballs are separate meshes turned by the eye angles.
  // Head-local frame: origin at the skeleton's Head joint (base of the skull).
  // ------------------------------------------------------------------------------------------------
  const HEAD = {
    lift: 0.03, // the model sits this much above the Head joint (the joint is near the top of the neck)
    yBot: -0.062, yTop: 0.172, // chin underside and crown
    yMouth: -0.012, mouthW: 0.024, // the lip line and the half-width of the mouth slit
    eyeX: 0.032, eyeY: 0.063, eyeR: 0.0125,
    lidUpperR: 0.0143, lidLowerR: 0.0139, // the upper lid closes over the lower one
    jawPivot: [0, 0.035, -0.005], jawAngle: 0.30, // JawOpen = 1 turns the jaw 0.30 rad (~17 degrees)
  };
  const PROFILE_Y = [-0.04, -0.025, -0.01, 0.005, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12];
  const widthAt = hermite(PROFILE_Y, [0.043, 0.052, 0.057, 0.061, 0.066, 0.070, 0.073, 0.075, 0.076, 0.074]);
  const frontAt = hermite(PROFILE_Y, [0.084, 0.092, 0.096, 0.098, 0.099, 0.100, 0.101, 0.101, 0.099, 0.092]);
  const backAt = hermite(PROFILE_Y, [0.040, 0.055, 0.068, 0.080, 0.090, 0.097, 0.101, 0.103, 0.102, 0.097]);
  const A_FRONT = 2.5, A_BACK = 2.2; // superellipse exponents of the horizontal cross-sections

  /** Half-width, front depth and back depth of the head's cross-section at height y. */
  function section(y) {
    let k = 1, yy = y;
    if (y < -0.04) {
      const s = (-0.04 - y) / (-0.04 - HEAD.yBot);
      k = Math.sqrt(Math.max(0, 1 - s * s));
      yy = -0.04;
    } else if (y > 0.12) {
      const s = (y - 0.12) / (HEAD.yTop - 0.12);
      k = Math.sqrt(Math.max(0, 1 - s * s));
      yy = 0.12;
    }
    return [widthAt(yy) * k, frontAt(yy) * k, backAt(yy) * k];
  }
  function frontSurfaceZ(x, y) {
    const [w, f] = section(y);
    return f * Math.pow(Math.max(0, 1 - Math.abs(x / w) ** A_FRONT), 1 / A_FRONT);
  }
  HEAD.eyeZ = frontSurfaceZ(HEAD.eyeX, HEAD.eyeY) - HEAD.eyeR + 0.0005;

  const PART = { SKIN: 0, CAVITY: 1, TEETH_UP: 2, TEETH_LO: 3, TONGUE: 4, LID: 5, EAR: 6 };
  const COLORS = {
    skin: srgb(0xd9a58a), lips: srgb(0xb0605e), brow: srgb(0x4a3326), hair: srgb(0x3a281e),
    lash: srgb(0x1c1310), teeth: srgb(0xefe8da), tongue: srgb(0xc05a62), cavity: srgb(0x5a1c20),
    cavityDeep: srgb(0x220909),
  };

  /** The jaw weight of a face vertex: 0 does not follow the jaw, 1 follows it fully.
   *  side: +1 the upper copy of a vertex on the lip line, -1 the lower copy, 0 elsewhere. */
  function jawWeight(x, y, z, side) {
    const d = y - HEAD.yMouth, ax = Math.abs(x), W = HEAD.mouthW;
    const c = ax < W ? Math.sqrt(1 - (ax / W) ** 2) : 0; // the slit opens as an ellipse
    const band = 0.004 + 0.022 * smoothstep(0.6 * W, 2.4 * W, ax); // cheeks stretch over a wider band
    const sgn = side !== 0 ? side : Math.sign(d);
    const s = 2 * smoothstep(-band, band, d) - 1;
    const L = 0.5 - 0.5 * (c * sgn + (1 - c) * s);
    return L * smoothstep(-0.03, 0.03, z); // the back of the head and the neck stay
  }

  function buildHeadGeometry() {
    const pos = [], col = [], idx = [], meta = [];
    const add = (p, c, m) => {
      pos.push(p[0], p[1], p[2]);
      col.push(c[0], c[1], c[2]);
      meta.push(m);
      return meta.length - 1;
    };

    // --- the skin: stacked superellipse cross-sections, with a slit along the lip line ---------
    const ys = [];
    for (let i = 0; i < 10; i++) ys.push(-0.04 + (HEAD.yBot + 0.04) * Math.sin(Math.PI / 2 * (1 - i / 10)));
    for (let i = 0; i < 20; i++) ys.push(-0.04 + (HEAD.yMouth + 0.04) * i / 20);
    const rowMouth = ys.length;
    for (let i = 0; i < 76; i++) ys.push(HEAD.yMouth + (0.12 - HEAD.yMouth) * i / 76);
    for (let i = 0; i <= 22; i++) ys.push(0.12 + (HEAD.yTop - 0.12) * Math.sin(Math.PI / 2 * i / 22));
    const NU = 152;
    const us = [];
    for (let i = 0; i < NU; i++) {
      const s = -1 + 2 * i / NU;
      us.push(Math.PI * s * (0.4 + 0.6 * s * s)); // denser columns on the face
    }
    const grid = [];
    const lowerCopy = new Map(); // column -> index of the lower-lip copy on the lip line
    for (let r = 0; r < ys.length; r++) {
      const row = [];
      for (let c = 0; c < NU; c++) {
        const u = us[c], y = ys[r];
        const [w, f, b] = section(y);
        const su = Math.sin(u), cu = Math.cos(u), a = cu >= 0 ? A_FRONT : A_BACK;
        let x = w * Math.sign(su) * Math.abs(su) ** (2 / a);
        let z = (cu >= 0 ? f : -b) * Math.abs(cu) ** (2 / a);
        const [p, color] = sculpt(x, y, z, u);
        const inSlit = r === rowMouth && cu > 0 && Math.abs(p[0]) < HEAD.mouthW - 1e-4;
        row.push(add(p, color, { part: PART.SKIN, side: inSlit ? 1 : 0 }));
        if (inSlit) lowerCopy.set(c, add(p, color, { part: PART.SKIN, side: -1 }));
      }
      grid.push(row);
    }
    for (let r = 0; r + 1 < ys.length; r++) {
      for (let c = 0; c < NU; c++) {
        const c1 = (c + 1) % NU;
        const a = grid[r][c], b = grid[r][c1];
        let d = grid[r + 1][c], e = grid[r + 1][c1];
        if (r + 1 === rowMouth) { // the quads under the lip line hang on the lower lip
          if (lowerCopy.has(c)) d = lowerCopy.get(c);
          if (lowerCopy.has(c1)) e = lowerCopy.get(c1);
        }
        idx.push(a, b, e, a, e, d);
      }
    }

    // --- mouth: a dark bowl behind the lips, teeth, tongue --------------------------------------
    const ym = HEAD.yMouth;
    const bowl = { c: [0, ym - 0.004, 0.086], r: [0.026, 0.021, 0.04] };
    patch(14, 24, (i, j) => {
      const v = Math.PI / 2 + (Math.PI / 2) * i / 14, u = 2 * Math.PI * j / 24; // back half only
      const p = [bowl.c[0] + bowl.r[0] * Math.sin(v) * Math.cos(u), bowl.c[1] + bowl.r[1] * Math.sin(v) * Math.sin(u),
        bowl.c[2] + bowl.r[2] * Math.cos(v)];
      return [p, mix3(COLORS.cavity, COLORS.cavityDeep, i / 14), { part: PART.CAVITY, side: 0 }];
    }, true);
    const teeth = (part, radius, zc, y0, y1) => patch(3, 20, (i, j) => {
      const a = -0.85 + 1.7 * j / 20, y = y0 + (y1 - y0) * i / 3;
      return [[radius * Math.sin(a), y, zc + radius * Math.cos(a)], COLORS.teeth, { part, side: 0 }];
    }, false);
    teeth(PART.TEETH_UP, 0.025, 0.075, ym - 0.0015, ym + 0.009);
    teeth(PART.TEETH_LO, 0.023, 0.074, ym - 0.010, ym - 0.002);
    const tongue = { c: [0, ym - 0.010, 0.080], r: [0.018, 0.0055, 0.021] };
    ellipsoid(tongue.c, tongue.r, 10, 16, COLORS.tongue, { part: PART.TONGUE, side: 0 });

    // --- ears ---------------------------------------------------------------------------------
    for (const sx of [1, -1]) {
      ellipsoid([sx * 0.073, 0.050, -0.012], [0.010, 0.029, 0.017], 10, 16, COLORS.skin, { part: PART.EAR, side: 0 },
        (p) => [p[0] + sx * 0.25 * (p[2] + 0.012), p[1], p[2]]); // flare backwards-out
    }

    // --- eyelids: spherical shells around each eyeball, parametrised so morphs move the edge ----
    for (const eye of [0, 1]) {
      const sx = eye === 0 ? 1 : -1;
      for (const upper of [true, false]) {
        const K = 10, NPHI = 26;
        patch(K, NPHI, (k, j) => {
          const phi = -1.45 + 2.9 * j / NPHI, frac = k / K;
          const m = { part: PART.LID, side: 0, eye, upper, phi, frac };
          let color = COLORS.skin;
          if (upper && k >= K - 1) color = COLORS.lash;
          else if (!upper && k === K) color = mix3(COLORS.skin, COLORS.lips, 0.4);
          return [lidPoint(m, lidRest(upper), 0), color, m];
        }, false);
      }
    }

    // Helpers that add a (rows+1) x (cols+1) vertex patch; `wrap` joins the last column to the first.
    function patch(rows, cols, fn, wrap) {
      const ids = [];
      const nc = wrap ? cols : cols + 1;
      for (let i = 0; i <= rows; i++) {
        const row = [];
        for (let j = 0; j < nc; j++) {
          const [p, c, m] = fn(i, j);
          row.push(add(p, c, m));
        }
        ids.push(row);
      }
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          const j1 = wrap ? (j + 1) % cols : j + 1;
          idx.push(ids[i][j], ids[i][j1], ids[i + 1][j1], ids[i][j], ids[i + 1][j1], ids[i + 1][j]);
        }
      }
    }
    function ellipsoid(c, r, nv, nu, color, m, warp) {
      patch(nv, nu, (i, j) => {
        const v = Math.PI * i / nv, u = 2 * Math.PI * j / nu;
        let p = [c[0] + r[0] * Math.sin(v) * Math.sin(u), c[1] - r[1] * Math.cos(v), c[2] + r[2] * Math.sin(v) * Math.cos(u)];
        if (warp) p = warp(p);
        return [p, color, Object.assign({}, m)];
      }, true);
    }

    return { pos: new Float32Array(pos), col: new Float32Array(col), idx, meta };
  }

  /** Face features on the base superellipsoid: returns the displaced point and its colour. */
  function sculpt(x, y, z, u) {
    const ax = Math.abs(x), ym = HEAD.yMouth;
    const fm = smoothstep(0.01, 0.06, z); // the face, not the sides and back
    let dx = 0, dy = 0, dz = 0;
    dz += 0.012 * gauss(x, 0.032, y - ym, 0.028) * fm; // muzzle
    // nose: bridge to tip, wings
    const tNose = clamp((0.072 - y) / (0.072 - 0.026), 0, 1);
    let hNose = y > 0.072 ? 0.004 * Math.exp(-(((y - 0.072) / 0.012) ** 2)) :
      y > 0.026 ? 0.004 + 0.016 * tNose ** 1.4 : 0.020 * Math.exp(-(((0.026 - y) / 0.0075) ** 2));
    dz += hNose * Math.exp(-0.5 * (x / (0.0065 + 0.006 * tNose)) ** 2) * fm;
    dz += 0.005 * gauss(x, 0.009, y - 0.028, 0.008) * fm; // tip
    dz += 0.007 * gauss(ax - 0.014, 0.006, y - 0.022, 0.006) * fm; // wings
    dz += 0.006 * gauss(ax - 0.030, 0.022, y - 0.085, 0.008) * fm; // brow ridge
    dz -= 0.010 * gauss(ax - HEAD.eyeX, 0.0135, y - HEAD.eyeY, 0.0095) * fm; // eye sockets
    const cheek = gauss(ax - 0.046, 0.014, y - 0.040, 0.014) * fm; // cheekbones
    dz += 0.004 * cheek; dx += 0.003 * Math.sign(x) * cheek;
    const lipX = Math.exp(-((x / HEAD.mouthW) ** 4));
    const upperLip = lipX * Math.exp(-0.5 * ((y - (ym + 0.006)) / 0.0045) ** 2);
    const lowerLip = lipX * Math.exp(-0.5 * ((y - (ym - 0.007)) / 0.0055) ** 2);
    dz += (0.0045 * upperLip + 0.0055 * lowerLip) * fm;
    dz -= 0.002 * lipX * Math.exp(-0.5 * ((y - ym) / 0.0015) ** 2) * fm; // lips curl in at the line
    dz += 0.010 * gauss(x, 0.016, y + 0.045, 0.010) * fm; // chin
    dy -= 0.004 * gauss(x, 0.02, y + 0.055, 0.008) * fm;

    let color = COLORS.skin;
    const lip = clamp(1.6 * (upperLip + lowerLip) - 0.25, 0, 1) * fm;
    color = mix3(color, COLORS.lips, lip);
    const browArc = 0.085 + 0.004 * (1 - ((ax - 0.030) / 0.02) ** 2);
    const brow = Math.exp(-(((ax - 0.031) / 0.018) ** 4)) * smoothstep(0.0045, 0.002, Math.abs(y - browArc)) * fm;
    color = mix3(color, COLORS.brow, brow);
    const au = Math.abs(u);
    const hairLine = Math.min(0.116 + (0.0 - 0.116) * smoothstep(0.45 * Math.PI, 0.85 * Math.PI, au),
      0.05 + 0.35 * Math.abs(au - 0.47 * Math.PI)); // falls to the nape; sideburns in front of the ears
    color = mix3(color, COLORS.hair, smoothstep(hairLine - 0.002, hairLine + 0.004, y));
    return [[x + dx, y + dy, z + dz], color];
  }

  // Eyelid edges: elevation (radians, 0 = the eye centre's height) of the lid edge at the middle of
  // the eye, per state; the edge curves down to 0 at the corners.
  const LID_REST = { upper: 0.30, lower: -0.42 };
  const lidRest = (upper) => (upper ? LID_REST.upper : LID_REST.lower);
  function lidPoint(m, edge, dphi) {
    const PHI_C = 1.25;
    const shape = Math.max(0, 1 - (m.phi / PHI_C) ** 2);
    const top = m.upper ? 1.25 : -1.15;
    const el = top + m.frac * (edge * shape - top);
    const r = m.upper ? HEAD.lidUpperR : HEAD.lidLowerR;
    const sx = m.eye === 0 ? 1 : -1, phi = m.phi + dphi;
    return [sx * HEAD.eyeX + r * Math.cos(el) * Math.sin(phi), HEAD.eyeY + r * Math.sin(el),
      HEAD.eyeZ + r * Math.cos(el) * Math.cos(phi)];
  }
  // Lid edges per eye morph: [upper, lower] edge elevations at weight 1, and an azimuth shift.
  const LID_TARGETS = {
    EyeBlink: { upper: -0.40, lower: -0.34 },
    EyeSquint: { upper: 0.18, lower: -0.14 },
    EyeWide: { upper: 0.62, lower: -0.48 },
    EyeLookDown: { upper: 0.02, lower: -0.56 },
    EyeLookUp: { upper: 0.52, lower: -0.34 },
    EyeLookIn: { dphi: -0.14 }, // towards the nose (for the left eye, -X)
    EyeLookOut: { dphi: 0.14 },
  };

  // Skin displacements of the morph targets: f(v) -> [dx, dy, dz] for a face vertex v
  // (rest x, y, z; L jaw weight; up: 1 above the lip line, 0 below; fm face mask; lips: lip mask).
  function jawOpenDisp(v, angle) {
    const [, py, pz] = HEAD.jawPivot;
    const ry = v.y - py, rz = v.z - pz, c = Math.cos(angle), s = Math.sin(angle);
    return [0, (ry * c - rz * s - ry) * v.L, (ry * s + rz * c - rz) * v.L];
  }
  const sideW = (x, s) => smoothstep(-0.012, 0.012, s * x); // 1 on side s (+1 left, -1 right)
  const corner = (v, s, sigma) => gauss(v.x - s * HEAD.mouthW, sigma, v.y - HEAD.yMouth, sigma) * v.fm;
  const lipsUpper = (v) => v.lips * v.up, lipsLower = (v) => v.lips * (1 - v.up);
  const SKIN_MORPHS = {
    JawForward: (v) => [0, 0, 0.010 * v.L],
    JawLeft: (v) => [0.011 * v.L, 0, 0],
    JawRight: (v) => [-0.011 * v.L, 0, 0],
    JawOpen: (v) => jawOpenDisp(v, HEAD.jawAngle),
    MouthClose: (v) => { // the lips meet while the jaw stays open: undo JawOpen on the lips
      const m = smoothstep(HEAD.mouthW + 0.014, HEAD.mouthW, Math.abs(v.x)) * Math.exp(-(((v.y - HEAD.yMouth) / 0.014) ** 2));
      const d = jawOpenDisp(v, HEAD.jawAngle);
      return [0, -d[1] * m, -d[2] * m];
    },
    MouthFunnel: (v) => {
      const open = Math.exp(-((v.x / 0.016) ** 2)) * v.lips;
      return [-0.30 * v.x * v.lips, (2 * v.up - 1) * 0.004 * open, 0.010 * v.lips];
    },
    MouthPucker: (v) => [-0.45 * v.x * v.lips, (1 - 2 * v.up) * 0.001 * v.lips, 0.013 * v.lips],
    MouthLeft: (v) => [0.009 * v.mouthArea, 0, 0],
    MouthRight: (v) => [-0.009 * v.mouthArea, 0, 0],
    MouthRollLower: (v) => [0, 0.002 * lipsLower(v), -0.006 * lipsLower(v)],
    MouthRollUpper: (v) => [0, -0.002 * lipsUpper(v), -0.006 * lipsUpper(v)],
    MouthShrugLower: (v) => {
      const m = Math.exp(-((v.x / 0.03) ** 4)) * gauss(0, 1, v.y - (HEAD.yMouth - 0.022), 0.018) * v.fm * (1 - v.up);
      return [0, 0.005 * m, 0.003 * m];
    },
    MouthShrugUpper: (v) => [0, 0.004 * lipsUpper(v), 0.001 * lipsUpper(v)],
    BrowInnerUp: (v) => [0, 0.008 * gauss(Math.abs(v.x) - 0.012, 0.014, v.y - 0.086, 0.014) * v.fm, 0],
    CheekPuff: (v) => {
      const m = gauss(Math.abs(v.x) - 0.042, 0.016, v.y + 0.004, 0.018) * smoothstep(-0.02, 0.03, v.z);
      return [0.014 * Math.sign(v.x) * m, 0, 0.009 * m + 0.003 * v.lips];
    },
    TongueOut: () => [0, 0, 0],
  };
  for (const [s, side] of [[1, "Left"], [-1, "Right"]]) {
    SKIN_MORPHS["MouthSmile" + side] = (v) => {
      const c = corner(v, s, 0.012), ch = gauss(v.x - s * 0.036, 0.015, v.y - 0.018, 0.013) * v.fm;
      return [0.006 * s * c, 0.008 * c + 0.004 * ch, -0.003 * c + 0.003 * ch];
    };
    SKIN_MORPHS["MouthFrown" + side] = (v) => {
      const c = corner(v, s, 0.012);
      return [0.002 * s * c, -0.007 * c, -0.001 * c];
    };
    SKIN_MORPHS["MouthDimple" + side] = (v) => {
      const c = corner(v, s, 0.011);
      return [0.004 * s * c, 0, -0.005 * c];
    };
    SKIN_MORPHS["MouthStretch" + side] = (v) => {
      const c = corner(v, s, 0.016);
      return [0.008 * s * c, -0.003 * c - 0.002 * lipsLower(v) * sideW(v.x, s), -0.003 * c];
    };
    SKIN_MORPHS["MouthPress" + side] = (v) => {
      const w = v.lips * sideW(v.x, s);
      return [0, (1 - 2 * v.up) * 0.0015 * w, -0.002 * w];
    };
    SKIN_MORPHS["MouthLowerDown" + side] = (v) => {
      const w = lipsLower(v) * sideW(v.x, s);
      return [0, -0.007 * w, 0.001 * w];
    };
    SKIN_MORPHS["MouthUpperUp" + side] = (v) => {
      const w = lipsUpper(v) * sideW(v.x, s);
      return [0, 0.006 * w, 0.001 * w];
    };
    SKIN_MORPHS["BrowDown" + side] = (v) => {
      const m = gauss(v.x - s * 0.030, 0.018, v.y - 0.084, 0.012) * v.fm;
      return [-0.003 * s * m, -0.006 * m, 0.001 * m];
    };
    SKIN_MORPHS["BrowOuterUp" + side] = (v) => [0, 0.008 * gauss(v.x - s * 0.046, 0.013, v.y - 0.084, 0.012) * v.fm, 0];
    SKIN_MORPHS["CheekSquint" + side] = (v) => {
      const m = gauss(v.x - s * 0.038, 0.014, v.y - 0.038, 0.011) * v.fm;
      return [0, 0.005 * m, 0.002 * m];
    };
    SKIN_MORPHS["NoseSneer" + side] = (v) => {
      const m = gauss(v.x - s * 0.012, 0.008, v.y - 0.038, 0.014) * v.fm;
      return [0, 0.004 * m, 0.001 * m];
    };
    SKIN_MORPHS["EyeSquint" + side] = (v) => [0, 0.003 * gauss(v.x - s * HEAD.eyeX, 0.014, v.y - 0.048, 0.007) * v.fm, 0];
    SKIN_MORPHS["EyeWide" + side] = (v) => [0, 0.002 * gauss(v.x - s * HEAD.eyeX, 0.016, v.y - 0.078, 0.008) * v.fm, 0];
  }

  /** Displacement of vertex v under the morph `name` at weight 1. */
  function morphDisp(name, v) {
    const jawFamily = name.startsWith("Jaw");
    if (v.part === PART.LID) {
      const base = name.replace(/(Left|Right)$/, ""), t = LID_TARGETS[base];
      if (!t || (name.endsWith("Left") ? 0 : 1) !== v.eye) return null;
      const rest = lidPoint(v, lidRest(v.upper), 0);
      const dphi = (t.dphi || 0) * (v.eye === 0 ? 1 : -1); // "in" is towards the nose on both sides
      const edge = v.upper ? (t.upper ?? LID_REST.upper) : (t.lower ?? LID_REST.lower);
      const p = lidPoint(v, edge, dphi);
      return [p[0] - rest[0], p[1] - rest[1], p[2] - rest[2]];
    }
    if (v.part === PART.EAR || v.part === PART.TEETH_UP) return null;
    if (v.part === PART.TONGUE) {
      if (name === "TongueOut") {
        const f = clamp((v.z - 0.059) / 0.042, 0, 1); // the tip goes furthest
        return [0, -0.004 * f, 0.012 + 0.026 * f];
      }
      return jawFamily ? SKIN_MORPHS[name](v) : null;
    }
    if (v.part !== PART.SKIN) return jawFamily ? SKIN_MORPHS[name](v) : null;
    const f = SKIN_MORPHS[name];
    return f ? f(v) : null;
  }

  function computeNormals(pos, idx, out) {
    out.fill(0);
    for (let t = 0; t < idx.length; t += 3) {
      const a = idx[t] * 3, b = idx[t + 1] * 3, c = idx[t + 2] * 3;
      const e1x = pos[b] - pos[a], e1y = pos[b + 1] - pos[a + 1], e1z = pos[b + 2] - pos[a + 2];
      const e2x = pos[c] - pos[a], e2y = pos[c + 1] - pos[a + 1], e2z = pos[c + 2] - pos[a + 2];
      const nx = e1y * e2z - e1z * e2y, ny = e1z * e2x - e1x * e2z, nz = e1x * e2y - e1y * e2x;
      for (const k of [a, b, c]) { out[k] += nx; out[k + 1] += ny; out[k + 2] += nz; }
    }
    for (let i = 0; i < out.length; i += 3) {
      const n = Math.hypot(out[i], out[i + 1], out[i + 2]) || 1;
      out[i] /= n; out[i + 1] /= n; out[i + 2] /= n;
    }
  }

  function buildHeadMesh(NAMES) {
    const { pos, col, idx, meta } = buildHeadGeometry();
    const nv = meta.length;
    // per-vertex quantities the morphs share
    const verts = meta.map((m, i) => {
      const x = pos[3 * i], y = pos[3 * i + 1], z = pos[3 * i + 2];
      const v = Object.assign({ x, y, z }, m);
      const d = y - HEAD.yMouth;
      v.fm = smoothstep(0.01, 0.06, z);
      // 1 above the lip line, 0 below: a step across the slit, smooth beyond the mouth corners
      const step = m.side !== 0 ? (m.side > 0 ? 1 : 0) : (d > 0 ? 1 : 0);
      const t = smoothstep(HEAD.mouthW - 0.004, HEAD.mouthW + 0.004, Math.abs(x));
      v.up = step + (smoothstep(-0.008, 0.008, d) - step) * t;
      v.lips = Math.exp(-((x / 0.028) ** 4)) * Math.exp(-((d / 0.013) ** 2)) * v.fm;
      v.mouthArea = Math.exp(-((x / 0.036) ** 4)) * Math.exp(-((d / 0.02) ** 2)) * v.fm;
      if (m.part === PART.SKIN) v.L = jawWeight(x, y, z, m.side);
      else if (m.part === PART.CAVITY) v.L = smoothstep(HEAD.yMouth + 0.004, HEAD.yMouth - 0.012, y);
      else if (m.part === PART.TEETH_LO || m.part === PART.TONGUE) v.L = 1;
      else v.L = 0;
      return v;
    });
    const geo = new THREE.BufferGeometry();
    geo.setAttribute("position", new THREE.BufferAttribute(pos, 3));
    geo.setAttribute("color", new THREE.BufferAttribute(col, 3));
    geo.setIndex(idx);
    const baseNormal = new Float32Array(nv * 3);
    computeNormals(pos, idx, baseNormal);
    geo.setAttribute("normal", new THREE.BufferAttribute(baseNormal, 3));
    const morphPos = [], morphNrm = [], disps = {};
    for (const name of NAMES) {
      const disp = new Float32Array(nv * 3);
      for (let i = 0; i < nv; i++) {
        const d = morphDisp(name, verts[i]);
        if (d) { disp[3 * i] = d[0]; disp[3 * i + 1] = d[1]; disp[3 * i + 2] = d[2]; }
      }
      disps[name] = disp;
    }
    // Normal deltas. MouthClose only makes sense on an open jaw (alone it folds the lower lip over
    // the upper), so its normals are measured from JawOpen to JawOpen + MouthClose.
    const NORMAL_CONTEXT = { MouthClose: "JawOpen" };
    const moved = new Float32Array(nv * 3), nrm = new Float32Array(nv * 3), ctxNrm = new Float32Array(nv * 3);
    for (const name of NAMES) {
      const disp = disps[name], ctx = disps[NORMAL_CONTEXT[name]];
      let ref = baseNormal;
      if (ctx) {
        for (let k = 0; k < moved.length; k++) moved[k] = pos[k] + ctx[k];
        computeNormals(moved, idx, ctxNrm);
        ref = ctxNrm;
      }
      for (let k = 0; k < moved.length; k++) moved[k] = pos[k] + disp[k] + (ctx ? ctx[k] : 0);
      computeNormals(moved, idx, nrm);
      const dn = new Float32Array(nv * 3);
      for (let k = 0; k < dn.length; k++) dn[k] = nrm[k] - ref[k];
      const pa = new THREE.BufferAttribute(disp, 3); pa.name = name;
      const na = new THREE.BufferAttribute(dn, 3); na.name = name;
      morphPos.push(pa); morphNrm.push(na);
    }
    geo.morphAttributes.position = morphPos;
    geo.morphAttributes.normal = morphNrm;
    geo.morphTargetsRelative = true;
    const mat = new THREE.MeshStandardMaterial({ vertexColors: true, roughness: 0.62, metalness: 0.0, side: THREE.DoubleSide });
    const mesh = new THREE.Mesh(geo, mat);
    mesh.name = "umoHead";
    mesh.updateMorphTargets(); // morphTargetDictionary keyed by the Live Link names
    return mesh;
  }

  function buildEyeball() {
    const geo = new THREE.SphereGeometry(HEAD.eyeR, 40, 28);
    geo.rotateX(Math.PI / 2); // poles on Z: the pupil looks down +Z
    const p = geo.attributes.position, colors = new Float32Array(p.count * 3);
    const sclera = srgb(0xf1ede6), iris = srgb(0x5f7f9c), irisRim = srgb(0x2a3a4c), pupil = srgb(0x060606);
    for (let i = 0; i < p.count; i++) {
      const x = p.getX(i), y = p.getY(i), z = p.getZ(i);
      const ang = Math.acos(clamp(z / HEAD.eyeR, -1, 1));
      let c = sclera;
      if (ang < 0.17) c = pupil;
      else if (ang < 0.46) c = mix3(iris, irisRim, smoothstep(0.30, 0.46, ang));
      colors.set(c, 3 * i);
      const bulge = 1 + 0.05 * Math.cos(Math.min(1, ang / 0.5) * Math.PI / 2); // cornea
      p.setXYZ(i, x * bulge, y * bulge, z * bulge);
    }
    geo.setAttribute("color", new THREE.BufferAttribute(colors, 3));
    geo.computeVertexNormals();
    return new THREE.Mesh(geo, new THREE.MeshStandardMaterial({ vertexColors: true, roughness: 0.22 }));
  }

  // ------------------------------------------------------------------------------------------------
  // the body: a Bone per joint, with capsules between joints and spheres at joints
  // ------------------------------------------------------------------------------------------------
  const MAT = {
    body: new THREE.MeshStandardMaterial({ color: 0x8ea4bd, roughness: 0.5, metalness: 0.05 }),
    torso: new THREE.MeshStandardMaterial({ color: 0x7890ac, roughness: 0.55, metalness: 0.05 }),
    joint: new THREE.MeshStandardMaterial({ color: 0x4d5d74, roughness: 0.45, metalness: 0.1 }),
    hand: new THREE.MeshStandardMaterial({ color: 0xa9bbcf, roughness: 0.5, metalness: 0.03 }),
    neck: new THREE.MeshStandardMaterial({ color: 0xd9a58a, roughness: 0.6 }),
  };
  const UNIT_SPHERE = new THREE.SphereGeometry(1, 24, 16);
  const Y_AXIS = new THREE.Vector3(0, 1, 0);

  /** Radii (m) at the parent and child end of the segment parent -> child, and its material; null: not drawn. */
  function segmentStyle(child, parent) {
    const is = (re, s) => re.test(s);
    if (is(/HeadEnd$|Site$/, child)) return null;
    if (is(/UpLeg$/, child)) return null; // inside the pelvis
    if (is(/Hand(Index|Middle|Ring|Pinky)$/, child)) return null; // finger roots: inside the palm
    if (is(/Thumb1$/, child)) return null;
    if (is(/Thumb/, child)) return { r0: 0.0105, r1: 0.0095, mat: MAT.hand };
    if (is(/(Index|Middle|Ring|Pinky)1$/, child)) return { r0: 0.009, r1: 0.009, mat: MAT.hand, palm: is(/Middle1$/, child) };
    if (is(/(Index|Middle|Ring|Pinky)[234]$/, child)) return { r0: 0.0085, r1: 0.0075, mat: MAT.hand };
    // named by the child joint: ForeArm ends the upper arm, Hand the forearm, Arm the collarbone
    if (is(/ForeArm$/, child)) return { r0: 0.047, r1: 0.038, mat: MAT.body };
    if (is(/Hand$/, child)) return { r0: 0.037, r1: 0.026, mat: MAT.body };
    if (is(/Arm$/, child)) return { r0: 0.04, r1: 0.046, mat: MAT.torso };
    if (is(/Shoulder$/, child)) return TORSO_JOINTS ? null : { r0: 0.045, r1: 0.045, mat: MAT.torso };
    if (is(/^(Neck|Neck1|Head)$/, child)) return { r0: 0.052, r1: 0.050, mat: MAT.neck };
    if (is(/^(Spine\d*|Neck)$/, child) && TORSO_JOINTS) return null;
    if (is(/^Spine\d*$/, child)) return { r0: 0.11, r1: 0.11, mat: MAT.torso };
    if (is(/Leg$/, child)) return { r0: 0.07, r1: 0.052, mat: MAT.body };
    if (is(/Foot$/, child)) return { r0: 0.048, r1: 0.040, mat: MAT.body };
    if (is(/Toe|ForeFoot/, child)) return { r0: 0.036, r1: 0.030, mat: MAT.body };
    return { r0: 0.03, r1: 0.03, mat: MAT.body };
  }
  let TORSO_JOINTS = false; // the canonical spine names are present: draw a shaped torso instead

  function addEllipsoid(parent, center, radii, mat, quat) {
    const m = new THREE.Mesh(UNIT_SPHERE, mat);
    m.position.set(center[0], center[1], center[2]);
    m.scale.set(radii[0], radii[1], radii[2]);
    if (quat) m.quaternion.copy(quat);
    parent.add(m);
    return m;
  }

  function buildBody(sk) {
    const names = sk.names, parents = sk.parents;
    const off = (j) => new THREE.Vector3(sk.offsets[3 * j], sk.offsets[3 * j + 1], sk.offsets[3 * j + 2]).multiplyScalar(CM);
    TORSO_JOINTS = ["Hips", "Spine1", "Spine2", "Spine3"].every((n) => names.includes(n));
    const bones = [];
    names.forEach((n, j) => {
      const b = new THREE.Bone();
      b.name = n;
      b.position.copy(off(j));
      if (parents[j] >= 0) bones[parents[j]].add(b);
      bones.push(b);
    });
    const jointRadius = new Array(names.length).fill(0);
    for (let j = 1; j < names.length; j++) {
      const p = parents[j], style = segmentStyle(names[j], names[p]), o = off(j), len = o.length();
      if (!style || len < 0.004) continue;
      const dir = o.clone().normalize();
      if (style.palm) { // the palm: a flat ellipsoid from the wrist to the knuckles
        const thick = Y_AXIS.clone().addScaledVector(dir, -Y_AXIS.dot(dir)).normalize();
        const wide = new THREE.Vector3().crossVectors(dir, thick);
        const q = new THREE.Quaternion().setFromRotationMatrix(new THREE.Matrix4().makeBasis(dir, thick, wide));
        addEllipsoid(bones[p], o.clone().multiplyScalar(0.5).toArray(), [len * 0.58, 0.015, 0.043], MAT.hand, q);
      }
      const geo = new THREE.CylinderGeometry(style.r1, style.r0, len, 18, 1, true);
      const m = new THREE.Mesh(geo, style.mat);
      m.position.copy(o).multiplyScalar(0.5);
      m.quaternion.setFromUnitVectors(Y_AXIS, dir);
      bones[p].add(m);
      jointRadius[p] = Math.max(jointRadius[p], style.r0);
      jointRadius[j] = Math.max(jointRadius[j], style.r1);
    }
    for (let j = 0; j < names.length; j++) {
      if (jointRadius[j] > 0 && !/^(Head|Neck1|Neck)$/.test(names[j])) {
        const r = jointRadius[j] * (/Arm$|Shoulder$/.test(names[j]) ? 1.12 : 1.06); // proud of the limbs: no z-fighting
        const mat = /Thumb|Index|Middle|Ring|Pinky/.test(names[j]) ? MAT.hand : MAT.joint;
        addEllipsoid(bones[j], [0, 0, 0], [r, r, r], mat);
      }
    }
    return bones;
  }

  /** A smooth torso skinned to the spine chain (Hips, Spine..Spine3), bound at the rest pose.
   *  Call with the bones at rest and in the scene. */
  const TORSO_CHAIN = ["Hips", "Spine", "Spine1", "Spine2", "Spine3", "Neck"];
  function buildTorso(bones, names) {
    const chain = TORSO_CHAIN.map((n) => bones[names.indexOf(n)]);
    if (chain.some((b) => !b)) return null;
    const wp = chain.map((b) => b.getWorldPosition(new THREE.Vector3()));
    const y0 = wp[0].y, ys = wp.map((p) => p.y - y0); // heights above the hips
    const top = ys[5] + 0.01, scale = (ys[5] - ys[0]) / 0.54; // profile below is for a 54 cm spine
    const PY = [-0.10, -0.05, 0.0, 0.08, 0.18, 0.29, 0.40, 0.47, 0.52, 0.55];
    const width = hermite(PY, [0.125, 0.152, 0.155, 0.14, 0.128, 0.142, 0.163, 0.168, 0.125, 0.062]);
    const front = hermite(PY, [0.070, 0.092, 0.095, 0.090, 0.092, 0.108, 0.118, 0.100, 0.070, 0.052]);
    const back = hermite(PY, [0.075, 0.098, 0.100, 0.085, 0.078, 0.085, 0.092, 0.088, 0.070, 0.052]);
    const mids = [0, 1, 2, 3, 4].map((k) => (ys[k] + ys[k + 1]) / 2); // bone k drives the segment above joint k
    const NR = 48, NC = 48, pos = [], skinIndex = [], skinWeight = [], idx = [];
    for (let i = 0; i <= NR; i++) {
      const yq = PY[0] + (top / scale - PY[0]) * i / NR; // profile height
      let k = 1;
      if (i === 0 || i === NR) k = 0.0; // close both ends
      const y = y0 + yq * scale, w = width(yq) * k, f = front(yq) * k, b = back(yq) * k;
      const yr = yq * scale;
      let bi = 0, bw = 1, bj = 0;
      if (yr <= mids[0]) { bi = bj = 0; bw = 1; }
      else if (yr >= mids[4]) { bi = bj = 4; bw = 1; }
      else {
        let m = 0;
        while (yr > mids[m + 1]) m++;
        bi = m; bj = m + 1; bw = 1 - (yr - mids[m]) / (mids[m + 1] - mids[m]);
      }
      for (let c = 0; c < NC; c++) {
        const u = 2 * Math.PI * c / NC, su = Math.sin(u), cu = Math.cos(u);
        const x = w * Math.sign(su) * Math.abs(su) ** (2 / 2.6);
        const z = (cu >= 0 ? f : -b) * Math.abs(cu) ** (2 / 2.6);
        pos.push(wp[0].x + x, y, wp[0].z + z);
        skinIndex.push(bi, bj, 0, 0);
        skinWeight.push(bw, 1 - bw, 0, 0);
      }
    }
    for (let i = 0; i < NR; i++) {
      for (let c = 0; c < NC; c++) {
        const a = i * NC + c, b = i * NC + (c + 1) % NC, d = a + NC, e = b + NC;
        idx.push(a, b, e, a, e, d);
      }
    }
    const geo = new THREE.BufferGeometry();
    geo.setAttribute("position", new THREE.Float32BufferAttribute(pos, 3));
    geo.setAttribute("skinIndex", new THREE.Uint16BufferAttribute(skinIndex, 4));
    geo.setAttribute("skinWeight", new THREE.Float32BufferAttribute(skinWeight, 4));
    geo.setIndex(idx);
    geo.computeVertexNormals();
    const mesh = new THREE.SkinnedMesh(geo, MAT.torso);
    mesh.frustumCulled = false; // the bind-pose bounds do not follow the bones
    mesh.bind(new THREE.Skeleton(chain.slice(0, 5)));
    return mesh;
  }


  // ------------------------------------------------------------------------------------------------
  // scene
  // ------------------------------------------------------------------------------------------------
  /** True when WebGL runs on the CPU (SwiftShader, llvmpipe): then we skip multisampling. */
  function softwareWebGL() {
    try {
      const gl = document.createElement("canvas").getContext("webgl2");
      if (!gl) return false;
      const info = gl.getExtension("WEBGL_debug_renderer_info");
      const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
      const lose = gl.getExtension("WEBGL_lose_context");
      if (lose) lose.loseContext();
      return /swiftshader|llvmpipe|software/i.test(name);
    } catch (err) {
      return false;
    }
  }

  function createCharacter(opts) {
    const canvas = opts.canvas, NAMES = opts.names, SKELETON = opts.skeleton || null;
    const SOFTWARE_GL = softwareWebGL();
    let renderer = null;
    try {
      renderer = new THREE.WebGLRenderer({ canvas, antialias: !SOFTWARE_GL, alpha: true, preserveDrawingBuffer: true });
      renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
      renderer.setScissorTest(true);
    } catch (err) {
      if (opts.onNoGL) opts.onNoGL(err);
    }

    const scene = new THREE.Scene();
    scene.add(new THREE.HemisphereLight(0xdde6ff, 0x40362e, 1.4));
    const key = new THREE.DirectionalLight(0xfff3e6, 2.6);
    key.position.set(1.2, 2.6, 2.4);
    const fill = new THREE.DirectionalLight(0xcfe0ff, 0.9);
    fill.position.set(-2.2, 1.4, 1.6);
    const rim = new THREE.DirectionalLight(0xffffff, 1.2);
    rim.position.set(0.4, 2.0, -2.5);
    scene.add(key, fill, rim);

    const HAS_BODY = !!SKELETON;
    const bones = HAS_BODY ? buildBody(SKELETON) : [];
    const boneIndex = new Map(bones.map((b, j) => [b.name, j]));
    const headJoint = HAS_BODY ? (["Head", "head", "Head1"].map((n) => bones[boneIndex.get(n)]).find(Boolean) || null) : null;
    const characterRoot = new THREE.Group();
    scene.add(characterRoot);
    if (HAS_BODY) {
      characterRoot.add(bones[0]);
      characterRoot.updateMatrixWorld(true);
      const torso = TORSO_JOINTS ? buildTorso(bones, SKELETON.names) : null;
      if (torso) characterRoot.add(torso);
    }

    const headAnchor = new THREE.Group(); // follows the Head joint; the head yaw/pitch/roll turn the group below
    const headGroup = new THREE.Group();
    headGroup.rotation.order = "YXZ";
    headAnchor.add(headGroup);
    if (headJoint) headJoint.add(headAnchor);
    else {
      characterRoot.add(headAnchor);
      const neck = new THREE.Mesh(new THREE.CylinderGeometry(0.05, 0.056, 0.12, 24, 1, true), MAT.neck);
      neck.position.set(0, -0.045, 0.0);
      characterRoot.add(neck);
    }
    const headModel = new THREE.Group(); // the head's own frame: HEAD coordinates
    headModel.position.y = HEAD.lift;
    headGroup.add(headModel);
    const headMesh = buildHeadMesh(NAMES);
    headModel.add(headMesh);
    const eyes = [0, 1].map((e) => {
      const g = new THREE.Group();
      g.rotation.order = "YXZ";
      g.position.set((e === 0 ? 1 : -1) * HEAD.eyeX, HEAD.eyeY, HEAD.eyeZ);
      g.add(buildEyeball());
      headModel.add(g);
      return g;
    });
    const dict = headMesh.morphTargetDictionary;
    const influences = headMesh.morphTargetInfluences;
    const morphSlot = NAMES.map((n) => dict[n]);

    const ch = {
      renderer, scene, characterRoot, headAnchor, headGroup, headModel, headMesh, eyes, bones, boneIndex,
      hasBody: HAS_BODY, applyHead: !!opts.applyHead, influences, morphSlot, names: NAMES, HEAD, CM,
      /** weights: 52 numbers in [0, 1], Live Link order. */
      setFace(weights) {
        for (let k = 0; k < NAMES.length; k++) influences[morphSlot[k]] = weights[k];
      },
      setHeadAngles(yaw, pitch, roll) { headGroup.rotation.set(pitch, yaw, roll); },
      /** a6: left yaw, pitch, roll, right yaw, pitch, roll (radians). */
      setEyeAngles(a6) {
        for (let e = 0; e < 2; e++) eyes[e].rotation.set(a6[3 * e + 1], -a6[3 * e], 0);
      },
    };
    return ch;
  }

  // ------------------------------------------------------------------------------------------------
  // the view: cameras (the main view frames what measure() reports; an inset follows the face),
  // orbit controls, rendering on demand
  // ------------------------------------------------------------------------------------------------
  function createView(ch, opts) {
    const { renderer, scene, headModel } = ch;
    const HAS_BODY = ch.hasBody;
    const stage = opts.stage, canvas = opts.canvas, insetToggle = opts.insetToggle;
    const camera = new THREE.PerspectiveCamera(28, 1, 0.02, 50);
    const faceCam = new THREE.PerspectiveCamera(24, 1, 0.02, 10);
    const frameBox = new THREE.Box3();
    function remeasure() {
      frameBox.makeEmpty();
      opts.measure(frameBox);
      frameBox.expandByScalar(HAS_BODY ? 0.06 : 0.02);
    }
    remeasure();
    const orbit = { az: HAS_BODY ? 0.32 : 0.45, el: 0.10, zoom: 1 };
    const ORBIT0 = Object.assign({}, orbit);
    let viewW = 1, viewH = 1, inset = null;
    const SHOW_INSET = !!opts.showInset;
    if (insetToggle) insetToggle.parentElement.hidden = !SHOW_INSET;
    const insetOn = () => SHOW_INSET && insetToggle && insetToggle.checked;

    function placeCamera() {
      const c = frameBox.getCenter(new THREE.Vector3()), size = frameBox.getSize(new THREE.Vector3());
      const aspect = viewW / viewH, t = Math.tan(THREE.MathUtils.degToRad(camera.fov / 2));
      const radius = Math.max(size.x, size.z) * 0.5;
      const dist = (Math.max(size.y / 2 / t, (size.x / 2) / (t * aspect)) * 1.03 + 0.5 * radius) * orbit.zoom;
      camera.aspect = aspect;
      camera.position.set(c.x + dist * Math.sin(orbit.az) * Math.cos(orbit.el), c.y + dist * Math.sin(orbit.el),
        c.z + dist * Math.cos(orbit.az) * Math.cos(orbit.el));
      camera.lookAt(c);
      camera.updateProjectionMatrix();
    }
    function placeFaceCamera() {
      const target = ch.faceTarget ? ch.faceTarget() : headModel.localToWorld(new THREE.Vector3(0, 0.058, 0.03));
      const dir = new THREE.Vector3(0.22, 0.06, 1).normalize();
      faceCam.position.copy(target).addScaledVector(dir, 0.8);
      faceCam.lookAt(target);
      faceCam.updateProjectionMatrix();
    }

    function resize() {
      const r = stage.getBoundingClientRect();
      viewW = Math.max(1, Math.floor(r.width));
      viewH = Math.max(1, Math.floor(r.height));
      if (renderer) renderer.setSize(viewW, viewH, false);
      canvas.style.width = viewW + "px";
      canvas.style.height = viewH + "px";
      const s = Math.floor(Math.min(viewW * 0.32, viewH * 0.55));
      inset = { x: viewW - s - 12, y: 12, w: s, h: s };
      const box = opts.insetBox;
      if (box) {
        box.hidden = !insetOn();
        Object.assign(box.style, { left: inset.x + "px", top: inset.y + "px", width: inset.w + "px", height: inset.h + "px" });
      }
      placeCamera();
      requestRender();
    }

    let dirty = true;
    const requestRender = () => { dirty = true; };
    function render() {
      dirty = false;
      if (!renderer) return;
      renderer.setViewport(0, 0, viewW, viewH);
      renderer.setScissor(0, 0, viewW, viewH);
      renderer.setClearColor(0x000000, 0);
      renderer.clear();
      renderer.render(scene, camera);
      if (insetOn()) {
        placeFaceCamera();
        faceCam.aspect = inset.w / inset.h;
        faceCam.updateProjectionMatrix();
        const y = viewH - inset.y - inset.h; // WebGL counts from the bottom
        renderer.setViewport(inset.x, y, inset.w, inset.h);
        renderer.setScissor(inset.x, y, inset.w, inset.h);
        renderer.setClearColor(0x2a3142, 1);
        renderer.clear();
        renderer.render(scene, faceCam);
      }
    }

    // drag to orbit, wheel to zoom, double-click to reset
    let drag = null;
    canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      orbit.az -= (e.clientX - drag.x) * 0.008;
      orbit.el = clamp(orbit.el + (e.clientY - drag.y) * 0.006, -0.6, 1.2);
      drag = { x: e.clientX, y: e.clientY };
      placeCamera(); requestRender();
    });
    canvas.addEventListener("pointerup", () => { drag = null; });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      orbit.zoom = clamp(orbit.zoom * Math.exp(e.deltaY * 0.001), 0.25, 3);
      placeCamera(); requestRender();
    }, { passive: false });
    canvas.addEventListener("dblclick", () => { Object.assign(orbit, ORBIT0); placeCamera(); requestRender(); });
    if (insetToggle) insetToggle.addEventListener("change", resize);

    return { resize, render, requestRender, needsRender: () => dirty, remeasure, placeCamera, camera };
  }

  /** Grows box around the character's upper body and head as it stands now (world space). */
  function measurePose(ch, box) {
    const v = new THREE.Vector3(), hm = ch.headModel, H = ch.HEAD;
    ch.scene.updateMatrixWorld(true);
    if (ch.hasBody) {
      ch.bones.forEach((b) => {
        if (/Leg|Foot|Toe/.test(b.name)) return;
        box.expandByPoint(b.getWorldPosition(v));
      });
    }
    box.expandByPoint(hm.localToWorld(v.set(0, H.yTop + 0.01, 0)));
    box.expandByPoint(hm.localToWorld(v.set(0, H.yBot, 0.11)));
    box.expandByPoint(hm.localToWorld(v.set(0.08, 0.06, 0)));
    box.expandByPoint(hm.localToWorld(v.set(-0.08, 0.06, 0)));
  }

  window.UmoScene = { createCharacter, createView, measurePose, rotvecToQuat, CM };

  /** Axis-angle [x, y, z] (radians) -> THREE.Quaternion. */
  function rotvecToQuat(x, y, z, out) {
    const th = Math.hypot(x, y, z), q = out || new THREE.Quaternion();
    if (th < 1e-8) return q.set(x / 2, y / 2, z / 2, 1).normalize();
    const s = Math.sin(th / 2) / th;
    return q.set(x * s, y * s, z * s, Math.cos(th / 2));
  }
})();
