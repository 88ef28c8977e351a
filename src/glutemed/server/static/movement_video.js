/* glutemed movement page: pose estimation on the device, then upload of the landmarks only. */
(function () {
  "use strict";
  var box = document.getElementById("video-movement");
  var form = document.getElementById("video-form");
  if (!box || !form || !window.GlutemedPose) { return; }
  var csrf = box.getAttribute("data-csrf");
  var uploadUrl = box.getAttribute("data-upload");
  var fileInput = document.getElementById("video-file");
  var video = document.getElementById("video");
  var canvas = document.getElementById("overlay");
  var progressBox = document.getElementById("progress-box");
  var progress = document.getElementById("progress");
  var status = document.getElementById("status");
  var errorBox = document.getElementById("error");
  var start = document.getElementById("start");
  var cancel = document.getElementById("cancel");
  var controller = null;

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function setBusy(busy) {
    start.disabled = busy;
    cancel.hidden = !busy;
    progressBox.hidden = !busy;
  }

  function pageText(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var main = doc.querySelector(".error, main, body");
    return main ? main.textContent.replace(/\s+/g, " ").trim().slice(0, 400) : "";
  }

  async function post(url, formData) {
    var res = await fetch(url, { method: "POST", body: formData, credentials: "same-origin",
                                 headers: { "X-CSRF-Token": csrf } });
    var text = await res.text();
    if (!res.ok) { throw new Error(pageText(text) || ("the server answered " + res.status)); }
    return { url: res.url, html: text };
  }

  cancel.addEventListener("click", function () { if (controller) { controller.abort(); } });

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var file = fileInput.files[0];
    if (!file) { return; }
    errorBox.hidden = true;
    controller = new AbortController();
    setBusy(true);
    canvas.hidden = false;
    progress.removeAttribute("value");
    status.textContent = "Loading the pose model…";
    try {
      var doc = await window.GlutemedPose.estimate(file, {
        video: video,
        canvas: canvas,
        signal: controller.signal,
        modelComplexity: Number(document.getElementById("model").value),
        onProgress: function (done, total) {
          progress.max = total;
          progress.value = done;
          status.textContent = "Finding the body landmarks: frame " + done + " of " + total;
        },
      });
      status.textContent = "Sending the landmarks (not the video) and analysing…";
      var found = doc.frames.filter(function (f) { return f.landmarks.length; }).length;
      if (!found) { throw new Error("no person was found in the video; film the whole body"); }
      var data = new FormData();
      data.append("csrf_token", csrf);
      data.append("task", document.getElementById("task").value);
      var stem = (file.name || "video").replace(/\.[^.]*$/, "");
      data.append("file", new Blob([JSON.stringify(doc)], { type: "application/json" }),
                  stem + ".landmarks.json");
      var result = await post(uploadUrl, data);
      if (document.getElementById("keep-still").checked) {
        var page = new DOMParser().parseFromString(result.html, "text/html");
        var peak = page.querySelector("[data-peak-time-s]");
        var stillUrl = page.querySelector("[data-still-upload]");
        if (peak && stillUrl) {
          status.textContent = "Sending the still picture…";
          var blob = await window.GlutemedPose.still(
            video, Number(peak.getAttribute("data-peak-time-s")), 960);
          var stillData = new FormData();
          stillData.append("csrf_token", csrf);
          stillData.append("image", blob, "still.jpg");
          await post(stillUrl.getAttribute("data-still-upload"), stillData);
        }
      }
      window.location.assign(result.url);
    } catch (err) {
      setBusy(false);
      if (err && err.name === "AbortError") {
        status.textContent = "Cancelled.";
        progressBox.hidden = false;
      } else {
        showError("The video could not be analysed: " + (err && err.message ? err.message : err));
      }
    }
  });
})();
