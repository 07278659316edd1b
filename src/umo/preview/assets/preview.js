/* umo preview page: plays the Animation that umo.preview.html.write_preview embedded in #umo-data on
   the procedural ARKit-52 head and skeleton mannequin of scene.js (inlined just before this script).
   No network access: everything this page needs is inlined in it.

   Coordinates: metres (the data is in cm), Y up, the character faces +Z, its left is +X.
   Head and eye angles (radians): yaw about +Y (positive: towards the character's left), pitch about
   +X (positive: chin/gaze down), roll about +Z; applied as R = Ry(yaw) Rx(pitch) Rz(roll), the same
   convention as umo.skeleton.head_to_rotvec. Body: one quaternion per joint and frame, local to
   the parent, relative to the skeleton's rest pose. */
(function () {
  "use strict";

  // ------------------------------------------------------------------------------------------------
  // data
  // ------------------------------------------------------------------------------------------------
  const DATA = JSON.parse(document.getElementById("umo-data").textContent);

  function b64Bytes(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const b64Float32 = (s) => new Float32Array(b64Bytes(s).buffer);
  const b64Int16 = (s) => new Int16Array(b64Bytes(s).buffer);

  const FPS = DATA.fps;
  const NUM_FRAMES = DATA.numFrames;
  const DURATION = NUM_FRAMES / FPS;
  const NAMES = DATA.blendshapes; // Live Link order
  const NB = NAMES.length;
  const FACE = b64Bytes(DATA.face); // (T, 52) uint8, weight * 255
  const HEAD_ANGLES = b64Float32(DATA.head); // (T, 3) yaw, pitch, roll
  const EYE_ANGLES = b64Float32(DATA.eyes); // (T, 6) left yaw, pitch, roll, right yaw, pitch, roll
  const CM = UmoScene.CM; // data cm -> scene metres

  let BODY = null;
  if (DATA.body) {
    BODY = {
      animated: DATA.body.animated, // joint indices with a per-frame track
      quat: b64Int16(DATA.body.quat), // (T, A, 4) x, y, z, w * 32767
      rest: DATA.body.still, // (J, 4) the quaternion of every joint without a track
      root: DATA.body.root ? b64Float32(DATA.body.root) : null, // (T, 3) cm, or null: rootStill
      rootStill: DATA.body.rootStill,
    };
  }

  // ------------------------------------------------------------------------------------------------
  // the character and the view (scene.js)
  // ------------------------------------------------------------------------------------------------
  const clamp = (x, a, b) => Math.min(b, Math.max(a, x));
  const stage = document.getElementById("stage");
  const canvas = document.getElementById("view3d");
  const HAS_BODY = !!(BODY && DATA.skeleton);
  const ch = UmoScene.createCharacter({
    canvas, names: NAMES, skeleton: HAS_BODY ? DATA.skeleton : null, applyHead: DATA.applyHead,
    onNoGL: () => { document.getElementById("nogl").hidden = false; },
  });
  const { renderer, scene, headGroup, eyes, bones, influences, morphSlot } = ch;
  const APPLY_HEAD = ch.applyHead;

  // a user's character (umo --character): shown instead of scene.js's, following it (avatar.js)
  let avatar = null, avatarRot = null;
  const faceRow = new Float32Array(NB);
  if (DATA.character) {
    const note = document.getElementById("character-status");
    note.hidden = false;
    try {
      avatar = UmoAvatar.load(b64Bytes(DATA.character.data).buffer, { data: DATA.avatar, names: NAMES });
      avatarRot = UmoAvatar.canonicalSource(ch, DATA.avatar);
      ch.characterRoot.visible = false;
      scene.add(avatar.object);
      ch.faceTarget = avatar.faceTarget;
      note.textContent = `${DATA.character.name}: ${avatar.status}`;
    } catch (err) {
      note.textContent = `${DATA.character.name}: cannot show it (${err.message}); umo's own character instead`;
    }
  }

  // ------------------------------------------------------------------------------------------------
  // applying a frame
  // ------------------------------------------------------------------------------------------------
  let currentFrame = -1;
  const qTmp = new THREE.Quaternion();
  function applyFrame(f) {
    f = clamp(f, 0, NUM_FRAMES - 1);
    currentFrame = f;
    for (let k = 0; k < NB; k++) influences[morphSlot[k]] = FACE[f * NB + k] / 255;
    if (APPLY_HEAD) headGroup.rotation.set(HEAD_ANGLES[3 * f + 1], HEAD_ANGLES[3 * f], HEAD_ANGLES[3 * f + 2]);
    ch.setEyeAngles(EYE_ANGLES.subarray(6 * f, 6 * f + 6));
    if (HAS_BODY) {
      const A = BODY.animated.length;
      for (let a = 0; a < A; a++) {
        const o = (f * A + a) * 4, q = BODY.quat;
        qTmp.set(q[o] / 32767, q[o + 1] / 32767, q[o + 2] / 32767, q[o + 3] / 32767).normalize();
        bones[BODY.animated[a]].quaternion.copy(qTmp);
      }
      const r = BODY.root ? [BODY.root[3 * f], BODY.root[3 * f + 1], BODY.root[3 * f + 2]] : BODY.rootStill;
      bones[0].position.set(r[0] * CM, r[1] * CM, r[2] * CM);
    }
    scene.updateMatrixWorld(true);
    if (avatar) {
      for (let k = 0; k < NB; k++) faceRow[k] = FACE[f * NB + k] / 255;
      avatar.update(faceRow, avatarRot);
    }
  }
  if (HAS_BODY) bones.forEach((b, j) => b.quaternion.fromArray(BODY.rest[j]));


  // ------------------------------------------------------------------------------------------------
  // the view frames what the character reaches over the clip; an inset follows the face
  // ------------------------------------------------------------------------------------------------
  const insetToggle = document.getElementById("face-toggle");
  const view = UmoScene.createView(ch, {
    stage, canvas, insetToggle, insetBox: document.getElementById("inset"), showInset: HAS_BODY || !!(avatar && avatar.hasBones),
    measure(box) {
      const step = Math.max(1, Math.floor(NUM_FRAMES / 120));
      for (let f = 0; f < NUM_FRAMES; f += step) {
        applyFrame(f);
        if (avatar) box.union(avatar.box());
        else UmoScene.measurePose(ch, box);
      }
    },
  });
  const { resize, render, requestRender } = view;

  // ------------------------------------------------------------------------------------------------
  // playback: the audio element is the clock while it plays; otherwise (no audio, or past its end)
  // the wall clock
  // ------------------------------------------------------------------------------------------------
  let audio = null, audioOk = false, audioUrl = null;
  const player = { playing: false, t: 0, wall: 0 };
  const playBtn = document.getElementById("play");
  const scrub = document.getElementById("scrub");
  const timeLabel = document.getElementById("time");
  scrub.max = String(DURATION);
  scrub.step = String(1 / FPS);

  const audioReady = new Promise((resolve) => {
    if (!DATA.audio) return resolve(false);
    audio = new Audio();
    audio.preload = "auto";
    const bytes = b64Bytes(DATA.audio.data);
    audioUrl = URL.createObjectURL(new Blob([bytes], { type: DATA.audio.mime }));
    const done = (ok) => { audioOk = ok; resolve(ok); };
    audio.addEventListener("loadedmetadata", () => done(true), { once: true });
    audio.addEventListener("error", () => { document.getElementById("audio-note").hidden = false; done(false); }, { once: true });
    setTimeout(() => done(audio.readyState >= 1), 5000);
    audio.src = audioUrl;
  });

  const audioCovers = (t) => audio && audioOk && !audio.ended && t < audio.duration - 1e-3;

  function frameAt(t) { return clamp(Math.floor(t * FPS + 1e-6), 0, NUM_FRAMES - 1); }

  function setTime(t, fromAudio) {
    player.t = clamp(t, 0, DURATION);
    if (!fromAudio && audio && audioOk) {
      try { audio.currentTime = Math.min(player.t, audio.duration || player.t); } catch (err) { /* not seekable yet */ }
    }
    const f = frameAt(player.t);
    if (f !== currentFrame) applyFrame(f);
    scrub.value = String(player.t);
    timeLabel.textContent = player.t.toFixed(2) + " / " + DURATION.toFixed(2) + " s";
    requestRender();
  }

  function play() {
    if (player.playing) return;
    if (player.t >= DURATION - 1e-3) setTime(0);
    player.playing = true;
    player.wall = performance.now();
    playBtn.textContent = "❚❚";
    playBtn.setAttribute("aria-label", "pause");
    if (audioCovers(player.t)) {
      audio.currentTime = player.t;
      audio.play().catch(() => { audioOk = false; document.getElementById("audio-note").hidden = false; });
    }
  }
  function pause() {
    if (!player.playing) return;
    player.playing = false;
    if (audio) audio.pause();
    playBtn.textContent = "▶";
    playBtn.setAttribute("aria-label", "play");
  }
  function advance() {
    const now = performance.now();
    let t;
    if (audio && audioOk && !audio.paused && !audio.ended) t = audio.currentTime;
    else t = player.t + (now - player.wall) / 1000;
    player.wall = now;
    if (t >= DURATION) { setTime(DURATION, true); pause(); return; }
    setTime(t, true);
  }

  playBtn.addEventListener("click", () => (player.playing ? pause() : play()));
  scrub.addEventListener("input", () => setTime(parseFloat(scrub.value)));
  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && e.target.tagName !== "INPUT") { e.preventDefault(); player.playing ? pause() : play(); }
  });

  // ------------------------------------------------------------------------------------------------
  // the curve plot: the main blendshapes over the whole clip, a playhead, click to seek
  // ------------------------------------------------------------------------------------------------
  const PLOT = (DATA.plotCurves || []).filter((n) => NAMES.includes(n));
  const PLOT_COLORS = ["#f4a261", "#e76f51", "#2a9d8f", "#e9c46a", "#8ab4f8", "#c792ea", "#7bd389", "#ff8fab"];
  const plotCanvas = document.getElementById("plot");
  const plotBase = document.createElement("canvas");
  const PAD = { l: 34, r: 10, t: 22, b: 18 };
  function plotX(t, w) { return PAD.l + (w - PAD.l - PAD.r) * (t / DURATION); }
  function drawPlotBase() {
    const dpr = window.devicePixelRatio || 1, rect = plotCanvas.getBoundingClientRect();
    const w = Math.max(1, Math.floor(rect.width)), h = Math.max(1, Math.floor(rect.height));
    for (const c of [plotCanvas, plotBase]) { c.width = w * dpr; c.height = h * dpr; }
    const g = plotBase.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#151a24"; g.fillRect(0, 0, w, h);
    const y = (v) => h - PAD.b - (h - PAD.t - PAD.b) * v;
    g.strokeStyle = "#2c3446"; g.lineWidth = 1; g.fillStyle = "#8591a8"; g.font = "11px system-ui, sans-serif";
    for (const v of [0, 0.5, 1]) {
      g.beginPath(); g.moveTo(PAD.l, y(v)); g.lineTo(w - PAD.r, y(v)); g.stroke();
      g.fillText(v.toFixed(1), 6, y(v) + 4);
    }
    const tick = DURATION > 40 ? 10 : DURATION > 12 ? 2 : DURATION > 4 ? 1 : 0.5;
    for (let t = 0; t <= DURATION + 1e-9; t += tick) {
      const x = plotX(t, w);
      g.beginPath(); g.moveTo(x, y(0)); g.lineTo(x, y(0) + 4); g.stroke();
      g.fillText(t.toFixed(tick < 1 ? 1 : 0) + "s", x - 8, h - 4);
    }
    let lx = PAD.l;
    PLOT.forEach((name, i) => {
      const k = NAMES.indexOf(name);
      g.strokeStyle = PLOT_COLORS[i % PLOT_COLORS.length]; g.lineWidth = 1.4;
      g.beginPath();
      for (let f = 0; f < NUM_FRAMES; f++) {
        const x = plotX((f + 0.5) / FPS, w), v = y(FACE[f * NB + k] / 255);
        f === 0 ? g.moveTo(x, v) : g.lineTo(x, v);
      }
      g.stroke();
      g.fillStyle = g.strokeStyle; g.fillRect(lx, 7, 10, 3);
      g.fillStyle = "#c9d2e3"; g.fillText(name, lx + 14, 13);
      lx += g.measureText(name).width + 30;
    });
  }
  function drawPlot() {
    const g = plotCanvas.getContext("2d"), dpr = window.devicePixelRatio || 1;
    const w = plotCanvas.width / dpr, h = plotCanvas.height / dpr;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.drawImage(plotBase, 0, 0);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const x = plotX(player.t, w);
    g.strokeStyle = "#ffffff"; g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(x, PAD.t - 4); g.lineTo(x, h - PAD.b); g.stroke();
  }
  let plotDrag = false;
  const plotSeek = (e) => {
    const r = plotCanvas.getBoundingClientRect();
    setTime(clamp((e.clientX - r.left - PAD.l) / (r.width - PAD.l - PAD.r), 0, 1) * DURATION);
  };
  plotCanvas.addEventListener("pointerdown", (e) => { plotDrag = true; plotCanvas.setPointerCapture(e.pointerId); plotSeek(e); });
  plotCanvas.addEventListener("pointermove", (e) => { if (plotDrag) plotSeek(e); });
  plotCanvas.addEventListener("pointerup", () => { plotDrag = false; });

  // ------------------------------------------------------------------------------------------------
  // main loop and the test API
  // ------------------------------------------------------------------------------------------------
  let lastPlotT = -1;
  function tick() {
    requestAnimationFrame(tick);
    if (player.playing) advance();
    if (view.needsRender()) render();
    if (player.t !== lastPlotT) { drawPlot(); lastPlotT = player.t; }
  }
  window.addEventListener("resize", () => { resize(); drawPlotBase(); lastPlotT = -1; });

  const round = (x) => Math.round(x * 1e6) / 1e6;
  const api = {
    ready: false,
    seek(t) {
      setTime(Number(t));
      render();
      drawPlot();
      return api.state();
    },
    play, pause,
    state() {
      const morph = {};
      NAMES.forEach((n, k) => { morph[n] = round(influences[morphSlot[k]]); });
      const boneRotation = {};
      bones.forEach((b) => { boneRotation[b.name] = b.quaternion.toArray().map(round); });
      return {
        ready: api.ready, frame: currentFrame, time: player.t, playing: player.playing,
        fps: FPS, numFrames: NUM_FRAMES, duration: DURATION, hasBody: HAS_BODY, hasAudio: !!audio,
        audioOk, webgl: !!renderer, morph, boneRotation,
        headRotation: headGroup.quaternion.toArray().map(round),
        eyeRotation: eyes.map((e) => e.quaternion.toArray().map(round)),
        avatar: avatar ? avatar.state() : null,
      };
    },
  };
  window.umoPreview = api;

  document.getElementById("meta").textContent =
    `${NUM_FRAMES} frames · ${FPS} fps · ${DURATION.toFixed(2)} s` + (HAS_BODY || avatar ? "" : " · head only") + (DATA.audio ? "" : " · no audio");
  resize();
  drawPlotBase();
  setTime(0);
  render();
  requestAnimationFrame(tick);
  audioReady.then(() => { api.ready = true; });
})();
