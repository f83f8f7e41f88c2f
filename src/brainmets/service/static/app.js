// brainmets patient page: NiiVue viewer (T1c + lesion overlay) with click-to-jump from the
// lesion table; falls back to the overlay PNG when WebGL2 or NiiVue is unavailable.
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

  function start() {
    if (!box) { return; }
    if (!hasWebGL2()) { fallback("no WebGL2"); return; }
    if (!window.niivue || !window.niivue.Niivue) { fallback("viewer script missing"); return; }
    try {
      var nv = new window.niivue.Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true });
      nv.attachTo("gl1").then(function () {
        return nv.loadVolumes([
          { url: box.dataset.volume },
          { url: box.dataset.labels, colormap: "red", opacity: 0.6, cal_min: 0.5, cal_max: 1 }
        ]);
      }).then(function () {
        nv.setSliceType(nv.sliceTypeMultiplanar);
        viewer = nv;
        box.dataset.state = "ready";
      }).catch(function (e) { fallback(String(e && e.message || e)); });
    } catch (e) { fallback(String(e && e.message || e)); }
  }

  function jump(row) {
    document.querySelectorAll(".lesion-row.selected").forEach(function (r) { r.classList.remove("selected"); });
    row.classList.add("selected");
    var c = row.dataset.centroid;
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

  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest(".lesion-row");
    if (row) { jump(row); }
  });
  document.addEventListener("keydown", function (ev) {
    var row = ev.target.closest && ev.target.closest(".lesion-row");
    if (row && ev.key === "Enter") { jump(row); }
  });
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
