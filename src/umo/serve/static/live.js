/* umo live page: the character of scene.js driven by frames from `umo serve` over a WebSocket.

   Sources: the microphone (an AudioWorklet captures it; the page resamples to 16 kHz and sends 20 ms
   chunks of s16le), or an audio file (decoded and resampled to 16 kHz in the page, sent paced at real
   time; its playback starts PLAY_MARGIN after the first frame comes back, so it runs behind the
   stream by the measured latency plus that margin and the frames arrive before their audio).
   Frames come in the compact binary format (docs/protocol.md); a frame is shown at its time on the
   audio clock (file) or as soon as it arrives (microphone). Latency = the moment a frame arrives minus
   the moment the audio sample at the frame's time was sent.

   Text ("type and it speaks"): a text session (docs/protocol.md, "Text sessions") opens at the first
   keystroke in the text box; each keystroke's characters go out as they are typed (pieces cut
   mid-word, as a chat model streams its reply), Enter sends a line break (the server speaks the rest
   of the line), and the session ends after TEXT_IDLE_END_S without typing. The server speaks each
   clause as soon as it is complete: every "audio" message's PCM is scheduled with Web Audio at its
   start on the session's one timeline, mapped onto the AudioContext's clock; typing is slower than
   speech, so a clause that would start in the past (or less than TEXT_LEAD from now: its frames
   follow its audio by a model round) moves the timeline later on the clock, and the frames are shown
   through the same mapping. The emotion picker sends {"type": "emotion"} (from the next clause on).

   A user may load a .glb/.vrm character (avatar.js, as the preview's --character): its ARKit-named
   morph targets (or VRM expression presets) follow the face weights, its humanoid bones the body. */
(function () {
  "use strict";

  const RATE = 16000; // the model's rate: the page resamples to it
  const CHUNK = 320; // 20 ms chunks
  const PLAY_MARGIN = 0.2; // s: file playback starts this long after the first frame arrives
  const KEEP_FRAMES = 30 * 30; // frames kept for display and the curves (30 s): bounded memory
  const KEEP_TEXT_FRAMES = 30 * 600; // a text session's frames run ahead of its speech: keep 10 min (~20 MB)
  const TEXT_LEAD = 0.3; // s: a clause plays at least this long after its audio arrives (its frames: ~0.15 s)
  const TEXT_IDLE_END_S = 6; // s without typing: the text session ends (what was said keeps playing)
  const PLOT_SECONDS = 6;
  const PLOT_CURVES = ["JawOpen", "MouthClose", "MouthPucker", "MouthSmileLeft", "EyeBlinkLeft", "BrowInnerUp"];
  const PLOT_COLORS = ["#f4a261", "#e76f51", "#2a9d8f", "#e9c46a", "#8ab4f8", "#c792ea"];
  const params = new URLSearchParams(location.search);
  const TOKEN = params.get("token");
  const $ = (id) => document.getElementById(id);
  const clamp = (x, a, b) => Math.min(b, Math.max(a, x));

  // ------------------------------------------------------------------------------------------------
  // the character: built from the server's description of the skeleton (/api/info)
  // ------------------------------------------------------------------------------------------------
  let INFO = null, ch = null, view = null, NB = 52;
  let custom = null; // a user's glTF / VRM character: { av (avatar.js), rot }
  let lastFace = null;

  function build(info) {
    INFO = info;
    NB = info.blendshapes.length;
    ch = UmoScene.createCharacter({
      canvas: $("view3d"), names: info.blendshapes,
      skeleton: { names: info.joints, parents: info.parents, offsets: info.offsets }, applyHead: false,
      onNoGL: () => { $("nogl").hidden = false; },
    });
    view = UmoScene.createView(ch, {
      stage: $("stage"), canvas: $("view3d"), insetToggle: $("face-toggle"), insetBox: $("inset"), showInset: true,
      measure(box) {
        if (custom) { box.union(custom.av.box()); return; }
        UmoScene.measurePose(ch, box);
        box.expandByScalar(0.12); // room for the gestures to come
      },
    });
    // before frames come the character stands in the rule animator's relaxed rest pose, not a T-pose
    const rest = info.avatar.restPose;
    ch.bones.forEach((b, j) => UmoScene.rotvecToQuat(rest[3 * j], rest[3 * j + 1], rest[3 * j + 2], b.quaternion));
    ch.scene.updateMatrixWorld(true);
    window.addEventListener("resize", () => { view.resize(); plotDirty = true; });
    view.resize();
    const first = ["en-us", "en-us+f3", "en-gb", "en-gb+m3"];
    for (const v of [...first, ...(info.voices || []).filter((v) => !first.includes(v))]) $("voice").add(new Option(v, v));
    $("voice").value = "en-us";
    for (const e of info.emotions) $("emotion").add(new Option(e, e));
  }

  /** frame: {face: Float32Array(52), head: [3], eyes: [6], body: Float32Array(75*3) axis-angle}. */
  function applyFrame(fr) {
    ch.setFace(fr.face);
    ch.setEyeAngles(fr.eyes);
    // the model writes the head rotation into the neck chain of the body: turn the head once, there
    if (fr.body) {
      for (let j = 0; j < ch.bones.length; j++) {
        // local rotations relative to the skeleton's rest pose, whose bones start unrotated
        UmoScene.rotvecToQuat(fr.body[3 * j], fr.body[3 * j + 1], fr.body[3 * j + 2], ch.bones[j].quaternion);
      }
    } else {
      ch.setHeadAngles(fr.head[0], fr.head[1], fr.head[2]);
    }
    ch.scene.updateMatrixWorld(true);
    lastFace = fr.face;
    if (custom) custom.av.update(fr.face, custom.rot);
    view.requestRender();
  }

  // ------------------------------------------------------------------------------------------------
  // received frames: a bounded list, newest last
  // ------------------------------------------------------------------------------------------------
  const recv = { frames: [], count: 0, firstStart: null };
  const lat = { samples: [], last: null }; // ms, bounded
  let sendLog = []; // [sampleEnd, ms]: when the samples before sampleEnd had all been sent

  function sentAt(sample) {
    for (const [end, ms] of sendLog) if (end > sample) return ms;
    return null;
  }

  function parseBinaryFrames(buf) {
    const dv = new DataView(buf);
    const magic = String.fromCharCode(dv.getUint8(0), dv.getUint8(1), dv.getUint8(2), dv.getUint8(3));
    if (magic !== "UMOF") throw new Error("not a umo frames message");
    const flags = dv.getUint8(5), start = dv.getUint32(8, true), n = dv.getUint32(12, true), fps = dv.getFloat32(16, true);
    const dims = [["face", NB], ["head", 3], ["eyes", 6], ["body", 225]];
    let off = 20;
    const cols = {};
    dims.forEach(([name, d], i) => {
      if (flags & (1 << i)) { cols[name] = new Float32Array(buf.slice(off, off + n * d * 4)); off += n * d * 4; }
    });
    const out = [];
    for (let i = 0; i < n; i++) {
      const fr = { index: start + i, t: (start + i) / fps };
      for (const [name, d] of dims) fr[name] = cols[name] ? cols[name].subarray(i * d, (i + 1) * d) : null;
      out.push(fr);
    }
    return out;
  }

  function onFrames(list) {
    const now = performance.now();
    for (const fr of list) {
      const sent = sentAt(Math.floor(fr.t * RATE));
      if (sent !== null) {
        lat.last = now - sent;
        lat.samples.push(lat.last);
        if (lat.samples.length > 300) lat.samples.shift();
      }
      recv.frames.push(fr);
      recv.count++;
    }
    const keep = session && session.mode === "text" ? KEEP_TEXT_FRAMES : KEEP_FRAMES;
    if (recv.frames.length > keep) recv.frames.splice(0, recv.frames.length - keep);
    // drop send records that no future frame will ask about
    const oldest = Math.floor(recv.frames[recv.frames.length - 1].t * RATE);
    while (sendLog.length > 1 && sendLog[0][0] <= oldest) sendLog.shift();
    if (session && session.mode === "mic") applyFrame(list[list.length - 1]);
    if (session && session.mode === "file" && playback && playback.t0 === null) startPlayback();
    if (session && session.mode === "text" && talk.firstFramesMs === null && talk.clauseAt !== null) {
      talk.firstFramesMs = now - talk.clauseAt;
    }
    plotDirty = true;
  }

  function latencyText() {
    if (!lat.samples.length) return "latency: –";
    const s = lat.samples.slice().sort((a, b) => a - b);
    const p = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
    return `latency: ${lat.last.toFixed(0)} ms (p50 ${p(0.5).toFixed(0)}, p95 ${p(0.95).toFixed(0)})`;
  }

  // ------------------------------------------------------------------------------------------------
  // a session: start -> binary audio -> end; frames come back
  // ------------------------------------------------------------------------------------------------
  let session = null;

  function setConn(text, cls) {
    const c = $("conn");
    c.textContent = text;
    c.className = cls || "";
  }

  function openSession(mode, start) {
    return new Promise((resolve, reject) => {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${proto}//${location.host}/stream` + (TOKEN ? `?token=${encodeURIComponent(TOKEN)}` : ""));
      ws.binaryType = "arraybuffer";
      const s = { ws, mode, sent: 0, textSent: 0, ended: false, done: false, error: null, ready: null, audioHeader: null };
      // every session takes the body chosen in the toolbar ("animator": the model's; "gen": the body generator)
      const msg = Object.assign(start || { type: "start", sample_rate: RATE, format: "binary" }, { body: $("body").value });
      ws.onopen = () => ws.send(JSON.stringify(msg));
      ws.onmessage = (ev) => {
        if (typeof ev.data !== "string") {
          if (s.audioHeader) { const h = s.audioHeader; s.audioHeader = null; onSpeech(s, h, ev.data); return; }
          onFrames(parseBinaryFrames(ev.data));
          return;
        }
        const m = JSON.parse(ev.data);
        if (m.type === "audio") { s.audioHeader = m; return; } // its PCM is the next (binary) message
        if (m.type === "ready") { s.ready = m; setConn(`streaming (session ${m.session})`, "on"); resolve(s); }
        else if (m.type === "done") {
          s.done = true;
          if (m.latency_ms) talk.serverLatency = m.latency_ms;
          setConn(`done: ${m.frames} frames`, "");
        }
        else if (m.type === "warning") $("status").textContent = m.message;
        else if (m.type === "error") { s.error = m.message; setConn("error: " + m.message, "err"); }
      };
      ws.onerror = () => { setConn("connection failed", "err"); reject(new Error("connection failed")); };
      ws.onclose = () => {
        if (!s.done && !s.error) setConn("closed", "");
        // after "done" a file keeps playing (it runs behind the stream); anything else stops its audio
        if (session === s && !s.done) stopSession(false);
      };
      recv.frames = []; recv.count = 0; lat.samples = []; lat.last = null; sendLog = [];
      session = s;
    });
  }

  function sendPcm(s, f32) {
    if (s.ws.readyState !== WebSocket.OPEN) return;
    const i16 = new Int16Array(f32.length);
    for (let i = 0; i < f32.length; i++) i16[i] = clamp(Math.round(f32[i] * 32768), -32768, 32767);
    s.ws.send(i16.buffer);
    s.sent += f32.length;
    sendLog.push([s.sent, performance.now()]);
    if (sendLog.length > 4000) sendLog.shift(); // bounded even if frames never come
  }

  function stopSession(sendEnd) {
    const s = session;
    if (!s) return;
    if (s.stopAudio) { s.stopAudio(); s.stopAudio = null; }
    if (sendEnd && s.ws.readyState === WebSocket.OPEN && (s.sent > 0 || s.textSent > 0)) s.ws.send(JSON.stringify({ type: "end" }));
    else if (sendEnd && s.ws.readyState === WebSocket.OPEN) s.ws.close();
    $("mic").classList.remove("active");
    $("stop").disabled = true;
  }

  // ------------------------------------------------------------------------------------------------
  // resampling to 16 kHz in the page: windowed-sinc, streaming (state carried between blocks)
  // ------------------------------------------------------------------------------------------------
  class Resampler {
    constructor(inRate, outRate) {
      this.step = inRate / outRate; // input samples per output sample
      this.cut = Math.min(1, outRate / inRate) * 0.94; // anti-aliasing cutoff, fraction of input Nyquist
      this.half = 16; // taps each side, in output-rate periods scaled by step
      this.buf = new Float32Array(0);
      this.pos = 0; // position of the next output in buf's coordinates
    }
    push(x) {
      const b = new Float32Array(this.buf.length + x.length);
      b.set(this.buf); b.set(x, this.buf.length);
      const w = Math.ceil(this.half * Math.max(1, this.step));
      const out = [];
      while (this.pos + w < b.length) {
        const c = this.pos, i0 = Math.ceil(c - w), i1 = Math.floor(c + w);
        let acc = 0, norm = 0;
        for (let i = Math.max(0, i0); i <= i1; i++) {
          const d = i - c, a = Math.PI * d * this.cut;
          const sinc = Math.abs(d) < 1e-9 ? 1 : Math.sin(a) / a;
          const win = 0.5 + 0.5 * Math.cos(Math.PI * d / (w + 1)); // Hann
          const k = sinc * win;
          acc += b[i] * k; norm += k;
        }
        out.push(norm ? acc / norm : 0);
        this.pos += this.step;
      }
      const drop = Math.max(0, Math.floor(this.pos - w) - 1);
      this.buf = b.slice(drop);
      this.pos -= drop;
      return Float32Array.from(out);
    }
  }

  // ------------------------------------------------------------------------------------------------
  // the microphone: an AudioWorklet posts its input blocks; 20 ms chunks go out as they fill
  // ------------------------------------------------------------------------------------------------
  const WORKLET = `class Tap extends AudioWorkletProcessor {
    process(inputs) { const ch = inputs[0][0]; if (ch) this.port.postMessage(ch.slice(0)); return true; }
  }
  registerProcessor("umo-tap", Tap);`;

  async function startMic() {
    stopSession(true);
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" })));
    const s = await openSession("mic");
    const src = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "umo-tap");
    const rs = new Resampler(ctx.sampleRate, RATE);
    let pending = new Float32Array(0);
    node.port.onmessage = (ev) => {
      const y = rs.push(ev.data);
      const b = new Float32Array(pending.length + y.length);
      b.set(pending); b.set(y, pending.length);
      let i = 0;
      for (; i + CHUNK <= b.length; i += CHUNK) sendPcm(s, b.subarray(i, i + CHUNK));
      pending = b.slice(i);
    };
    src.connect(node);
    s.stopAudio = () => { src.disconnect(); node.disconnect(); stream.getTracks().forEach((t) => t.stop()); ctx.close(); };
    $("mic").classList.add("active");
    $("stop").disabled = false;
    $("status").textContent = `microphone at ${ctx.sampleRate} Hz, resampled to 16 kHz in the page`;
  }

  // ------------------------------------------------------------------------------------------------
  // a file: decode, resample, stream at real time, play back once frames come, on the same clock
  // ------------------------------------------------------------------------------------------------
  let playback = null; // { ctx, player, t0 (ctx time of audio t = 0; null until the first frame), duration }

  async function playFile(file) {
    stopSession(true);
    const bytes = await file.arrayBuffer();
    const ctx = new AudioContext();
    const buffer = await ctx.decodeAudioData(bytes);
    const off = new OfflineAudioContext(1, Math.max(1, Math.ceil(buffer.duration * RATE)), RATE);
    const src = off.createBufferSource();
    src.buffer = buffer; // mixed down to mono and resampled by the offline context
    src.connect(off.destination);
    src.start();
    const pcm = (await off.startRendering()).getChannelData(0);
    const s = await openSession("file");
    const player = ctx.createBufferSource();
    player.buffer = buffer;
    player.connect(ctx.destination);
    const tStart = ctx.currentTime;
    playback = { ctx, player, t0: null, tStart, name: file.name, duration: buffer.duration };
    let sent = 0;
    const pump = setInterval(() => {
      const due = Math.min(pcm.length, Math.floor((ctx.currentTime - tStart) * RATE) + CHUNK);
      while (sent + CHUNK <= due || (due === pcm.length && sent < pcm.length)) {
        const n = Math.min(CHUNK, pcm.length - sent);
        sendPcm(s, pcm.subarray(sent, sent + n));
        sent += n;
      }
      if (sent >= pcm.length) { clearInterval(pump); s.ws.send(JSON.stringify({ type: "end" })); }
    }, 10);
    s.stopAudio = () => { clearInterval(pump); try { player.stop(); } catch (e) { /* not started */ } };
    $("stop").disabled = false;
    $("status").textContent = `${file.name}: ${buffer.duration.toFixed(2)} s at ${buffer.sampleRate} Hz, streaming…`;
  }

  /** The first frames are back: play the file from its start, behind the stream by the latency so far. */
  function startPlayback() {
    const p = playback;
    p.t0 = p.ctx.currentTime + PLAY_MARGIN;
    p.player.start(p.t0);
    const behind = (p.t0 - p.tStart) * 1000;
    $("status").textContent = `${p.name}: ${p.duration.toFixed(2)} s, playing ${behind.toFixed(0)} ms behind the stream`;
  }

  /** The frame on the audio clock during file playback (the newest at or before t). */
  function fileFrame() {
    if (playback.t0 === null) return null;
    const t = playback.ctx.currentTime - playback.t0;
    if (t < 0 || !recv.frames.length) return null;
    return frameAt(t);
  }

  /** The received frame at time t of the stream (the newest received if t is beyond it). */
  function frameAt(t) {
    const want = Math.floor(t * 30 + 1e-6);
    const last = recv.frames[recv.frames.length - 1];
    if (last.index < want) return last; // late: hold the newest
    const i = recv.frames.length - 1 - (last.index - want);
    return recv.frames[clamp(i, 0, recv.frames.length - 1)];
  }

  // ------------------------------------------------------------------------------------------------
  // text: "type and it speaks" (see the top of this file)
  // ------------------------------------------------------------------------------------------------
  let audioCtx = null;
  const talk = {
    segments: [], // per clause received: {start, end (timeline s), at (AudioContext time it plays), samples, text}
    sources: [], shift: null, shifted: 0, queue: "", typed: "", opening: null, endTimer: null,
    lastSend: null, clauseAt: null, firstAudioMs: null, firstFramesMs: null, serverLatency: null,
  };

  function ensureAudioCtx() {
    if (!audioCtx) audioCtx = new AudioContext();
    if (audioCtx.state === "suspended") audioCtx.resume();
    return audioCtx;
  }

  function textOpen() {
    return !!(session && session.mode === "text" && !session.ended && !session.error && session.ws.readyState === WebSocket.OPEN);
  }

  async function openTextSession() {
    stopSession(true);
    ensureAudioCtx();
    Object.assign(talk, { segments: [], sources: [], shift: null, shifted: 0, lastSend: null, clauseAt: null,
      firstAudioMs: null, firstFramesMs: null, serverLatency: null });
    const s = await openSession("text", { type: "start", input: "text", format: "binary",
      voice: $("voice").value, emotion: $("emotion").value });
    s.stopAudio = () => {
      for (const src of talk.sources) { try { src.stop(); } catch (e) { /* not started */ } }
      talk.sources = [];
    };
    $("stop").disabled = false;
    return s;
  }

  /** Text for the server: sent now if the session is open, else once a new one is. */
  function say(piece) {
    talk.queue += piece;
    if (textOpen()) { flushText(); return; }
    if (!talk.opening) {
      talk.opening = openTextSession().then(flushText, (e) => setConn("text: " + e.message, "err"))
        .finally(() => { talk.opening = null; });
    }
  }

  function flushText() {
    if (!textOpen() || !talk.queue) return;
    session.ws.send(JSON.stringify({ type: "text", text: talk.queue }));
    session.textSent += talk.queue.length;
    talk.queue = "";
    talk.lastSend = performance.now();
    clearTimeout(talk.endTimer);
    talk.endTimer = setTimeout(endText, TEXT_IDLE_END_S * 1000);
  }

  function endText() {
    if (!textOpen()) return;
    session.ws.send(JSON.stringify({ type: "end" })); // what was said keeps playing; the last frames follow
    session.ended = true;
    $("stop").disabled = true;
  }

  /** A clause's speech: schedule it at its place on the session's timeline (see the top of the file). */
  function onSpeech(s, h, buf) {
    if (session !== s) return;
    const ctx = ensureAudioCtx();
    const i16 = new Int16Array(buf);
    const f32 = new Float32Array(i16.length);
    for (let i = 0; i < i16.length; i++) f32[i] = i16[i] / 32768;
    const ab = ctx.createBuffer(1, Math.max(1, f32.length), h.sample_rate);
    ab.copyToChannel(f32, 0);
    const src = ctx.createBufferSource();
    src.buffer = ab;
    src.connect(ctx.destination);
    const earliest = ctx.currentTime + TEXT_LEAD;
    if (talk.shift === null) talk.shift = earliest - h.start;
    else if (talk.shift + h.start < earliest) { talk.shift = earliest - h.start; talk.shifted++; } // text came late
    const at = talk.shift + h.start;
    src.start(at);
    talk.sources.push(src);
    src.onended = () => { talk.sources = talk.sources.filter((x) => x !== src); };
    talk.segments.push({ start: h.start, end: h.start + h.samples / h.sample_rate, at, samples: h.samples, text: h.text });
    if (talk.firstAudioMs === null && talk.lastSend !== null) {
      talk.clauseAt = talk.lastSend; // the last keystroke sent before it: the one that completed the clause, or later
      talk.firstAudioMs = performance.now() - talk.clauseAt;
    }
    $("status").textContent = `“${h.text}”`;
  }

  /** The frame to show now: the timeline's time at the AudioContext's clock, held between clauses. */
  function textFrame() {
    if (!audioCtx || !talk.segments.length || !recv.frames.length) return null;
    const now = audioCtx.currentTime;
    let seg = null;
    for (const g of talk.segments) { if (g.at <= now) seg = g; else break; }
    return seg ? frameAt(Math.min(seg.end, seg.start + (now - seg.at))) : null;
  }

  function textLatencyText() {
    if (talk.firstAudioMs === null) return "latency: –";
    const f = talk.firstFramesMs === null ? "–" : talk.firstFramesMs.toFixed(0);
    return `first audio ${talk.firstAudioMs.toFixed(0)} ms, frames ${f} ms after the clause`;
  }

  // ------------------------------------------------------------------------------------------------
  // a user's glTF / VRM character (binary .glb / .vrm, or .gltf with embedded buffers): avatar.js,
  // shared with the preview page; it follows the default character's bones, face and eyes
  // ------------------------------------------------------------------------------------------------
  function loadCharacter(buf) {
    const av = UmoAvatar.load(buf, { data: INFO.avatar, names: INFO.blendshapes });
    if (custom) ch.scene.remove(custom.av.object);
    ch.characterRoot.visible = false;
    ch.scene.add(av.object);
    ch.faceTarget = av.faceTarget;
    custom = { av, rot: UmoAvatar.canonicalSource(ch, INFO.avatar) };
    ch.scene.updateMatrixWorld(true);
    av.update(lastFace || new Float32Array(NB), custom.rot);
    view.remeasure(); view.placeCamera(); view.requestRender();
    $("status").textContent = `character: ${av.status}`;
    return av.report.arkit;
  }

  // ------------------------------------------------------------------------------------------------
  // live curves: the last PLOT_SECONDS of the main blendshapes
  // ------------------------------------------------------------------------------------------------
  let plotDirty = true;
  const plot = $("plot");
  function drawPlot() {
    plotDirty = false;
    const dpr = window.devicePixelRatio || 1, rect = plot.getBoundingClientRect();
    const w = Math.max(1, Math.floor(rect.width)), h = Math.max(1, Math.floor(rect.height));
    if (plot.width !== w * dpr) { plot.width = w * dpr; plot.height = h * dpr; }
    const g = plot.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#151a24"; g.fillRect(0, 0, w, h);
    const PAD = { l: 34, r: 10, t: 22, b: 18 };
    const y = (v) => h - PAD.b - (h - PAD.t - PAD.b) * v;
    g.strokeStyle = "#2c3446"; g.fillStyle = "#8591a8"; g.font = "11px system-ui, sans-serif"; g.lineWidth = 1;
    for (const v of [0, 0.5, 1]) { g.beginPath(); g.moveTo(PAD.l, y(v)); g.lineTo(w - PAD.r, y(v)); g.stroke(); g.fillText(v.toFixed(1), 6, y(v) + 4); }
    const frames = recv.frames;
    const tEnd = frames.length ? frames[frames.length - 1].t : PLOT_SECONDS, tStart = tEnd - PLOT_SECONDS;
    const x = (t) => PAD.l + (w - PAD.l - PAD.r) * (t - tStart) / PLOT_SECONDS;
    let lx = PAD.l;
    PLOT_CURVES.forEach((name, i) => {
      const k = INFO ? INFO.blendshapes.indexOf(name) : -1;
      g.strokeStyle = PLOT_COLORS[i]; g.lineWidth = 1.4;
      if (k >= 0 && frames.length) {
        g.beginPath();
        let first = true;
        for (const fr of frames) {
          if (fr.t < tStart) continue;
          first ? g.moveTo(x(fr.t), y(fr.face[k])) : g.lineTo(x(fr.t), y(fr.face[k]));
          first = false;
        }
        g.stroke();
      }
      g.fillStyle = PLOT_COLORS[i]; g.fillRect(lx, 7, 10, 3);
      g.fillStyle = "#c9d2e3"; g.fillText(name, lx + 14, 13);
      lx += g.measureText(name).width + 30;
    });
    g.fillStyle = "#8591a8";
    g.fillText(`${tEnd.toFixed(1)} s`, w - PAD.r - 40, h - 4);
  }

  // ------------------------------------------------------------------------------------------------
  // main loop, controls, and the test API
  // ------------------------------------------------------------------------------------------------
  let shownIndex = -1;
  function tick() {
    requestAnimationFrame(tick);
    if (!ch) return;
    if (session && (session.mode === "file" && playback || session.mode === "text")) {
      const fr = session.mode === "file" ? fileFrame() : textFrame();
      if (fr && fr.index !== shownIndex) { shownIndex = fr.index; applyFrame(fr); }
    }
    if (view.needsRender()) view.render();
    if (plotDirty) drawPlot();
    $("latency").textContent = session && session.mode === "text" ? textLatencyText() : latencyText();
    $("meta").textContent = `${recv.count} frames`;
  }

  $("mic").addEventListener("click", () => startMic().catch((e) => setConn("microphone: " + e.message, "err")));
  $("stop").addEventListener("click", () => stopSession(true));
  $("file").addEventListener("change", (e) => {
    const f = e.target.files[0];
    if (f) playFile(f).catch((err) => setConn("file: " + err.message, "err"));
    e.target.value = "";
  });
  $("say-text").addEventListener("input", (e) => {
    ensureAudioCtx(); // a keystroke is a user gesture: the AudioContext may start
    const v = e.target.value, typed = talk.typed;
    let k = 0;
    while (k < v.length && k < typed.length && v[k] === typed[k]) k++;
    if (k === typed.length && v.length > k) say(v.slice(k)); // appended; an edit of what went out cannot be taken back
    talk.typed = v;
  });
  $("say").addEventListener("submit", (e) => {
    e.preventDefault();
    ensureAudioCtx();
    say("\n"); // the end of the line: the server speaks it now
    $("say-text").value = "";
    talk.typed = "";
  });
  $("emotion").addEventListener("change", () => {
    if (textOpen()) session.ws.send(JSON.stringify({ type: "emotion", emotion: $("emotion").value }));
  });
  $("voice").addEventListener("change", endText); // a session has one voice: the next words open a new one
  $("character").addEventListener("change", async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    try { loadCharacter(await f.arrayBuffer()); } catch (err) { $("status").textContent = "character: " + err.message; }
    e.target.value = "";
  });

  const round = (v) => Math.round(v * 1e6) / 1e6;
  const api = {
    ready: false,
    state() {
      const morph = {};
      if (ch) INFO.blendshapes.forEach((n, k) => { morph[n] = round(ch.influences[ch.morphSlot[k]]); });
      const boneRotation = {};
      if (ch) ch.bones.forEach((b) => { boneRotation[b.name] = b.quaternion.toArray().map(round); });
      const s = lat.samples.slice().sort((a, b) => a - b);
      return {
        ready: api.ready, webgl: !!(ch && ch.renderer), connection: $("conn").textContent,
        framesReceived: recv.count, lastFrame: recv.frames.length ? recv.frames[recv.frames.length - 1].index : -1,
        shownFrame: shownIndex, done: !!(session && session.done), error: session ? session.error : null,
        body: session && session.ready ? session.ready.body : null, // what the server streams the body from
        latencyMs: { last: lat.last, p50: s.length ? s[Math.floor(0.5 * s.length)] : null, n: s.length },
        playing: !!(playback && playback.t0 !== null && playback.ctx.currentTime < playback.t0 + playback.duration),
        text: {
          clauses: talk.segments.map((g) => ({ text: g.text, start: g.start, samples: g.samples, at: g.at })),
          // each clause starts where the previous one's samples end (the server's one timeline)
          contiguous: talk.segments.every((g, i) => i === 0 ? g.start === 0
            : Math.abs(g.start - talk.segments[i - 1].end) < 1e-6),
          audioContext: audioCtx ? { state: audioCtx.state, time: audioCtx.currentTime } : null,
          sources: talk.sources.length, shifted: talk.shifted, sent: (session && session.textSent) || 0,
          firstAudioMs: talk.firstAudioMs, firstFramesMs: talk.firstFramesMs, serverLatency: talk.serverLatency,
        },
        morph, boneRotation,
        character: custom ? Object.entries(custom.av.state().morph) : null, // [ARKit name, influence]
        characterTurn: custom ? custom.av.state().turn : null, // a bone-less character turns with the head
        avatar: custom ? custom.av.state() : null,
      };
    },
    /** bytes: an ArrayBuffer or an array of byte values (tests pass a plain array) -> matched targets. */
    loadCharacter(bytes) { return loadCharacter(bytes instanceof ArrayBuffer ? bytes : new Uint8Array(bytes).buffer); },
  };
  window.umoLive = api;

  fetch("/api/info").then((r) => r.json()).then((info) => {
    build(info);
    drawPlot();
    requestAnimationFrame(tick);
    api.ready = true;
  }).catch((e) => setConn("cannot reach the server: " + e.message, "err"));
})();
