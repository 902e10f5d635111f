// Chart file uploads: chunked, resumable and verified (server side: clinic_app/api/uploads.py).
// The whole file's SHA-256 names the upload in localStorage, so choosing the same file again
// after a dropped connection, a reload or a crash continues with the chunks still missing.
(function () {
  if (window.__clinicChartUpload) return;
  window.__clinicChartUpload = true;
  const CHUNK = 8 * 1024 * 1024; // fewer round trips; the server accepts 64 KiB-8 MiB
  const IN_FLIGHT = 2; // one chunk is hashed and sent while the server stores the other

  async function sha256Hex(buffer) {
    const digest = await crypto.subtle.digest("SHA-256", buffer);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function show(percent, text, state) {
    const box = document.getElementById("upload-progress");
    const bar = document.getElementById("upload-bar");
    const label = document.getElementById("upload-label");
    if (box) box.style.display = "block";
    if (bar) bar.style.width = percent + "%";
    if (label) {
      label.textContent = text;
      label.dataset.state = state;
    }
  }

  async function call(method, url, body, headers) {
    // Network errors and 5xx answers are retried with backoff (about 30 s in all).
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await fetch(url, {
          method,
          body,
          credentials: "same-origin",
          headers: Object.assign({ "X-Requested-With": "clinic" }, headers || {}),
        });
        if (response.status >= 500 && attempt < 6) throw new Error("server " + response.status);
        return response;
      } catch (error) {
        if (attempt >= 6) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
  }

  async function failure(response) {
    try {
      const body = await response.json();
      return Object.assign(new Error(body.message), { code: body.code });
    } catch (_) {
      return new Error("the server answered " + response.status);
    }
  }

  async function sendChunk(state, buffer, size, index) {
    // A chunk damaged on the way (CHUNK_CHECKSUM) is sliced, hashed and sent again.
    const start = index * state.chunk_size;
    const url = "/api/uploads/" + state.upload_id + "/chunks/" + index;
    for (let attempt = 0; ; attempt++) {
      const piece = buffer.slice(start, Math.min(size, start + state.chunk_size));
      const response = await call("PUT", url, piece, { "X-Chunk-SHA256": await sha256Hex(piece) });
      if (response.ok) return;
      const error = await failure(response);
      if (error.code !== "CHUNK_CHECKSUM" || attempt >= 2) throw error;
    }
  }

  async function upload(file) {
    const patient = new URLSearchParams(window.location.search).get("patient");
    const buffer = await file.arrayBuffer();
    const sha = await sha256Hex(buffer);
    const key = "clinic-upload:" + patient + ":" + sha;
    let state = null;
    const known = window.localStorage.getItem(key);
    if (known) {
      const response = await call("GET", "/api/uploads/" + known);
      if (response.ok) {
        state = await response.json();
        if (state.status !== "open") state = null;
      }
    }
    if (!state) {
      const response = await call(
        "POST",
        "/api/uploads",
        JSON.stringify({
          patient_id: patient,
          filename: file.name,
          content_type: file.type || "application/octet-stream",
          size: file.size,
          sha256: sha,
          chunk_size: CHUNK,
        }),
        { "Content-Type": "application/json" },
      );
      if (!response.ok) throw await failure(response);
      state = await response.json();
      window.localStorage.setItem(key, state.upload_id);
    }
    const have = new Set(state.received);
    const todo = [];
    for (let index = 0; index < state.chunks; index++) if (!have.has(index)) todo.push(index);
    let stopped = false; // after a failure the other sender stops; choosing the file resumes
    async function sender() {
      while (todo.length && !stopped) {
        const index = todo.shift();
        try {
          await sendChunk(state, buffer, file.size, index);
        } catch (error) {
          stopped = true;
          throw error;
        }
        if (stopped) return;
        have.add(index);
        const percent = Math.round((95 * have.size) / state.chunks);
        show(percent, "Uploading " + file.name + " — " + percent + "%", "busy");
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
    const done = await call("POST", "/api/uploads/" + state.upload_id + "/complete");
    if (!done.ok) {
      const error = await failure(done);
      // The chunks do not add up to this file: the next try starts a new upload.
      if (error.code === "UPLOAD_CHECKSUM") window.localStorage.removeItem(key);
      throw error;
    }
    window.localStorage.removeItem(key);
    show(100, file.name + " uploaded and verified", "done");
    const refresh = document.getElementById("upload-refresh");
    if (refresh) refresh.click();
  }

  document.addEventListener("change", function (event) {
    const input = event.target;
    if (!input || input.id !== "chart-upload-input") return;
    const files = Array.from(input.files || []);
    input.value = "";
    (async function () {
      for (const file of files) {
        try {
          show(0, "Preparing " + file.name + "…", "busy");
          await upload(file);
        } catch (error) {
          show(0, "Upload of " + file.name + " stopped: " + error.message +
            " Choose the file again to continue where it stopped.", "error");
        }
      }
    })();
  });
})();
