// brainmets patient page: NiiVue viewer (T1c + lesion overlay, radiological convention) with
// jump-to-lesion from the review table; falls back to the overlay PNG when WebGL2 or NiiVue is
// unavailable. Review forms send the CONTRACT §5 REST calls (PATCH/POST /api/patients/{pid}/
// lesions) and reload; without JavaScript the same forms post to the page routes.
(function () {
  "use strict";
  var box = document.getElementById("viewer");
  var viewer = null;

  function fallback(reason) {
    var fb = document.getElementById("fallback");
    if (box) { box.hidden = true; box.dataset.state = "fallback"; }
    if (fb) {
      fb.hidden = false;
      var r = document.getElementById("fallback-reason");
      if (r && reason) { r.textContent = "Interactive viewer unavailable (" + reason + "); showing the overlay images."; }
    }
  }

  function hasWebGL2() {
    try { return !!document.createElement("canvas").getContext("webgl2"); } catch (e) { return false; }
  }

  function setSeed(mm) {
    var ids = ["seed-x", "seed-y", "seed-z"];
    for (var i = 0; i < 3; i++) {
      var el = document.getElementById(ids[i]);
      if (el && mm && mm.length > i) { el.value = (Math.round(mm[i] * 10) / 10).toString(); }
    }
  }

  function start() {
    if (!box) { return; }
    if (!hasWebGL2()) { fallback("no WebGL2"); return; }
    if (!window.niivue || !window.niivue.Niivue) { fallback("viewer script missing"); return; }
    try {
      var nv = new window.niivue.Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true,
                                          isRadiologicalConvention: true, isOrientationTextVisible: true });
      nv.onLocationChange = function (data) { if (data && data.mm) { setSeed(data.mm); } };
      nv.attachTo("gl1").then(function () {
        return nv.loadVolumes([
          { url: box.dataset.volume },
          { url: box.dataset.labels, colormap: "red", opacity: 0.6, cal_min: 0.5, cal_max: 1 }
        ]);
      }).then(function () {
        nv.setSliceType(nv.sliceTypeMultiplanar);
        if (nv.setRadiologicalConvention) { nv.setRadiologicalConvention(true); }
        viewer = nv;
        box.dataset.state = "ready";
      }).catch(function (e) { fallback(String(e && e.message || e)); });
    } catch (e) { fallback(String(e && e.message || e)); }
  }

  function jump(row) {
    document.querySelectorAll(".lesion-row.selected").forEach(function (r) {
      r.classList.remove("selected"); r.removeAttribute("aria-current");
    });
    row.classList.add("selected");
    row.setAttribute("aria-current", "true");
    var c = row.dataset.centroid;
    if (c) { setSeed(JSON.parse(c)); }
    if (viewer && c) {
      var mm = JSON.parse(c);
      viewer.scene.crosshairPos = viewer.mm2frac(mm);
      viewer.drawScene();
      if (viewer.createOnLocationChange) { viewer.createOnLocationChange(); }
      box.dataset.lesion = row.dataset.lesion;
    } else {
      var img = document.getElementById("overlay-img");
      if (img) { img.scrollIntoView({ block: "nearest" }); }
    }
  }

  function num(v) { var s = (v || "").trim(); return s === "" ? null : Number(s); }

  function submitReview(form, submitter) {
    var fd = new FormData(form);
    var body = {};
    if (form.dataset.method === "PATCH") {
      var status = submitter && submitter.name === "status" ? submitter.value : "";
      if (status) { body.status = status; }
      var d = num(fd.get("diameter_mm"));
      if (d !== null) { body.diameter_mm = d; }
    } else {
      body.centroid_mm = [num(fd.get("x")), num(fd.get("y")), num(fd.get("z"))];
      var dh = num(fd.get("diameter_mm"));
      if (dh !== null) { body.diameter_mm = dh; }
    }
    return fetch(form.dataset.api, {
      method: form.dataset.method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      if (r.ok) { window.location.reload(); return; }
      return r.json().then(function (j) {
        var msg = (j.errors && j.errors.join("; ")) || j.detail || ("error " + r.status);
        var url = window.location.pathname + "?review_error=" + encodeURIComponent(String(msg)) + "#review";
        window.location.assign(url);
      });
    });
  }

  // "Add by clicking the image": the next click on the viewer adds a lesion at that point
  // (POST /api/patients/{pid}/lesions with the clicked world position as the seed).
  var addMode = document.getElementById("add-mode");
  var canvas = document.getElementById("gl1");
  if (addMode && canvas) {
    addMode.hidden = false;
    addMode.addEventListener("click", function () {
      var on = addMode.getAttribute("aria-pressed") !== "true";
      addMode.setAttribute("aria-pressed", on ? "true" : "false");
      addMode.textContent = on ? "Click the image to add a lesion (on; press to cancel)" : "Add a lesion by clicking the image";
    });
    var sent = false;
    var armed = false;
    var onPress = function (ev) {
      armed = !!(ev.target && ev.target.closest && ev.target.closest("#viewer"));
    };
    var onRelease = function () {
      if (!armed || sent) { return; }
      armed = false;
      if (addMode.getAttribute("aria-pressed") !== "true" || !viewer) { return; }
      sent = true;
      window.setTimeout(function () {
        var mm = viewer.frac2mm(viewer.scene.crosshairPos);
        setSeed([mm[0], mm[1], mm[2]]);
        var form = document.getElementById("add-lesion");
        var d = document.getElementById("seed-d");
        if (d) { d.value = ""; }
        if (form) { submitReview(form, null); }
      }, 50);
    };
    ["pointerdown", "mousedown", "touchstart"].forEach(function (t) {
      document.addEventListener(t, onPress, true);
    });
    ["pointerup", "mouseup", "touchend"].forEach(function (t) {
      document.addEventListener(t, onRelease, true);
    });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button.jump");
    if (b) { var row = b.closest(".lesion-row"); if (row) { jump(row); } }
  });
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("review-form") || !window.fetch) { return; }
    ev.preventDefault();
    submitReview(form, ev.submitter);
  });
  var err = document.getElementById("review-error");
  if (err) { err.setAttribute("tabindex", "-1"); err.focus(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
