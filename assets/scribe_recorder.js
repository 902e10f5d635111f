// The scribe's recorder: audio never lost (server side: clinic_app/api/scribe.py).
//
// MediaRecorder gives a chunk every few seconds; each chunk goes to IndexedDB first, then is
// uploaded as (session, seq, sha256) and deleted from IndexedDB only once the server has it.
// Network cuts are retried with backoff; after a reload, a closed tab or a crash, opening the
// session again shows "N chunks waiting" and sends them. A custom script instead of a wrapper
// component: it needs IndexedDB, checksums and a retry queue that no maintained wrapper has.
//
// The page renders #scribe-root (data-session, data-consented) and buttons with
// data-scribe-action = start | pause | resume | stop | finish; a hidden #scribe-refresh button
// asks the Reflex state to reload once the server has the whole recording.
(function () {
  if (window.__clinicScribe) return;
  window.__clinicScribe = true;
  const DB_NAME = "clinic-scribe";
  const STORE = "chunks";
  const TIMESLICE_MS = 3000;
  const FILE_CHUNK = 1024 * 1024;
  const SILENCE_MS = 10000;
  const st = {
    session: null,
    recorder: null,
    stream: null,
    seq: 0,
    pumping: false,
    finishing: false,
    total: null,
    source: "capture",
    filename: "",
    startedAt: 0,
    elapsedBefore: 0,
    quietSince: 0,
    timer: null,
    phase: "",
    saving: [],
  };

  // ---- IndexedDB ----------------------------------------------------------------------------
  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () =>
        request.result.createObjectStore(STORE, { keyPath: ["session", "seq"] });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  async function tx(mode, work) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const result = work(t.objectStore(STORE));
      t.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      t.onerror = () => reject(t.error);
    });
  }
  const saveChunk = (record) => tx("readwrite", (s) => s.put(record));
  const dropChunk = (session, seq) => tx("readwrite", (s) => s.delete([session, seq]));
  const waiting = (session) =>
    tx("readonly", (s) => s.getAll(IDBKeyRange.bound([session, 0], [session, Infinity])));

  async function sha256Hex(buffer) {
    const digest = await crypto.subtle.digest("SHA-256", buffer);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ---- the page -----------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  function root() {
    return $("scribe-root");
  }
  function say(id, text) {
    const el = $(id);
    if (el) el.textContent = text;
  }
  function phase(name) {
    st.phase = name;
    const el = root();
    if (el) el.dataset.phase = name;
    const visible = {
      idle: ["start"],
      recording: ["pause", "stop"],
      paused: ["resume", "stop"],
      sending: [],
      waiting: ["finish"],
      done: [],
    }[name] || [];
    document.querySelectorAll("[data-scribe-action]").forEach((button) => {
      const action = button.dataset.scribeAction;
      if (action === "upload") return;
      button.hidden = !visible.includes(action);
    });
  }
  function showPending(count) {
    say("scribe-pending", count ? count + " chunk" + (count === 1 ? "" : "s") + " waiting to upload" : "");
    const el = $("scribe-pending");
    if (el) el.dataset.count = String(count);
  }
  function clock() {
    const ms = st.elapsedBefore + (st.startedAt ? Date.now() - st.startedAt : 0);
    const s = Math.floor(ms / 1000);
    say("scribe-elapsed", String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0"));
  }
  function warn(text) {
    say("scribe-warning", text);
  }

  // ---- upload queue -------------------------------------------------------------------------
  async function send(record) {
    const response = await fetch(`/api/scribe/${record.session}/chunks/${record.seq}`, {
      method: "PUT",
      body: record.data,
      credentials: "same-origin",
      headers: {
        "X-Requested-With": "clinic",
        "X-Chunk-SHA256": record.sha,
        "Content-Type": record.mime || "application/octet-stream",
      },
    });
    if (response.ok) return "stored";
    let code = "";
    try {
      code = (await response.json()).code;
    } catch (_) {}
    if (response.status >= 500 || code === "CHUNK_CHECKSUM") return "retry"; // damaged in transit
    // Anything else is kept in this browser (never dropped) and shown.
    warn("The server refused audio (" + (code || response.status) + "); it stays saved in this browser.");
    return "refused";
  }

  async function pump() {
    if (st.pumping || !st.session) return;
    st.pumping = true;
    let delay = 1000;
    try {
      for (;;) {
        const queue = (await waiting(st.session)).sort((a, b) => a.seq - b.seq);
        showPending(queue.length);
        if (!queue.length) break;
        let progressed = false;
        for (const record of queue) {
          let outcome;
          try {
            outcome = await send(record);
          } catch (_) {
            outcome = "retry"; // offline
          }
          if (outcome === "stored") {
            await dropChunk(record.session, record.seq);
            progressed = true;
          } else if (outcome === "refused") {
            return;
          } else {
            break;
          }
        }
        if (!progressed) {
          warn("Offline — audio is kept on this computer and sent when the connection is back.");
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 30000);
        } else {
          delay = 1000;
          if ($("scribe-warning") && $("scribe-warning").textContent.startsWith("Offline")) warn("");
        }
      }
    } finally {
      st.pumping = false;
    }
    if (st.total !== null) await finish();
  }

  async function finish() {
    if (st.finishing) return;
    st.finishing = true;
    phase("sending");
    try {
      if (st.total === null) {
        // Reopened after a crash: the recording is what the server has.
        const known = await (await fetch(`/api/scribe/${st.session}/chunks`, { credentials: "same-origin" })).json();
        st.total = known.received.length ? Math.max(...known.received) + 1 : 0;
      }
      let response;
      for (let attempt = 0; ; attempt++) {
        response = await fetch(`/api/scribe/${st.session}/finish`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-Requested-With": "clinic", "Content-Type": "application/json" },
          body: JSON.stringify({ chunks: st.total, source: st.source, filename: st.filename }),
        });
        if (response.status < 500 || attempt >= 5) break; // a busy server: try again shortly
        await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt));
      }
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        warn(body.message || "Could not finish the recording; try again.");
        phase("waiting");
        return;
      }
      localStorage.removeItem("clinic-scribe-total:" + st.session);
      phase("done");
      say("scribe-status", "Recording saved.");
      const refresh = $("scribe-refresh");
      if (refresh) refresh.click();
    } catch (_) {
      warn("Offline — the recording will be finished when the connection is back.");
      phase("waiting");
    } finally {
      st.finishing = false;
    }
  }

  function store(blob) {
    // The number is taken now, in the order the recorder hands chunks over; saving is async.
    const seq = st.seq++;
    const saved = (async () => {
      const data = await blob.arrayBuffer();
      await saveChunk({ session: st.session, seq, data, sha: await sha256Hex(data), mime: blob.type });
    })();
    st.saving.push(saved);
    saved.then(() => pump());
    return saved;
  }

  // ---- capture ------------------------------------------------------------------------------
  function pickMime() {
    for (const type of ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"]) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(type)) return type;
    }
    return "";
  }

  function meter(stream) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    st.quietSince = Date.now();
    st.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      const rms = Math.sqrt(sum / samples.length);
      const level = $("scribe-level");
      if (level) level.style.width = Math.min(100, Math.round(rms * 400)) + "%";
      if (st.recorder && st.recorder.state === "recording") {
        if (rms > 0.01) {
          st.quietSince = Date.now();
          if ($("scribe-warning") && $("scribe-warning").textContent.startsWith("No sound")) warn("");
        } else if (Date.now() - st.quietSince > SILENCE_MS) {
          warn("No sound for 10 seconds — is the microphone muted?");
        }
      }
      clock();
    }, 250);
    return context;
  }

  async function start() {
    const el = root();
    if (!el || el.dataset.consented !== "true") {
      warn("Record the patient's consent first.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    } catch (error) {
      warn("The microphone is not available: " + error.message);
      return;
    }
    const mimeType = pickMime();
    st.stream = stream;
    st.recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
    st.recorder.ondataavailable = (event) => {
      if (event.data && event.data.size) store(event.data);
    };
    st.recorder.onstop = async () => {
      // The last chunk's dataavailable fires before stop: st.seq is final; wait until every
      // chunk is in IndexedDB before declaring the total.
      await Promise.all(st.saving);
      st.total = st.seq;
      localStorage.setItem("clinic-scribe-total:" + st.session, String(st.total));
      stream.getTracks().forEach((track) => track.stop());
      clearInterval(st.timer);
      st.context && st.context.close();
      pump();
    };
    stream.getAudioTracks().forEach((track) => {
      track.onended = () => warn("The microphone was disconnected. Recording stopped; what was recorded is kept.");
      track.onmute = () => warn("The microphone is muted.");
      track.onunmute = () => warn("");
    });
    st.context = meter(stream);
    st.recorder.start(TIMESLICE_MS);
    st.startedAt = Date.now();
    phase("recording");
    say("scribe-status", "Recording");
  }

  function pause() {
    if (st.recorder && st.recorder.state === "recording") {
      st.recorder.pause();
      st.elapsedBefore += Date.now() - st.startedAt;
      st.startedAt = 0;
      phase("paused");
      say("scribe-status", "Paused");
    }
  }
  function resume() {
    if (st.recorder && st.recorder.state === "paused") {
      st.recorder.resume();
      st.startedAt = Date.now();
      phase("recording");
      say("scribe-status", "Recording");
    }
  }
  function stop() {
    if (st.recorder && st.recorder.state !== "inactive") {
      if (st.startedAt) st.elapsedBefore += Date.now() - st.startedAt;
      st.startedAt = 0;
      st.recorder.stop();
      phase("sending");
      say("scribe-status", "Saving the recording…");
    }
  }

  async function uploadFile(file) {
    if (!file || !st.session) return;
    if (root().dataset.consented !== "true") {
      warn("Record the patient's consent first.");
      return;
    }
    st.source = "upload";
    st.filename = file.name;
    phase("sending");
    say("scribe-status", "Reading " + file.name + "…");
    st.seq = 0;
    for (let offset = 0; offset < file.size; offset += FILE_CHUNK) {
      await store(file.slice(offset, offset + FILE_CHUNK, file.type || "application/octet-stream"));
    }
    st.total = st.seq;
    localStorage.setItem("clinic-scribe-total:" + st.session, String(st.total));
    pump();
  }

  // ---- wiring -------------------------------------------------------------------------------
  async function attach() {
    const el = root();
    const session = el ? el.dataset.session : null;
    if (!session || session === st.session) return;
    st.session = session;
    st.seq = 0;
    st.total = null;
    const known = localStorage.getItem("clinic-scribe-total:" + session);
    if (known !== null) st.total = Number(known);
    const queue = await waiting(session);
    showPending(queue.length);
    if (el.dataset.status !== "in_progress" && el.dataset.status !== "paused") {
      phase(queue.length ? "sending" : "done");
      say("scribe-status", queue.length ? "Sending audio saved earlier…" : "Recording saved.");
    } else if (queue.length || known !== null) {
      // Reopened with audio not yet on the server: send it, then finish.
      st.seq = queue.length ? Math.max(...queue.map((r) => r.seq)) + 1 : 0;
      phase(st.total === null ? "waiting" : "sending");
      say("scribe-status", queue.length ? "Sending audio saved earlier…" : "");
    } else {
      phase("idle");
    }
    pump();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-scribe-action]");
    if (!button) return;
    const action = button.dataset.scribeAction;
    if (action === "start") start();
    if (action === "pause") pause();
    if (action === "resume") resume();
    if (action === "stop") stop();
    if (action === "finish") finish();
  });
  document.addEventListener("change", (event) => {
    if (event.target.id === "scribe-file") uploadFile(event.target.files[0]);
  });
  window.addEventListener("beforeunload", (event) => {
    const count = Number(($("scribe-pending") || {}).dataset?.count || 0);
    const live = st.recorder && st.recorder.state !== "inactive";
    if (count > 0 || live) {
      event.preventDefault();
      event.returnValue = "Audio is still being saved.";
    }
  });
  window.addEventListener("online", () => pump());
  // React renders the page after this script loads, and re-renders on navigation.
  new MutationObserver(() => {
    const el = root();
    if (el) {
      if (el.dataset.session !== st.session) attach();
      else if (st.phase && el.dataset.phase !== st.phase) phase(st.phase); // re-rendered
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
  // The script may load after the recorder is already on the page (it is rendered with it).
  if (root()) attach();
  // ---- the transcript player ---------------------------------------------------------------
  // The recording is fetched once through its short-lived link and played from memory, so
  // seeking works and the link is not reused. Click a segment to play from its start; the
  // playing segment is marked; Alt+K plays/pauses, Alt+J goes back 5 seconds.
  async function loadAudio(url) {
    const audio = $("scribe-audio");
    if (!audio) return;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) {
      warn("The recording could not be loaded; try again.");
      return;
    }
    audio.src = URL.createObjectURL(await response.blob());
    audio.hidden = false;
    audio.ontimeupdate = () => {
      const ms = audio.currentTime * 1000;
      document.querySelectorAll("[data-segment-start]").forEach((el) => {
        const on = ms >= Number(el.dataset.segmentStart) && ms < Number(el.dataset.segmentEnd);
        el.dataset.playing = on ? "true" : "false";
        el.style.background = on ? "var(--accent-3)" : "";
      });
    };
    await audio.play().catch(() => {});
  }
  document.addEventListener("click", (event) => {
    const seg = event.target.closest("[data-segment-start]");
    const audio = $("scribe-audio");
    if (!seg || !audio || !audio.src || event.target.closest("button, textarea, input")) return;
    audio.currentTime = Number(seg.dataset.segmentStart) / 1000;
    audio.play().catch(() => {});
  });
  document.addEventListener("keydown", (event) => {
    const audio = $("scribe-audio");
    if (!audio || !audio.src || !event.altKey) return;
    if (event.key === "k" || event.key === "K") {
      audio.paused ? audio.play() : audio.pause();
      event.preventDefault();
    } else if (event.key === "j" || event.key === "J") {
      audio.currentTime = Math.max(0, audio.currentTime - 5);
      event.preventDefault();
    }
  });

  // For tests and support: how much audio this tab recorded.
  const recordedMs = () => st.elapsedBefore + (st.startedAt ? Date.now() - st.startedAt : 0);
  window.ClinicScribe = { attach, pump, finish, waiting, recordedMs, loadAudio };
})();
