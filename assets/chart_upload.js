// Chart file uploads: chunked, resumable and verified (server side: clinic_app/api/uploads.py).
// The whole file's SHA-256 names the upload in localStorage, so choosing the same file again
// after a dropped connection, a reload or a crash continues with the chunks still missing.
(function () {
  if (window.__clinicChartUpload) return;
  window.__clinicChartUpload = true;
  const CHUNK = 4 * 1024 * 1024; // fewer round trips; the server accepts 64 KiB-8 MiB

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
      return new Error((await response.json()).message);
    } catch (_) {
      return new Error("the server answered " + response.status);
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
    for (let index = 0; index < state.chunks; index++) {
      if (have.has(index)) continue;
      const start = index * state.chunk_size;
      const piece = buffer.slice(start, Math.min(file.size, start + state.chunk_size));
      const response = await call(
        "PUT",
        "/api/uploads/" + state.upload_id + "/chunks/" + index,
        piece,
        { "X-Chunk-SHA256": await sha256Hex(piece) },
      );
      if (!response.ok) throw await failure(response);
      have.add(index);
      const percent = Math.round((95 * have.size) / state.chunks);
      show(percent, "Uploading " + file.name + " — " + percent + "%", "busy");
    }
    const done = await call("POST", "/api/uploads/" + state.upload_id + "/complete");
    if (!done.ok) throw await failure(done);
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
