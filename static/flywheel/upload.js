/* Flywheel upload page: resumable chunked uploads with tus-js-client, then one commit.
 *
 * Files are uploaded to /uploads/ (tus 1.0.0). Each upload is remembered in localStorage under a
 * fingerprint (repository + path + size + modification time), so after a dropped connection or
 * a reload, choosing the same files again continues from the server's offset instead of restarting.
 *
 * Listed paths are relative to the target folder (#target-folder, prefilled with the folder whose
 * "+ Upload files" opened the page): a chosen or dropped folder's contents go into it, so a model
 * folder's card and config land where the user is, not under the folder's own name.
 */
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  if (!form || !window.tus) return;

  var cfg = form.dataset;
  var chunkSize = parseInt(cfg.chunkSize, 10) || 64 * 1024 * 1024;
  var parallel = Math.max(1, parseInt(cfg.parallel, 10) || 1);
  var partSize = parseInt(cfg.partSize, 10) || Infinity;
  var maxBytes = parseInt(cfg.maxBytes, 10) || Infinity;
  var csrfToken = form.querySelector("[name=csrfmiddlewaretoken]").value;
  var PARALLEL = 3;

  var dropzone = document.getElementById("dropzone");
  var fileInput = document.getElementById("file-input");
  var folderInput = document.getElementById("folder-input");
  var targetInput = document.getElementById("target-folder");
  var fileList = document.getElementById("file-list");
  var fileRows = document.getElementById("file-rows");
  var overallBar = document.getElementById("overall-progress");
  var overallText = document.getElementById("overall-text");
  var overallDetail = document.getElementById("overall-detail");
  var commitButton = document.getElementById("commit-button");
  var clearButton = document.getElementById("clear-button");
  var result = document.getElementById("upload-result");

  var items = [];
  var busy = false;
  var startedAt = 0;

  function formatBytes(n) {
    if (n < 1024) return n + " B";
    var units = ["KB", "MB", "GB", "TB"];
    var i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(n < 10 ? 1 : 0) + " " + units[i];
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function targetFolder() {
    return targetInput.value.split("/").map(function (part) { return part.trim(); }).filter(Boolean).join("/");
  }

  // Where a listed file goes in the repository: its path inside the target folder.
  function repoPath(item) {
    var folder = targetFolder();
    return folder ? folder + "/" + item.path : item.path;
  }

  // "checkpoint/nested/a.txt" -> "nested/a.txt": a folder's contents, not the folder itself.
  function withoutTopFolder(path) {
    return path.slice(path.indexOf("/") + 1);
  }

  function addFile(file, path) {
    path = path.replace(/^\/+/, "");
    var existing = items.filter(function (it) { return it.path === path; })[0];
    if (existing) {
      if (existing.state === "uploading") return;
      existing.row.remove();
      items.splice(items.indexOf(existing), 1);
    }
    var row = el("div", "upload-row");
    row.dataset.path = path;
    var name = el("span", "mono upload-path", path);
    name.title = path;
    var bar = el("progress", "file-progress");
    bar.max = 100;
    bar.value = 0;
    var size = el("span", "num", formatBytes(file.size));
    var status = el("span", "upload-status meta", "Ready");
    var remove = el("button", "upload-remove secondary outline", "×");
    remove.type = "button";
    remove.title = "Remove " + path + " from this commit";
    remove.setAttribute("aria-label", remove.title);
    row.append(name, bar, size, status, remove);
    fileRows.appendChild(row);
    var item = { file: file, path: path, row: row, bar: bar, status: status, sent: 0, resumedFrom: 0, state: "ready" };
    remove.addEventListener("click", function () {
      if (busy) return;
      row.remove();
      items.splice(items.indexOf(item), 1);
      refresh();
    });
    if (file.size > maxBytes) {
      item.state = "error";
      status.textContent = "Too large: the limit is " + formatBytes(maxBytes) + " per file.";
      row.classList.add("upload-error");
    }
    items.push(item);
    refresh();
  }

  function refresh() {
    fileList.hidden = items.length === 0;
    clearButton.hidden = items.length === 0 || busy;
    var pending = items.filter(function (it) { return it.state !== "committed"; });
    commitButton.disabled = busy || pending.length === 0 || pending.some(function (it) { return it.state === "error" && it.file.size > maxBytes; });
    var total = 0, sent = 0, fresh = 0;
    items.forEach(function (it) { total += it.file.size; sent += it.sent; fresh += it.sent - it.resumedFrom; });
    var percent = total ? Math.floor((sent / total) * 100) : (items.length && items.every(function (it) { return it.state === "done" || it.state === "committed"; }) ? 100 : 0);
    overallBar.value = percent;
    overallText.textContent = percent + "%";
    var detail = formatBytes(sent) + " of " + formatBytes(total);
    if (busy && startedAt) {
      var seconds = (Date.now() - startedAt) / 1000;
      if (seconds > 0.2) detail += " · " + formatBytes(Math.round(fresh / seconds)) + "/s";
    }
    overallDetail.textContent = items.length + " file" + (items.length === 1 ? "" : "s") + " · " + detail;
  }

  function setProgress(item, sent, total) {
    item.sent = sent;
    var percent = total ? Math.floor((sent / total) * 100) : 100;
    item.bar.value = percent;
    var text = percent + "%";
    if (item.state === "uploading" && item.started) {
      var seconds = (Date.now() - item.started) / 1000;
      if (seconds > 0.2) text += " · " + formatBytes(Math.round((sent - item.resumedFrom) / seconds)) + "/s";
    }
    item.status.textContent = text;
    refresh();
  }

  function errorMessage(err) {
    if (err && err.serverMessage) return err.serverMessage.slice(0, 300);
    var response = err && err.originalResponse;
    if (response) {
      var body = response.getBody();
      if (body) return body.slice(0, 300);
      return "The server answered " + response.getStatus() + ".";
    }
    return "The connection failed. Choose the same files again to resume.";
  }

  function fingerprint(item) {
    return ["flywheel", cfg.kind, cfg.repo, repoPath(item), item.file.size, item.file.lastModified].join(":");
  }

  // One tus upload of `source` (the file, or a slice of it for a part); `lane` tracks its progress.
  // Resolves with the finished tus.Upload; on failure, rejects and stops.
  function tusSend(item, source, lane, options) {
    var upload;
    var done = new Promise(function (resolve, reject) {
      upload = new tus.Upload(source, Object.assign({
        endpoint: cfg.endpoint,
        chunkSize: chunkSize,
        retryDelays: [0, 1000, 3000, 5000],
        headers: { "X-CSRFToken": csrfToken },
        onProgress: function (sent) {
          lane.sent = sent;
          var total = 0;
          item.lanes.forEach(function (l) { total += l.sent; });
          setProgress(item, total, item.file.size);
        },
        onBeforeRequest: function (request) {
          // The first PATCH starts where the server stands: bytes sent before this page count
          // towards progress but not towards speed.
          if (request.getMethod() === "PATCH" && lane.firstOffset === undefined) {
            lane.firstOffset = upload._offset || 0;
            item.resumedFrom = 0;
            item.lanes.forEach(function (l) { item.resumedFrom += l.firstOffset || 0; });
          }
        },
        onError: reject,
        onSuccess: function () { resolve(upload); },
      }, options));
    });
    lane.upload = upload;
    return done;
  }

  function uploadWhole(item) {
    var lane = { sent: 0 };
    item.lanes = [lane];
    var sending = tusSend(item, item.file, lane, {
      metadata: { path: repoPath(item), filename: item.file.name, repo: cfg.repo, kind: cfg.kind },
      fingerprint: function () { return Promise.resolve(fingerprint(item)); },
      // Kept until the commit succeeds: after a refused commit and a reload, choosing the same
      // files again finds the finished uploads and sends nothing twice.
      removeFingerprintOnSuccess: false,
    });
    var upload = lane.upload;
    item.forget = function () { upload._removeFromUrlStorage(); };
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        item.status.textContent = "Resuming…";
      }
      upload.start();
    });
    return sending.then(function () { return uploadIdOf(upload.url); });
  }

  function uploadIdOf(url) {
    return url.replace(/\/+$/, "").split("/").pop();
  }

  // A big file goes in parts, several at once over their own connections (one connection is
  // bound by the browser's own work per byte); the server hashes them in order as they complete.
  function partBounds(size) {
    if (parallel < 2 || size <= 2 * partSize) return [[0, size]];
    var bounds = [];
    for (var start = 0; start < size; start += partSize) bounds.push([start, Math.min(size, start + partSize)]);
    return bounds;
  }

  function encodeMetadata(values) {
    return Object.keys(values).map(function (key) {
      var binary = "";
      new TextEncoder().encode(values[key]).forEach(function (byte) { binary += String.fromCharCode(byte); });
      return key + " " + btoa(binary);
    }).join(",");
  }

  function tusRequest(method, url, headers) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: Object.assign({ "Tus-Resumable": "1.0.0", "X-CSRFToken": csrfToken }, headers || {}),
    });
  }

  // The upload the parts belong to: the one this page (or an earlier one) started for this file,
  // if the server still has it; else a new one.
  function parentUpload(item, saved) {
    var check = saved ? tusRequest("HEAD", saved.url).then(function (r) { return r.ok; }, function () { return false; })
      : Promise.resolve(false);
    return check.then(function (alive) {
      if (alive) {
        item.status.textContent = "Resuming…";
        return saved;
      }
      return tusRequest("POST", cfg.endpoint, {
        "Upload-Length": String(item.file.size),
        "Upload-Metadata": encodeMetadata({ path: repoPath(item), filename: item.file.name, repo: cfg.repo, kind: cfg.kind }),
      }).then(function (response) {
        if (response.status !== 201) {
          return response.text().then(function (text) {
            var refused = new Error("upload refused");
            refused.serverMessage = text || "The server answered " + response.status + ".";
            throw refused;
          });
        }
        return { url: response.headers.get("Location"), parts: [] };
      });
    });
  }

  // The parent upload and its parts' addresses are kept under the file's fingerprint, so choosing
  // the same file again after a reload sends only the parts (and bytes) the server lacks.
  function uploadInParts(item, bounds) {
    var key = fingerprint(item) + ":parts:" + partSize;
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(key)); } catch (e) { saved = null; }
    item.forget = function () { localStorage.removeItem(key); };
    return parentUpload(item, saved).then(function (plan) {
      plan.parts = plan.parts || [];
      plan.done = plan.done || [];
      var save = function () { localStorage.setItem(key, JSON.stringify(plan)); };
      save();
      var parentId = uploadIdOf(plan.url);
      item.lanes = bounds.map(function (bound, i) {
        var size = bound[1] - bound[0];
        return plan.done[i] ? { sent: size, firstOffset: size } : { sent: 0 };
      });
      item.resumedFrom = 0;
      item.lanes.forEach(function (lane) { item.resumedFrom += lane.firstOffset || 0; });
      var waiting = bounds.map(function (bound, i) { return i; }).filter(function (i) { return !plan.done[i]; });
      var failed = false;
      function sendNext() {
        var i = waiting.shift();
        if (i === undefined || failed) return Promise.resolve();
        var lane = item.lanes[i];
        var sending = tusSend(item, item.file.slice(bounds[i][0], bounds[i][1]), lane, {
          uploadUrl: plan.parts[i] || null,
          metadata: { parent: parentId, start: String(bounds[i][0]) },
          storeFingerprintForResuming: false,
          onUploadUrlAvailable: function () { plan.parts[i] = lane.upload.url; save(); },
        });
        lane.upload.start();
        return sending.then(function () {
          plan.done[i] = true;
          save();
          return sendNext();
        });
      }
      var connections = [];
      for (var n = 0; n < Math.min(parallel, waiting.length); n++) connections.push(sendNext());
      return Promise.all(connections).then(function () { return parentId; }, function (err) {
        failed = true;
        item.lanes.forEach(function (lane) { if (lane.upload) lane.upload.abort(); });
        throw err;
      });
    });
  }

  function uploadOne(item) {
    item.state = "uploading";
    item.row.classList.remove("upload-error");
    item.status.textContent = "Starting…";
    item.started = Date.now();
    var bounds = partBounds(item.file.size);
    var sending = bounds.length > 1 ? uploadInParts(item, bounds) : uploadWhole(item);
    return sending.then(function (uploadId) {
      item.uploadId = uploadId;
      item.state = "done";
      setProgress(item, item.file.size, item.file.size);
      item.status.textContent = item.resumedFrom ? "Uploaded · resumed at " + formatBytes(item.resumedFrom) : "Uploaded";
    }, function (err) {
      item.state = "error";
      item.row.classList.add("upload-error");
      item.status.textContent = errorMessage(err);
      refresh();
      throw err;
    });
  }

  function uploadAll(pending) {
    var queue = pending.slice();
    var failures = [];
    function worker() {
      var item = queue.shift();
      if (!item) return Promise.resolve();
      return uploadOne(item).catch(function (err) { failures.push(err); }).then(worker);
    }
    var workers = [];
    for (var i = 0; i < Math.min(PARALLEL, queue.length); i++) workers.push(worker());
    return Promise.all(workers).then(function () { return failures; });
  }

  function showResult(kind, nodes) {
    result.replaceChildren();
    var box = el("p", "flash flash-" + kind);
    nodes.forEach(function (node) { box.append(node); });
    result.appendChild(box);
  }

  function link(href, text) {
    var a = el("a", "", text);
    a.href = href;
    return a;
  }

  function commit(ready) {
    var data = new FormData(form);
    ready.forEach(function (it) { data.append("upload_id", it.uploadId); data.append("path", repoPath(it)); });
    return fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
    }).then(function (response) {
      return response.json().catch(function () { return { error: "The server answered " + response.status + "." }; })
        .then(function (body) { return { ok: response.ok, body: body }; });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var pending = items.filter(function (it) { return it.state !== "committed"; });
    if (!pending.length || busy) return;
    busy = true;
    targetInput.readOnly = true;
    startedAt = Date.now();
    result.replaceChildren();
    refresh();
    var toUpload = pending.filter(function (it) { return it.state !== "done"; });
    uploadAll(toUpload).then(function (failures) {
      if (failures.length) {
        showResult("error", ["Nothing was committed: " + failures.length + " file(s) did not finish uploading. Press Commit to retry, or choose the same files again after a reload to resume."]);
        return null;
      }
      showResult("info", ["All files uploaded. Committing…"]);
      return commit(pending).then(function (answer) {
        if (!answer.ok) {
          showResult("error", ["Nothing was committed: " + (answer.body.error || "unknown error")]);
          return;
        }
        pending.forEach(function (it) {
          it.state = "committed";
          if (it.forget) it.forget();
          it.row.querySelector(".upload-remove").hidden = true;
          it.status.textContent = it.resumedFrom ? "Committed · resumed at " + formatBytes(it.resumedFrom) : "Committed";
        });
        var oid = answer.body.commit.slice(0, 7);
        showResult("success", [
          "Committed " + answer.body.files + " file(s) as ",
          link(answer.body.commit_url, oid),
          ". ",
          link(answer.body.tree_url, "View the files →"),
        ]);
        result.querySelector(".flash").id = "commit-done";
      });
    }).catch(function () {
      showResult("error", ["Nothing was committed: the connection failed. Press Commit to retry."]);
    }).then(function () {
      busy = false;
      targetInput.readOnly = false;
      refresh();
    });
  });

  function addFromInput(input) {
    Array.prototype.forEach.call(input.files, function (file) {
      addFile(file, file.webkitRelativePath ? withoutTopFolder(file.webkitRelativePath) : file.name);
    });
    input.value = "";
  }
  fileInput.addEventListener("change", function () { addFromInput(fileInput); });
  folderInput.addEventListener("change", function () { addFromInput(folderInput); });
  clearButton.addEventListener("click", function () {
    items.forEach(function (it) { it.row.remove(); });
    items = [];
    result.replaceChildren();
    refresh();
  });

  // Drag and drop, folders included: walk FileSystemEntry trees.
  function readAllEntries(reader) {
    return new Promise(function (resolve, reject) {
      var all = [];
      (function next() {
        reader.readEntries(function (batch) {
          if (!batch.length) return resolve(all);
          all = all.concat(batch);
          next();
        }, reject);
      })();
    });
  }

  // List a file, or a folder's tree, under `prefix`; with contentsOnly a folder's own name is left out.
  function walk(entry, prefix, contentsOnly) {
    if (entry.isFile) {
      return new Promise(function (resolve) {
        entry.file(function (file) { addFile(file, prefix + entry.name); resolve(); }, function () { resolve(); });
      });
    }
    if (entry.isDirectory) {
      var inside = contentsOnly ? prefix : prefix + entry.name + "/";
      return readAllEntries(entry.createReader()).then(function (children) {
        return children.reduce(function (chain, child) {
          return chain.then(function () { return walk(child, inside, false); });
        }, Promise.resolve());
      });
    }
    return Promise.resolve();
  }

  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.add("dragover");
    });
  });
  dropzone.addEventListener("dragleave", function () { dropzone.classList.remove("dragover"); });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    dropzone.classList.remove("dragover");
    var transfer = event.dataTransfer;
    // Entries must be taken during the event: the DataTransfer is emptied once the handler returns.
    var entries = Array.prototype.map.call(transfer.items || [], function (it) {
      return it.kind === "file" && it.webkitGetAsEntry ? it.webkitGetAsEntry() : null;
    }).filter(Boolean);
    if (!entries.length) {
      Array.prototype.forEach.call(transfer.files, function (file) { addFile(file, file.name); });
      return;
    }
    // One folder dropped: its contents, as with "Choose a folder". Several things dropped at once
    // keep their names, so that two folders' files cannot overwrite each other.
    var contentsOnly = entries.length === 1 && entries[0].isDirectory;
    entries.reduce(function (chain, entry) {
      return chain.then(function () { return walk(entry, "", contentsOnly); });
    }, Promise.resolve());
  });

  refresh();
})();
