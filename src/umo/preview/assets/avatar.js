/* umo avatar: a user's glTF 2.0 / VRM character (binary .glb / .vrm, or .gltf with embedded buffers)
   driven like scene.js's character. Shared by the preview page (--character) and the live page's
   character button. Needs three.js and scene.js. Exposes window.UmoAvatar:

     const av = UmoAvatar.load(arrayBuffer, { data, names })
         data: umo.avatar.page_data() (name tables, canonical skeleton, rest pose, VRM constants)
         names: the face weights' blendshape names (Live Link order)
         -> { object (a THREE.Group to add to the scene), status, report, update(face, rot), box(), faceTarget() }
     av.update(face, rot): face = 52 weights; rot(name, outQuaternion) = the world rotation of a
         canonical joint (or "LeftEye"/"RightEye") relative to its rest, or null for the identity
     UmoAvatar.canonicalSource(ch, data): such a rot function reading scene.js's character

   What is matched, and the bone maths (world-space deltas with a rest alignment), are described in
   umo/avatar.py. Meshes show their base colour (or vertex colours); textures are not loaded. */
(function () {
  "use strict";
  const COMP = { 5120: Int8Array, 5121: Uint8Array, 5122: Int16Array, 5123: Uint16Array, 5125: Uint32Array, 5126: Float32Array };
  const SIZE = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4, MAT2: 4, MAT3: 9, MAT4: 16 };
  const clamp01 = (x) => Math.min(1, Math.max(0, x));

  function parseGltf(buf) {
    const dv = new DataView(buf);
    if (buf.byteLength >= 12 && dv.getUint32(0, true) === 0x46546c67) { // "glTF" binary container
      let off = 12, json = null, bin = null;
      while (off + 8 <= buf.byteLength) {
        const len = dv.getUint32(off, true), type = dv.getUint32(off + 4, true);
        const chunk = buf.slice(off + 8, off + 8 + len);
        if (type === 0x4e4f534a) json = JSON.parse(new TextDecoder().decode(chunk));
        else if (type === 0x004e4942 && !bin) bin = chunk;
        off += 8 + len;
      }
      return { json, buffers: [bin] };
    }
    let json;
    try { json = JSON.parse(new TextDecoder().decode(buf)); } catch (e) { throw new Error("not a glTF / VRM file"); }
    const buffers = (json.buffers || []).map((b) => {
      if (!b.uri || !b.uri.startsWith("data:")) throw new Error("only embedded (data: URI) buffers are supported in .gltf");
      const bin = atob(b.uri.split(",")[1]);
      const u = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
      return u.buffer;
    });
    return { json, buffers };
  }

  /** Accessor reader: strided views, sparse accessors, normalised integers (as floats). */
  function accessors(json, buffers) {
    function view(bvIndex, offset, count, T, n) {
      const bv = json.bufferViews[bvIndex], bytes = T.BYTES_PER_ELEMENT;
      const stride = bv.byteStride || n * bytes, base = (bv.byteOffset || 0) + offset;
      const buf = buffers[bv.buffer || 0];
      if (stride === n * bytes && base % bytes === 0) return new T(buf, base, count * n).slice();
      const out = new T(count * n), dv = new DataView(buf);
      const get = { 1: T === Int8Array ? "getInt8" : "getUint8", 2: T === Int16Array ? "getInt16" : "getUint16",
        4: T === Float32Array ? "getFloat32" : "getUint32" }[bytes];
      for (let k = 0; k < count; k++) for (let c = 0; c < n; c++) out[k * n + c] = dv[get](base + k * stride + c * bytes, true);
      return out;
    }
    return function accessor(i, asFloat) {
      const a = json.accessors[i], T = COMP[a.componentType], n = SIZE[a.type];
      let out = a.bufferView !== undefined ? view(a.bufferView, a.byteOffset || 0, a.count, T, n) : new T(a.count * n);
      if (a.sparse) {
        const s = a.sparse;
        const idx = view(s.indices.bufferView, s.indices.byteOffset || 0, s.count, COMP[s.indices.componentType], 1);
        const val = view(s.values.bufferView, s.values.byteOffset || 0, s.count, T, n);
        for (let k = 0; k < s.count; k++) for (let c = 0; c < n; c++) out[idx[k] * n + c] = val[k * n + c];
      }
      if (asFloat && !(out instanceof Float32Array)) {
        const f = new Float32Array(out.length), max = a.normalized ? { 1: 127, 2: 32767 }[T.BYTES_PER_ELEMENT] : 1;
        const umax = a.normalized ? { 1: 255, 2: 65535, 4: 1 }[T.BYTES_PER_ELEMENT] : 1;
        const div = T === Int8Array || T === Int16Array ? max : umax;
        for (let k = 0; k < out.length; k++) f[k] = Math.max(out[k] / div, -1);
        out = f;
      }
      return out;
    };
  }

  /** The name keys of umo.avatar.bone_key / arkit_key (the same steps, the same patterns). */
  function nameKeys(data) {
    const ns = new RegExp(data.namespace), rig = new RegExp(data.rigPrefix, "i");
    const side = new RegExp(data.sideAffix, "i"), centre = new RegExp(data.centre, "i");
    const SIDES = { l: "left", left: "left", r: "right", right: "right" };
    return {
      bone(name) {
        const stem = String(name).trim().replace(ns, "").replace(rig, "").replace(centre, "");
        const m = stem.match(side), sd = m[1] || m[3];
        return (sd ? SIDES[sd.toLowerCase()] : "") + m[2].toLowerCase().replace(/[^a-z0-9]/g, "");
      },
      arkit(name) {
        let stem = String(name).split(".").pop().trim();
        const m = stem.match(/^(.*?)[_\-\s]?(L|R)$/);
        if (m && m[1]) stem = m[1] + (m[2] === "L" ? "Left" : "Right");
        return stem.toLowerCase().replace(/[^a-z0-9]/g, "");
      },
    };
  }

  /** umo.live.vmc.vrm_presets for one frame: 52 ARKit weights -> the 12 presets (data.vrm.presets order). */
  function vrmPresets(face, index, V) {
    const w = (n) => clamp01(face[index[n]]);
    const pair = (s) => 0.5 * (w(s + "Left") + w(s + "Right"));
    const on = (x) => clamp01((x - V.onset) / (V.full - V.onset));
    const opening = clamp01(V.jawGain * w("JawOpen"));
    const rounding = Math.max(w("MouthFunnel"), w("MouthPucker"));
    const spread = clamp01(pair("MouthStretch") + pair("MouthSmile"));
    const blink = Math.min(w("EyeBlinkLeft"), w("EyeBlinkRight"));
    const smile = on(pair("MouthSmile")), squint = clamp01(2 * pair("CheekSquint"));
    const p = {
      A: opening * (1 - rounding) * (1 - spread), I: (1 - opening) * spread, U: (1 - opening) * rounding,
      E: opening * spread, O: opening * rounding, Blink: blink,
      Blink_L: w("EyeBlinkLeft") - blink, Blink_R: w("EyeBlinkRight") - blink,
      Joy: smile * squint, Angry: on(pair("BrowDown") + 0.5 * pair("NoseSneer")),
      Sorrow: on(pair("MouthFrown") + Math.max(0, w("BrowInnerUp") - pair("BrowOuterUp"))), Fun: smile * (1 - squint),
    };
    return V.presets.map((n) => clamp01(p[n]));
  }

  function nodeMatrix(nd) {
    const m = new THREE.Matrix4();
    if (nd.matrix) return m.fromArray(nd.matrix);
    const t = new THREE.Vector3().fromArray(nd.translation || [0, 0, 0]);
    const q = new THREE.Quaternion().fromArray(nd.rotation || [0, 0, 0, 1]);
    const s = new THREE.Vector3().fromArray(nd.scale || [1, 1, 1]);
    return m.compose(t, q, s);
  }

  function load(buf, opts) {
    const data = opts.data, NAMES = opts.names;
    const { json, buffers } = parseGltf(buf);
    if (!json || !json.asset || String(json.asset.version || "").split(".")[0] !== "2") throw new Error("not a glTF 2.0 / VRM file");
    const accessor = accessors(json, buffers);
    const keys = nameKeys(data);
    const nodes = json.nodes || [];
    const skins = json.skins || [];
    const isJoint = new Set();
    skins.forEach((s) => s.joints.forEach((j) => isJoint.add(j)));

    // --- nodes: joints become Bones; the hierarchy; the meshes -------------------------------------
    const objs = nodes.map((nd, i) => {
      const o = isJoint.has(i) ? new THREE.Bone() : new THREE.Group();
      o.name = nd.name || "node" + i;
      nodeMatrix(nd).decompose(o.position, o.quaternion, o.scale);
      return o;
    });
    const parentOf = new Array(nodes.length).fill(-1);
    nodes.forEach((nd, i) => (nd.children || []).forEach((c) => { parentOf[c] = i; objs[i].add(objs[c]); }));
    const arkitIndex = new Map(NAMES.map((n, k) => [keys.arkit(n), k]));
    const morphsOfMesh = new Map(); // mesh index -> [THREE.Mesh] (one per primitive)
    const arkitTargets = [], arkitFound = new Set(), skinned = [];
    nodes.forEach((nd, i) => {
      if (nd.mesh === undefined) return;
      const mesh = json.meshes[nd.mesh];
      const list = [];
      for (const prim of mesh.primitives) {
        if (prim.mode !== undefined && prim.mode !== 4) continue; // triangles only
        const at = prim.attributes, geo = new THREE.BufferGeometry();
        geo.setAttribute("position", new THREE.BufferAttribute(accessor(at.POSITION, true), 3));
        if (at.NORMAL !== undefined) geo.setAttribute("normal", new THREE.BufferAttribute(accessor(at.NORMAL, true), 3));
        if (prim.indices !== undefined) geo.setIndex(new THREE.BufferAttribute(accessor(prim.indices), 1));
        if (at.NORMAL === undefined) geo.computeVertexNormals();
        let vertexColors = false;
        if (at.COLOR_0 !== undefined) {
          const a = json.accessors[at.COLOR_0];
          geo.setAttribute("color", new THREE.BufferAttribute(accessor(at.COLOR_0, true), SIZE[a.type]));
          vertexColors = true;
        }
        const m = prim.material !== undefined ? (json.materials || [])[prim.material] : null;
        const pbr = (m && m.pbrMetallicRoughness) || {};
        const c = pbr.baseColorFactor || (vertexColors ? [1, 1, 1, 1] : [0.8, 0.7, 0.65, 1]);
        const mat = new THREE.MeshStandardMaterial({
          color: new THREE.Color(c[0], c[1], c[2]), roughness: 0.6, metalness: 0, side: THREE.DoubleSide, vertexColors,
          transparent: c[3] < 1, opacity: c[3],
        });
        const skin = nd.skin !== undefined && at.JOINTS_0 !== undefined && at.WEIGHTS_0 !== undefined ? skins[nd.skin] : null;
        if (skin) {
          geo.setAttribute("skinIndex", new THREE.Uint16BufferAttribute(Uint16Array.from(accessor(at.JOINTS_0)), 4));
          geo.setAttribute("skinWeight", new THREE.BufferAttribute(accessor(at.WEIGHTS_0, true), 4));
        }
        const mt = skin ? new THREE.SkinnedMesh(geo, mat) : new THREE.Mesh(geo, mat);
        if (skin) skinned.push([mt, skin]);
        if (prim.targets && prim.targets.length) {
          const n = geo.attributes.position.count * 3;
          geo.morphAttributes.position = prim.targets.map((t) => new THREE.BufferAttribute(
            t.POSITION !== undefined ? accessor(t.POSITION, true) : new Float32Array(n), 3));
          geo.morphTargetsRelative = true;
          mt.updateMorphTargets();
          const tnames = (mesh.extras && mesh.extras.targetNames) || (prim.extras && prim.extras.targetNames) || [];
          prim.targets.forEach((_, slot) => {
            const k = arkitIndex.get(keys.arkit(tnames[slot] || ""));
            if (k !== undefined) { arkitTargets.push([mt, slot, k]); arkitFound.add(k); }
          });
        }
        mt.frustumCulled = false; // skinned and morphed: the rest bounds do not follow
        objs[i].add(mt); // a skinned one's own place does not count: bound in attached mode, its world cancels out
        list.push(mt);
      }
      if (!morphsOfMesh.has(nd.mesh)) morphsOfMesh.set(nd.mesh, []);
      morphsOfMesh.get(nd.mesh).push(...list);
    });
    const model = new THREE.Group();
    const sc = json.scenes ? json.scenes[json.scene || 0] : { nodes: nodes.map((_, i) => i).filter((i) => parentOf[i] < 0) };
    for (const i of sc.nodes) model.add(objs[i]);

    // --- the bind pose: joints placed by their inverse bind matrices (the pose the mesh was made in) --
    const bindWorld = new Map(); // node -> model-space matrix of its bind pose
    for (const s of skins) {
      if (s.inverseBindMatrices === undefined) continue;
      const ibm = accessor(s.inverseBindMatrices, true);
      s.joints.forEach((j, k) => { if (!bindWorld.has(j)) bindWorld.set(j, new THREE.Matrix4().fromArray(ibm, 16 * k).invert()); });
    }
    const order = []; // nodes, parents first
    const walk = (i) => { order.push(i); (nodes[i].children || []).forEach(walk); };
    sc.nodes.forEach(walk);
    const world = new Map();
    for (const i of order) {
      const pw = parentOf[i] >= 0 ? world.get(parentOf[i]) : new THREE.Matrix4();
      if (bindWorld.has(i)) {
        world.set(i, bindWorld.get(i).clone());
        new THREE.Matrix4().copy(pw).invert().multiply(bindWorld.get(i)).decompose(objs[i].position, objs[i].quaternion, objs[i].scale);
      } else world.set(i, pw.clone().multiply(nodeMatrix(nodes[i])));
    }
    for (const [mt, s] of skinned) {
      const bones = s.joints.map((j) => objs[j]);
      const inv = s.inverseBindMatrices !== undefined ? (() => {
        const a = accessor(s.inverseBindMatrices, true);
        return s.joints.map((_, k) => new THREE.Matrix4().fromArray(a, 16 * k));
      })() : s.joints.map((j) => world.get(j).clone().invert());
      mt.bind(new THREE.Skeleton(bones, inv), new THREE.Matrix4()); // glTF: vertex = joint world * inverse bind * v
    }

    // --- which node drives from which canonical joint --------------------------------------------
    let candidates = [...isJoint];
    if (!candidates.length) candidates = nodes.map((_, i) => i).filter((i) => nodes[i].name && nodes[i].mesh === undefined);
    // SMPL's names mean other joints than the same words elsewhere (umo.avatar.SMPL_JOINTS)
    const smplRe = new RegExp(data.smplNames, "i");
    const smpl = !(json.extensions && (json.extensions.VRMC_vrm || json.extensions.VRM))
      && candidates.some((i) => smplRe.test((nodes[i].name || "").trim()));
    const lookup = (n) => {
      const k = keys.bone(n);
      if (smpl && k in data.smplKeys) return data.smplKeys[k] || undefined;
      return data.boneKeys[k];
    };
    if (isJoint.size) { // eyes are often plain nodes under the head, outside the skin
      nodes.forEach((nd, i) => { if (!isJoint.has(i) && /^(LeftEye|RightEye)$/.test(lookup(nd.name || "") || "")) candidates.push(i); });
      candidates.sort((a, b) => a - b);
    }
    const ext = json.extensions || {};
    const vrm1 = ext.VRMC_vrm, vrm0 = ext.VRM;
    const human = new Map();
    if (vrm1 && vrm1.humanoid) {
      const vrm1Bone = (bone) => data.vrm1Thumbs[bone] || lookup(bone); // VRM 1.0's thumb: Metacarpal, Proximal, Distal
      for (const [bone, spec] of Object.entries(vrm1.humanoid.humanBones || {})) if (spec && spec.node !== undefined && vrm1Bone(bone)) human.set(spec.node, vrm1Bone(bone));
    } else if (vrm0 && vrm0.humanoid) {
      for (const spec of vrm0.humanoid.humanBones || []) if (spec && spec.node !== undefined && lookup(spec.bone || "")) human.set(spec.node, lookup(spec.bone));
    }
    const jointOf = new Map(), taken = new Set();
    for (const i of [...new Set([...candidates, ...human.keys()])].sort((a, b) => a - b)) {
      if (i >= nodes.length) continue;
      const j = human.size ? human.get(i) : lookup(nodes[i].name || "");
      if (j && !taken.has(j)) { taken.add(j); jointOf.set(i, j); }
    }
    for (const i of human.keys()) if (!candidates.includes(i)) candidates.push(i);
    const driven = order.filter((i) => candidates.includes(i) || jointOf.has(i));
    const drivenSet = new Set(driven);
    const nodeOfJoint = new Map([...jointOf].map(([i, j]) => [j, i]));
    const posOf = (i) => new THREE.Vector3().setFromMatrixPosition(world.get(i));

    // facing: the avatar's left and up onto +X and +Y (a VRM 0.x model faces -Z)
    const F = new THREE.Quaternion();
    const first = (names) => names.map((n) => nodeOfJoint.get(n)).find((i) => i !== undefined);
    const [hips, head] = [first(["Hips", "Spine", "Spine1"]), first(["Head", "Neck", "Neck1", "Spine3"])];
    const [lft, rgt] = [first(["LeftArm", "LeftShoulder", "LeftUpLeg", "LeftHand"]), first(["RightArm", "RightShoulder", "RightUpLeg", "RightHand"])];
    if (hips !== undefined && head !== undefined && lft !== undefined && rgt !== undefined) {
      const up = posOf(head).sub(posOf(hips)).normalize();
      const left = posOf(lft).sub(posOf(rgt));
      left.addScaledVector(up, -left.dot(up)).normalize();
      const fwd = new THREE.Vector3().crossVectors(left, up);
      if (up.lengthSq() > 0.5 && left.lengthSq() > 0.5) F.setFromRotationMatrix(new THREE.Matrix4().makeBasis(left, up, fwd).transpose());
    }

    // canonical rest positions (its rest rotations are all the identity)
    const sk = data.skeleton, cIndex = new Map(sk.names.map((n, j) => [n, j])), cPos = [];
    sk.names.forEach((n, j) => {
      const o = new THREE.Vector3(sk.offsets[3 * j], sk.offsets[3 * j + 1], sk.offsets[3 * j + 2]);
      cPos.push(sk.parents[j] >= 0 ? o.add(cPos[sk.parents[j]]) : o);
    });
    const rank = (j) => (!/^(Left|Right)/.test(j) ? 0 : /Middle/.test(j) ? 1 : /Index/.test(j) ? 2 : /Ring/.test(j) ? 3
      : /Pinky/.test(j) ? 4 : /Thumb/.test(j) ? 9 : 5);
    function nearestMapped(i, out) {
      for (const c of nodes[i].children || []) {
        if (jointOf.has(c) && cIndex.has(jointOf.get(c))) out.push(c);
        else nearestMapped(c, out);
      }
      return out;
    }
    const B = new Map(); // node -> { obj, joint, parent (driven node or -1), baseQ, restQ, R (aligned bind world), C }
    const modelWorldQ = (i) => new THREE.Quaternion().setFromRotationMatrix(new THREE.Matrix4().extractRotation(world.get(i)));
    for (const i of driven) {
      let p = parentOf[i];
      const parent = p >= 0 && drivenSet.has(p) ? p : -1;
      const baseQ = F.clone();
      if (parent < 0 && p >= 0) baseQ.multiply(modelWorldQ(p));
      const b = { obj: objs[i], joint: jointOf.get(i) || null, parent, baseQ, restQ: objs[i].quaternion.clone(),
        R: F.clone().multiply(modelWorldQ(i)), C: new THREE.Quaternion() };
      if (b.joint) {
        const kids = cIndex.has(b.joint) ? nearestMapped(i, []) : [];
        kids.sort((x, y) => rank(jointOf.get(x)) - rank(jointOf.get(y)));
        let done = false;
        if (kids.length) {
          const k = kids[0], dAv = posOf(k).sub(posOf(i)).applyQuaternion(F);
          const dCan = cPos[cIndex.get(jointOf.get(k))].clone().sub(cPos[cIndex.get(b.joint)]);
          if (dAv.length() > 1e-6 && dCan.length() > 1e-6) { b.C.setFromUnitVectors(dAv.normalize(), dCan.normalize()); done = true; }
        }
        if (!done) { // a leaf (head, hand, eye): aligned as the nearest matched bone above it
          for (let a = parent; a >= 0; a = B.get(a).parent) if (B.get(a).joint) { b.C.copy(B.get(a).C); break; }
        }
      }
      B.set(i, b);
    }

    // --- expressions: ARKit morphs, else VRM presets ------------------------------------------------
    const V = data.vrm, presetTargets = [], presetsUsed = new Set();
    const faceIndex = {};
    NAMES.forEach((n, k) => { faceIndex[n] = k; });
    if (!arkitTargets.length) {
      V.presets.forEach((p, pi) => {
        const [n1, n0] = V.names[p];
        if (vrm1 && vrm1.expressions && vrm1.expressions.preset && vrm1.expressions.preset[n1]) {
          const e = vrm1.expressions.preset[n1];
          for (const bd of e.morphTargetBinds || []) {
            const nd = nodes[bd.node];
            if (!nd || nd.mesh === undefined) continue;
            for (const mt of morphsOfMesh.get(nd.mesh) || []) presetTargets.push([mt, bd.index, pi, bd.weight === undefined ? 1 : bd.weight, !!e.isBinary]);
            presetsUsed.add(p);
          }
        } else if (vrm0 && vrm0.blendShapeMaster) {
          for (const g of vrm0.blendShapeMaster.blendShapeGroups || []) {
            if (String(g.presetName || "").toLowerCase() !== n0) continue;
            for (const bd of g.binds || []) {
              for (const mt of morphsOfMesh.get(bd.mesh) || []) presetTargets.push([mt, bd.index, pi, (bd.weight === undefined ? 100 : bd.weight) / 100, !!g.isBinary]);
              presetsUsed.add(p);
            }
          }
        }
      });
    }
    const presets = V.presets.filter((p) => presetsUsed.has(p));
    const report = { arkit: arkitFound.size, arkitOf: NAMES.length, bones: jointOf.size, joints: candidates.length, vrmPresets: presets };
    const status = `${report.arkit} of ${report.arkitOf} ARKit morphs, ${report.bones} bones of ${report.joints}` +
      (presets.length ? `, VRM presets used: ${presets.join(" ")}` : "");
    if (!report.arkit && !report.bones && !presets.length) throw new Error("nothing to drive: no ARKit morph targets, no VRM expressions, no known bones");

    // --- placement: facing +Z, feet on the floor, centred ---------------------------------------------
    const holder = new THREE.Group();
    holder.quaternion.copy(F);
    holder.add(model);
    holder.updateMatrixWorld(true);
    const box0 = new THREE.Box3();
    for (const i of order) box0.expandByPoint(posOf(i).applyQuaternion(F));
    if (box0.isEmpty()) box0.setFromObject(holder);
    const meshBox = new THREE.Box3().setFromObject(holder);
    if (!meshBox.isEmpty()) box0.union(meshBox);
    holder.position.set(-(box0.min.x + box0.max.x) / 2, -box0.min.y, -(box0.min.z + box0.max.z) / 2);
    const height = box0.max.y - box0.min.y;
    // a model without bones umo knows (a head of morph targets) turns as a whole with the head,
    // about a point near its top (as the page's own head does)
    const top = new THREE.Group(), turn = new THREE.Group();
    const headY = box0.max.y - 0.12 * height - box0.min.y;
    turn.position.set(0, headY, 0);
    holder.position.y -= headY;
    turn.add(holder);
    top.add(turn);

    const Q = new Map(), qd = new THREE.Quaternion(), qp = new THREE.Quaternion();
    const presetValues = new Array(V.presets.length).fill(0);
    const av = {
      object: top, status, report, jointOf, hasBones: jointOf.size > 0,
      /** face: weights in NAMES order; rot(name, out) -> out (the canonical joint's world rotation) or null. */
      update(face, rot) {
        for (const [mt, slot, k] of arkitTargets) mt.morphTargetInfluences[slot] = face[k];
        if (presetTargets.length) {
          const p = vrmPresets(face, faceIndex, V);
          for (let k = 0; k < p.length; k++) presetValues[k] = p[k];
          for (const [mt, slot] of presetTargets) mt.morphTargetInfluences[slot] = 0;
          for (const [mt, slot, pi, w, binary] of presetTargets) {
            const v = binary ? (p[pi] > 0.5 ? 1 : 0) : p[pi];
            mt.morphTargetInfluences[slot] = clamp01(mt.morphTargetInfluences[slot] + v * w);
          }
        }
        if (!jointOf.size) {
          if (rot && rot("Head", qd)) turn.quaternion.copy(qd); else turn.quaternion.identity();
        }
        for (const [i, b] of B) {
          const parentQ = b.parent >= 0 ? Q.get(b.parent) : b.baseQ;
          let q = Q.get(i);
          if (!q) { q = new THREE.Quaternion(); Q.set(i, q); }
          if (b.joint && rot && rot(b.joint, qd)) {
            q.copy(qd).multiply(b.C).multiply(b.R); // W = D C R
            b.obj.quaternion.copy(qp.copy(parentQ).invert().multiply(q));
          } else if (b.joint) {
            q.copy(b.C).multiply(b.R);
            b.obj.quaternion.copy(qp.copy(parentQ).invert().multiply(q));
          } else {
            b.obj.quaternion.copy(b.restQ);
            q.copy(parentQ).multiply(b.restQ);
          }
        }
        top.updateMatrixWorld(true);
      },
      /** The box the camera frames: the upper body and head (the whole model when it has no hips). */
      box() {
        top.updateMatrixWorld(true);
        const b = new THREE.Box3().setFromObject(holder);
        const h = nodeOfJoint.get("Hips");
        if (h !== undefined) b.min.y = Math.max(b.min.y, objs[h].getWorldPosition(new THREE.Vector3()).y - 0.1 * height);
        return b;
      },
      faceTarget() {
        const h = nodeOfJoint.get("Head");
        if (h !== undefined) return objs[h].localToWorld(new THREE.Vector3()).add(new THREE.Vector3(0, 0.06 * height / 1.7, 0.03));
        const b = new THREE.Box3().setFromObject(holder);
        return new THREE.Vector3(0, b.max.y - 0.08 * (b.max.y - b.min.y), 0);
      },
      /** For tests: world positions and rotations of the matched bones, morph influences. */
      state() {
        top.updateMatrixWorld(true);
        const round = (x) => Math.round(x * 1e6) / 1e6;
        const bones = {};
        for (const [i, j] of jointOf) {
          bones[j] = { node: nodes[i].name || "", position: objs[i].getWorldPosition(new THREE.Vector3()).toArray().map(round),
            rotation: objs[i].getWorldQuaternion(new THREE.Quaternion()).toArray().map(round) };
        }
        const morph = {};
        for (const [mt, slot, k] of arkitTargets) morph[NAMES[k]] = round(mt.morphTargetInfluences[slot]);
        const preset = {};
        for (const [mt, slot, pi] of presetTargets) preset[V.presets[pi]] = round(mt.morphTargetInfluences[slot]);
        return { status, report, bones, morph, preset, presetValues: presetValues.map(round),
          turn: turn.quaternion.toArray().map(round) };
      },
    };
    av.update(new Float32Array(NAMES.length), null);
    return av;
  }

  /** A rot(name, out) reading scene.js's character ch: the world rotation of each canonical bone (its
   *  rest is the identity); without a body, the rest pose of data.restPose with the head angles on
   *  the head; the eyes from the eyeballs. */
  function canonicalSource(ch, data) {
    const sk = data.skeleton, rest = [], idx = new Map(sk.names.map((n, j) => [n, j]));
    sk.names.forEach((n, j) => {
      const r = data.restPose;
      const q = UmoScene.rotvecToQuat(r[3 * j], r[3 * j + 1], r[3 * j + 2]);
      rest.push(sk.parents[j] >= 0 ? rest[sk.parents[j]].clone().multiply(q) : q);
    });
    return function rot(name, out) {
      if (name === "LeftEye" || name === "RightEye") return ch.eyes[name === "LeftEye" ? 0 : 1].getWorldQuaternion(out);
      const j = ch.boneIndex.get(name);
      if (ch.hasBody && j !== undefined) return ch.bones[j].getWorldQuaternion(out);
      const c = idx.get(name);
      if (c === undefined) return null;
      out.copy(rest[c]);
      if (/^(Head|HeadEnd)$/.test(name)) out.multiply(ch.headGroup.quaternion);
      return out;
    };
  }

  window.UmoAvatar = { load, parseGltf, nameKeys, vrmPresets, canonicalSource };
})();
