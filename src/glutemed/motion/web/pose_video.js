/* glutemed: pose estimation from a video, in the browser, on the device.
 *
 * Runs the BlazePose landmark model of the @mediapipe/pose package (served by the app itself,
 * never from a CDN) on every frame of a video the clinician picked, and returns the landmarks in
 * the MediaPipe JSON layout that glutemed.motion.read_mediapipe reads. The video is not
 * uploaded: only these landmarks are. The same file is driven headless by the command line
 * (`glutemed motion VIDEO.mp4`), so both give the same landmarks.
 *
 * window.GlutemedPose.estimate(source, options) -> Promise<document>
 *   source   a File/Blob or a URL of the video
 *   options  {video, canvas, onProgress(done, total), signal (AbortSignal), modelComplexity
 *             (0 lite, 1 full, 2 heavy), maxDurationS, assets (URL of the package folder)}
 * window.GlutemedPose.still(video, time_s, maxWidthPx) -> Promise<Blob> (JPEG of one frame)
 */
(function () {
  "use strict";

  var DEFAULT_ASSETS = "/static/pose/node_modules/@mediapipe/pose/";
  var FALLBACK_FPS = 30;
  var FRAME_WAIT_MS = 2000;
  var STANDARD_FPS = [23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60, 90, 100, 120, 240];

  function waitFor(el, event, what) {
    return new Promise(function (resolve, reject) {
      function done() { el.removeEventListener(event, done); el.removeEventListener("error", fail); resolve(); }
      function fail() {
        el.removeEventListener(event, done); el.removeEventListener("error", fail);
        reject(new Error("the browser cannot " + what + " this video (try an H.264 MP4 or WebM)"));
      }
      el.addEventListener(event, done);
      el.addEventListener("error", fail);
    });
  }

  function seek(video, t) {
    var p = waitFor(video, "seeked", "seek in");
    video.currentTime = t;
    return p;
  }

  /* Seek to a frame and wait until the browser presents it. The "seeked" event alone may come
   * before the new frame reaches the element, so that a busy machine hands the model the
   * previous frame (the browser page and the command line then disagreed by the person's
   * movement between two frames). The frame callback reports the presented frame's media
   * time; it may not come when the frame shown does not change, hence the time limit. */
  function seekFrame(video, t, halfFrameS) {
    if (typeof video.requestVideoFrameCallback !== "function") {
      return seek(video, t).then(function () { return null; });
    }
    return new Promise(function (resolve, reject) {
      var presented = null, seeked = false, timer = null, settled = false;
      function finish() {
        if (settled) { return; }
        settled = true;
        if (timer !== null) { clearTimeout(timer); }
        resolve(presented);
      }
      function onFrame(_now, meta) {
        if (settled) { return; }
        if (Math.abs(meta.mediaTime - t) <= halfFrameS + 1e-4) {
          presented = meta.mediaTime;
          if (seeked) { finish(); }
        } else {
          video.requestVideoFrameCallback(onFrame);  /* an earlier frame: wait for ours */
        }
      }
      video.requestVideoFrameCallback(onFrame);
      seek(video, t).then(function () {
        seeked = true;
        if (presented !== null) { finish(); } else { timer = setTimeout(finish, FRAME_WAIT_MS); }
      }, reject);
    });
  }

  /* Frame rate of the video: the browser does not report it, so play a few frames muted and
   * take the shortest step between the media times of the frames it presents. */
  function measureFrameRate(video) {
    if (typeof video.requestVideoFrameCallback !== "function") {
      return Promise.resolve({ fps: FALLBACK_FPS, measured: false });
    }
    return new Promise(function (resolve) {
      var times = [];
      var finished = false;
      function finish() {
        if (finished) { return; }
        finished = true;
        video.pause();
        var steps = [];
        for (var i = 1; i < times.length; i++) {
          if (times[i] > times[i - 1]) { steps.push(times[i] - times[i - 1]); }
        }
        steps.sort(function (a, b) { return a - b; });
        if (steps.length < 3) { resolve({ fps: FALLBACK_FPS, measured: false }); return; }
        /* the shortest step: a busy machine drops frames while playing, which only lengthens
         * steps (a median of them gave 30 Hz for a 60 Hz video under load) */
        var fps = 1 / steps[0];
        /* Presentation times are rounded to the microsecond: snap to the nearest standard rate
         * within 0.5 % (60 vs 59.94 differ by 16 us a frame, well above that rounding). */
        var best = null;
        STANDARD_FPS.forEach(function (s) {
          var off = Math.abs(fps - s) / s;
          if (off <= 0.005 && (best === null || off < Math.abs(fps - best) / best)) { best = s; }
        });
        resolve({ fps: best === null ? Math.round(fps * 1000) / 1000 : best, measured: true });
      }
      function onFrame(_now, meta) {
        times.push(meta.mediaTime);
        if (times.length >= 12) { finish(); } else { video.requestVideoFrameCallback(onFrame); }
      }
      video.muted = true;
      video.requestVideoFrameCallback(onFrame);
      setTimeout(finish, 3000);
      var played = video.play();
      if (played && played.catch) { played.catch(finish); }
    });
  }

  function drawSkeleton(canvas, video, landmarks) {
    if (!canvas) { return; }
    var w = video.videoWidth, h = video.videoHeight;
    if (canvas.width !== w) { canvas.width = w; }
    if (canvas.height !== h) { canvas.height = h; }
    var ctx = canvas.getContext("2d");
    ctx.drawImage(video, 0, 0, w, h);
    if (!landmarks) { return; }
    var lw = Math.max(2, Math.round(w / 320));
    ctx.lineWidth = lw;
    ctx.strokeStyle = "#00d0ff";
    (window.POSE_CONNECTIONS || []).forEach(function (pair) {
      var a = landmarks[pair[0]], b = landmarks[pair[1]];
      if (!a || !b || (a.visibility || 0) < 0.3 || (b.visibility || 0) < 0.3) { return; }
      ctx.beginPath(); ctx.moveTo(a.x * w, a.y * h); ctx.lineTo(b.x * w, b.y * h); ctx.stroke();
    });
    ctx.fillStyle = "#ffcc00";
    landmarks.forEach(function (p) {
      if ((p.visibility || 0) < 0.3) { return; }
      ctx.beginPath(); ctx.arc(p.x * w, p.y * h, lw * 1.5, 0, 2 * Math.PI); ctx.fill();
    });
  }

  function round(x, digits) { var f = Math.pow(10, digits); return Math.round(x * f) / f; }

  async function estimate(source, options) {
    options = options || {};
    var assets = options.assets || DEFAULT_ASSETS;
    var video = options.video || document.createElement("video");
    var url = typeof source === "string" ? source : URL.createObjectURL(source);
    var signal = options.signal;
    var started = performance.now();
    video.muted = true;
    video.playsInline = true;
    video.preload = "auto";
    var loaded = waitFor(video, "loadeddata", "open");
    video.src = url;
    await loaded;
    var rate = await measureFrameRate(video);
    var duration = video.duration;
    if (!isFinite(duration) || duration <= 0) { throw new Error("the video has no duration"); }
    var limit = options.maxDurationS || duration;
    var n = Math.max(1, Math.floor(Math.min(duration, limit) * rate.fps + 1e-6));

    var pose = new window.Pose({ locateFile: function (file) { return assets + file; } });
    var complexity = options.modelComplexity === undefined ? 1 : options.modelComplexity;
    pose.setOptions({
      modelComplexity: complexity,
      /* raw per-frame landmarks: the server corrects left/right label swaps and low-pass
       * filters them (MediaPipe's own smoothing blends a swapped frame into its neighbours,
       * which hides the swap and moves both hips towards the middle) */
      smoothLandmarks: false,
      enableSegmentation: false,
      minDetectionConfidence: 0.5,
      minTrackingConfidence: 0.5,
      selfieMode: false,
    });
    var last = null;
    pose.onResults(function (results) { last = results.poseLandmarks || null; });
    await pose.initialize();
    var modelReady = performance.now();

    var frames = [];
    try {
      for (var i = 0; i < n; i++) {
        if (signal && signal.aborted) {
          var err = new Error("cancelled"); err.name = "AbortError"; throw err;
        }
        var shown = await seekFrame(video, Math.min((i + 0.5) / rate.fps, duration - 1e-3),
                                    0.5 / rate.fps);
        last = null;
        await pose.send({ image: video }, round(i * 1000 / rate.fps, 3));
        var lms = last ? last.slice(0, 33).map(function (p) {
          return { x: round(p.x, 6), y: round(p.y, 6), z: round(p.z, 6),
                   visibility: round(p.visibility === undefined ? 1 : p.visibility, 4) };
        }) : [];
        /* presented_s: media time of the frame the model saw (null without frame callbacks) */
        frames.push({ timestamp_ms: round(i * 1000 / rate.fps, 3), landmarks: lms,
                      presented_s: shown === null ? null : round(shown, 6) });
        drawSkeleton(options.canvas, video, last);
        if (options.onProgress) { options.onProgress(i + 1, n); }
      }
    } finally {
      await pose.close();
    }
    var finishedAt = performance.now();
    return {
      fps: rate.fps,
      image_width: video.videoWidth,
      image_height: video.videoHeight,
      frames: frames,
      pose_model: {
        package: "@mediapipe/pose",
        version: window.Pose && window.Pose.VERSION ? window.Pose.VERSION : null,
        model: ["pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy"][complexity],
      },
      timing: {
        frame_rate_measured: rate.measured,
        model_load_s: round((modelReady - started) / 1000, 3),
        estimation_s: round((finishedAt - modelReady) / 1000, 3),
        frames_per_s: round(n / Math.max(1e-6, (finishedAt - modelReady) / 1000), 3),
      },
    };
  }

  /* One frame of the video as a JPEG, at most maxWidthPx wide (no drawing: the server draws the
   * pelvis and trunk lines from the landmarks it analysed). */
  async function still(video, timeS, maxWidthPx) {
    await seek(video, Math.max(0, Math.min(timeS, video.duration - 1e-3)));
    var scale = Math.min(1, (maxWidthPx || 960) / video.videoWidth);
    var c = document.createElement("canvas");
    c.width = Math.round(video.videoWidth * scale);
    c.height = Math.round(video.videoHeight * scale);
    c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
    return new Promise(function (resolve) { c.toBlob(resolve, "image/jpeg", 0.85); });
  }

  window.GlutemedPose = { estimate: estimate, still: still, drawSkeleton: drawSkeleton };
})();
