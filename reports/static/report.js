// splitbrain report: timeline, latency and throughput on canvases sharing one time window (zoom and pan).
// Contract: reads only the JSON block #sb-data; draws history values with fillText/textContent, never as HTML;
// makes no network request; sets window.__rendered once every plot has drawn (the benchmark waits for it).
(function () {
  "use strict";
  var el = document.getElementById("sb-data");
  if (!el) { window.__rendered = true; return; }
  var D = JSON.parse(el.textContent);
  var O = D.ops, S = D.str, N = O.s.length;
  var TYPE_COLORS = ["#3f9b4a", "#d64545", "#e8a200"];   // ok, fail, info
  var FAULT_COLORS = ["#7b52c7", "#c76b29", "#2a7fbf", "#b0358a", "#2f9e8f", "#6b6b6b"];
  var END = Math.max(D.end, 1);
  for (var i = 0; i < N; i++) { if (O.e[i] > END) END = O.e[i]; }
  var view = { x0: 0, x1: END };
  var faultKinds = [];
  D.faults.forEach(function (f) { if (faultKinds.indexOf(f.kind) < 0) faultKinds.push(f.kind); });
  function faultColor(kind) { return FAULT_COLORS[faultKinds.indexOf(kind) % FAULT_COLORS.length]; }
  function endOf(i) { return O.e[i] < 0 ? END : O.e[i]; }

  // Ops by lane (invoke order is time order, so each lane is sorted by start) and by type, for hover and drawing.
  var nLanes = D.lanes.length, byLane = [], byType = [[], [], []], hlKey = -1;
  for (i = 0; i < nLanes; i++) byLane.push([]);
  if (D.highlightKey !== null) hlKey = S.indexOf(D.highlightKey);
  for (i = 0; i < N; i++) { byLane[O.lane[i]].push(i); byType[O.t[i]].push(i); }

  var LEFT = 58, RIGHT = 12;
  function fmtTime(us) {
    var s = us / 1e6;
    if (Math.abs(view.x1 - view.x0) < 2e4) return (us / 1000).toFixed(2) + " ms";
    return s.toFixed(s < 10 ? 2 : 1) + " s";
  }
  function fmtDur(us) { return us < 1000 ? us + " µs" : us < 1e6 ? (us / 1000).toFixed(2) + " ms" : (us / 1e6).toFixed(3) + " s"; }

  function setup(canvas, height) {
    var dpr = window.devicePixelRatio || 1, w = canvas.parentElement.clientWidth || 900;
    canvas.width = Math.floor(w * dpr); canvas.height = Math.floor(height * dpr);
    canvas.style.width = w + "px"; canvas.style.height = height + "px";
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx: ctx, w: w, h: height };
  }
  function xOf(c, t) { return LEFT + (t - view.x0) / (view.x1 - view.x0) * (c.w - LEFT - RIGHT); }
  function tOf(c, x) { return view.x0 + (x - LEFT) / (c.w - LEFT - RIGHT) * (view.x1 - view.x0); }

  function niceStep(span, n) {
    var raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
  }
  function axis(c, top, bottom) {
    var ctx = c.ctx, step = niceStep(view.x1 - view.x0, Math.max(2, (c.w - LEFT) / 110));
    ctx.fillStyle = "#555"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    ctx.strokeStyle = "#e4e4e4"; ctx.lineWidth = 1;
    for (var t = Math.ceil(view.x0 / step) * step; t <= view.x1; t += step) {
      var x = Math.round(xOf(c, t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      ctx.fillText(fmtTime(t), x, bottom + 12);
    }
  }
  function faultBands(c, top, bottom) {
    var ctx = c.ctx;
    ctx.globalAlpha = 0.13;
    D.faults.forEach(function (f) {
      var e = f.e < 0 ? END : f.e, x0 = Math.max(LEFT, xOf(c, f.s)), x1 = Math.min(c.w - RIGHT, xOf(c, e));
      if (x1 < LEFT || x0 > c.w - RIGHT) return;
      ctx.fillStyle = faultColor(f.kind);
      ctx.fillRect(x0, top, Math.max(2, x1 - x0), bottom - top);
    });
    ctx.globalAlpha = 1;
  }
  function clip(c, top, bottom) {
    c.ctx.save(); c.ctx.beginPath(); c.ctx.rect(LEFT, top, c.w - LEFT - RIGHT, bottom - top); c.ctx.clip();
  }

  // ---------------------------------------------------------------------------------------------- timeline
  var tl = document.getElementById("sb-timeline"), tlGeom = null;
  function drawTimeline() {
    var laneH = Math.max(2, Math.min(16, Math.floor(480 / Math.max(1, nLanes))));
    var faultRowH = 14, faultTop = 18, lanesTop = faultTop + Math.max(1, faultKinds.length) * faultRowH + 8;
    var h = lanesTop + nLanes * laneH + 20;
    var c = setup(tl, h), ctx = c.ctx;
    tlGeom = { c: c, laneH: laneH, lanesTop: lanesTop, faultTop: faultTop, faultRowH: faultRowH };
    ctx.clearRect(0, 0, c.w, c.h);
    var bottom = lanesTop + nLanes * laneH;
    axis(c, faultTop, bottom);
    // lane labels and stripes
    ctx.font = "10px sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (var l = 0; l < nLanes; l++) {
      if (l % 2) { ctx.fillStyle = "#f6f6f6"; ctx.fillRect(LEFT, lanesTop + l * laneH, c.w - LEFT - RIGHT, laneH); }
      if (laneH >= 9 || l % Math.ceil(9 / laneH) === 0) { ctx.fillStyle = "#444"; ctx.fillText(D.lanes[l], LEFT - 4, lanesTop + l * laneH + laneH / 2); }
    }
    faultKinds.forEach(function (k, r) { ctx.fillStyle = faultColor(k); ctx.fillText(k, LEFT - 4, faultTop + r * faultRowH + faultRowH / 2); });
    clip(c, 0, h);
    faultBands(c, lanesTop, bottom);
    // faults as bars in their rows
    D.faults.forEach(function (f) {
      var r = faultKinds.indexOf(f.kind), e = f.e < 0 ? END : f.e;
      var x0 = xOf(c, f.s), x1 = Math.max(xOf(c, e), x0 + 3);
      ctx.fillStyle = faultColor(f.kind); ctx.globalAlpha = f.uncertain ? 0.45 : 0.85;
      ctx.fillRect(x0, faultTop + r * faultRowH + 2, x1 - x0, faultRowH - 4);
      ctx.globalAlpha = 1;
      // the steps a multi-step fault recorded, as ticks across its bar
      ctx.fillStyle = "#222";
      (f.steps || []).forEach(function (st) { ctx.fillRect(Math.round(xOf(c, st.t)), faultTop + r * faultRowH + 1, 1, faultRowH - 2); });
    });
    // ops, one colour at a time
    var x0v = view.x0, x1v = view.x1, pad = Math.max(1, laneH > 5 ? 1 : 0);
    for (var t = 0; t < 3; t++) {
      ctx.fillStyle = TYPE_COLORS[t];
      var ids = byType[t];
      for (var k = 0; k < ids.length; k++) {
        var i = ids[k], s = O.s[i], e = endOf(i);
        if (e < x0v || s > x1v) continue;
        var xa = xOf(c, s), xb = xOf(c, e), y = lanesTop + O.lane[i] * laneH;
        ctx.globalAlpha = O.e[i] < 0 ? 0.4 : 1;
        ctx.fillRect(xa, y + (laneH > 5 ? 1 : 0), Math.max(1, xb - xa - (xb - xa > 3 ? 1 : 0)), laneH - (laneH > 5 ? 2 : 0));
      }
    }
    ctx.globalAlpha = 1;
    // when zoomed in far enough, ops carry their text (f, value, result) inside the bar
    if (laneH >= 12) {
      ctx.font = "10px monospace"; ctx.textAlign = "left"; ctx.textBaseline = "middle"; ctx.fillStyle = "#fff";
      for (var q = 0; q < N; q++) {
        var qa = xOf(c, O.s[q]), qb = xOf(c, endOf(q));
        if (qb - qa < 40 || qb < LEFT || qa > c.w) continue;
        var txt = S[O.f[q]] + (S[O.val[q]] ? " " + S[O.val[q]] : "") + (O.res[q] && O.res[q] !== O.val[q] ? " \u2192 " + S[O.res[q]] : "");
        var fit = Math.floor((qb - Math.max(qa, LEFT) - 6) / 6);
        if (fit < 3) continue;
        ctx.fillText(txt.length > fit ? txt.slice(0, fit - 1) + "\u2026" : txt, Math.max(qa, LEFT) + 3,
          lanesTop + O.lane[q] * laneH + laneH / 2);
      }
    }
    // ops of the failing key get an outline once they are wide enough to see one
    if (hlKey >= 0) {
      ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5;
      for (var j = 0; j < N; j++) {
        if (O.key[j] !== hlKey) continue;
        var s2 = O.s[j], e2 = endOf(j);
        if (e2 < x0v || s2 > x1v) continue;
        var a = xOf(c, s2), b = xOf(c, e2);
        if (b - a >= 4 && laneH >= 6) ctx.strokeRect(a + 0.5, lanesTop + O.lane[j] * laneH + 1.5, b - a - 1.5, laneH - 3);
      }
    }
    // the failure window
    if (D.failure) {
      var fa = xOf(c, D.failure.s), fb = Math.max(xOf(c, D.failure.e), fa + 2);
      ctx.strokeStyle = "#b00020"; ctx.lineWidth = 2; ctx.setLineDash([5, 3]);
      ctx.strokeRect(fa - 2, lanesTop - 4, fb - fa + 4, bottom - lanesTop + 8);
      ctx.setLineDash([]);
      ctx.fillStyle = "#b00020"; ctx.font = "bold 11px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "bottom";
      ctx.fillText("failure", fa, lanesTop - 5);
    }
    // leader changes
    ctx.font = "10px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "top";
    D.leaders.forEach(function (ld) {
      var x = Math.round(xOf(c, ld.t)) + 0.5;
      if (x < LEFT || x > c.w - RIGHT) return;
      ctx.strokeStyle = "#222"; ctx.lineWidth = 1; ctx.setLineDash([2, 2]);
      ctx.beginPath(); ctx.moveTo(x, 2); ctx.lineTo(x, bottom); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = "#222"; ctx.fillText("\u2605 " + ld.node + (ld.term ? " t" + ld.term : ""), x + 2, 2);
    });
    ctx.restore();
  }

  function findOp(x, y) {
    var g = tlGeom; if (!g) return null;
    var lane = Math.floor((y - g.lanesTop) / g.laneH);
    if (lane < 0 || lane >= nLanes) return null;
    var t = tOf(g.c, x), tol = (view.x1 - view.x0) / (g.c.w - LEFT - RIGHT) * 3, ids = byLane[lane];
    var lo = 0, hi = ids.length - 1, best = -1;
    while (lo <= hi) { var mid = (lo + hi) >> 1; if (O.s[ids[mid]] <= t + tol) { best = mid; lo = mid + 1; } else hi = mid - 1; }
    for (var k = best; k >= 0 && k > best - 3; k--) { if (endOf(ids[k]) >= t - tol) return ids[k]; }
    return null;
  }
  function findFault(x, y) {
    var g = tlGeom; if (!g) return null;
    var r = Math.floor((y - g.faultTop) / g.faultRowH);
    if (r < 0 || r >= faultKinds.length) return null;
    var t = tOf(g.c, x), tol = (view.x1 - view.x0) / (g.c.w - LEFT - RIGHT) * 3;
    for (var k = 0; k < D.faults.length; k++) {
      var f = D.faults[k], e = f.e < 0 ? END : f.e;
      if (f.kind === faultKinds[r] && f.s - tol <= t && e + tol >= t) return f;
    }
    return null;
  }
  var tip = document.getElementById("sb-tip");
  function showTip(lines, ev) {
    tip.textContent = "";
    lines.forEach(function (ln) { var d = document.createElement("div"); d.textContent = ln; tip.appendChild(d); });
    tip.hidden = false;
    var x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    tip.style.left = Math.max(4, x) + "px"; tip.style.top = (ev.clientY + 14) + "px";
  }
  function opLines(i) {
    var ty = ["ok", "fail", "info"][O.t[i]], lines = [];
    lines.push(S[O.f[i]] + (S[O.val[i]] ? " " + S[O.val[i]] : "") + (S[O.res[i]] ? " \u2192 " + S[O.res[i]] : "") +
      "  [" + (O.e[i] < 0 ? "never completed" : ty) + "]");
    lines.push("process " + (O.p[i] >= 0 ? O.p[i] : "?") + (S[O.node[i]] ? ", node " + S[O.node[i]] : "") +
      (S[O.key[i]] ? ", key " + S[O.key[i]] : "") + ", history index " + O.i[i]);
    lines.push("from " + fmtTime(O.s[i]) + (O.e[i] < 0 ? "" : ", took " + fmtDur(O.e[i] - O.s[i])));
    if (S[O.err[i]]) lines.push("error: " + S[O.err[i]]);
    return lines;
  }

  // ---------------------------------------------------------------------------------------------- latency
  var lat = document.getElementById("sb-latency"), latGeom = null;
  function drawLatency() {
    var c = setup(lat, 260), ctx = c.ctx, top = 10, bottom = c.h - 22;
    latGeom = c;
    ctx.clearRect(0, 0, c.w, c.h);
    var lo = Infinity, hi = 0;
    for (var i = 0; i < N; i++) { if (O.e[i] >= 0) { var d = Math.max(1, O.e[i] - O.s[i]); if (d < lo) lo = d; if (d > hi) hi = d; } }
    if (hi === 0) { ctx.fillStyle = "#666"; ctx.fillText("no completed ops", LEFT + 10, 40); return; }
    var l0 = Math.floor(Math.log10(lo)), l1 = Math.max(l0 + 1, Math.ceil(Math.log10(hi)));
    function yOf(d) { return bottom - (Math.log10(Math.max(1, d)) - l0) / (l1 - l0) * (bottom - top); }
    axis(c, top, bottom);
    ctx.textAlign = "right"; ctx.textBaseline = "middle"; ctx.fillStyle = "#555"; ctx.strokeStyle = "#e4e4e4";
    for (var p = l0; p <= l1; p++) {
      var y = Math.round(yOf(Math.pow(10, p))) + 0.5;
      ctx.beginPath(); ctx.moveTo(LEFT, y); ctx.lineTo(c.w - RIGHT, y); ctx.stroke();
      ctx.fillText(fmtDur(Math.pow(10, p)), LEFT - 4, y);
    }
    clip(c, top, bottom);
    faultBands(c, top, bottom);
    for (var t = 0; t < 3; t++) {
      ctx.fillStyle = TYPE_COLORS[t];
      var ids = byType[t];
      for (var k = 0; k < ids.length; k++) {
        var j = ids[k]; if (O.e[j] < 0 || O.e[j] < view.x0 || O.s[j] > view.x1) continue;
        ctx.fillRect(xOf(c, O.s[j]) - 1.5, yOf(O.e[j] - O.s[j]) - 1.5, 3, 3);
      }
    }
    ctx.restore();
  }

  // ---------------------------------------------------------------------------------------------- throughput
  var thr = document.getElementById("sb-throughput");
  function drawThroughput() {
    var c = setup(thr, 200), ctx = c.ctx, top = 10, bottom = c.h - 22;
    ctx.clearRect(0, 0, c.w, c.h);
    // About 20 completions per bin, between 10 bins and one per 6 pixels: enough to see a dip, few enough to be smooth.
    var inView = 0;
    for (var q = 0; q < N; q++) { if (O.e[q] >= view.x0 && O.e[q] < view.x1) inView++; }
    var nb = Math.max(10, Math.min(Math.floor((c.w - LEFT - RIGHT) / 6), Math.floor(inView / 20)));
    var span = view.x1 - view.x0, bw = span / nb;
    var counts = [new Float64Array(nb), new Float64Array(nb), new Float64Array(nb)], max = 0;
    for (var i = 0; i < N; i++) {
      var e = O.e[i]; if (e < 0 || e < view.x0 || e >= view.x1) continue;
      counts[O.t[i]][Math.floor((e - view.x0) / bw)] += 1;
    }
    var perSec = 1e6 / bw;
    for (var t = 0; t < 3; t++) for (var b = 0; b < nb; b++) { counts[t][b] *= perSec; if (counts[t][b] > max) max = counts[t][b]; }
    max = max || 1;
    var ystep = niceStep(max, 4);
    axis(c, top, bottom);
    ctx.textAlign = "right"; ctx.textBaseline = "middle"; ctx.fillStyle = "#555"; ctx.strokeStyle = "#e4e4e4";
    var ymax = Math.ceil(max / ystep) * ystep;
    function yOf(v) { return bottom - v / ymax * (bottom - top); }
    for (var v = 0; v <= ymax + 1e-9; v += ystep) {
      var y = Math.round(yOf(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(LEFT, y); ctx.lineTo(c.w - RIGHT, y); ctx.stroke();
      ctx.fillText(v >= 1000 ? (v / 1000) + "k/s" : v + "/s", LEFT - 4, y);
    }
    clip(c, top, bottom);
    faultBands(c, top, bottom);
    ctx.lineWidth = 1.5;
    for (t = 0; t < 3; t++) {
      ctx.strokeStyle = TYPE_COLORS[t]; ctx.beginPath();
      for (b = 0; b < nb; b++) {
        var x = xOf(c, view.x0 + (b + 0.5) * bw), yy = yOf(counts[t][b]);
        if (b === 0) ctx.moveTo(x, yy); else ctx.lineTo(x, yy);
      }
      ctx.stroke();
    }
    ctx.restore();
  }

  // ---------------------------------------------------------------------------------------------- interaction
  var pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; drawAll(); });
  }
  function drawAll() {
    drawTimeline(); drawLatency(); drawThroughput();
    var r = document.getElementById("sb-range");
    if (r) r.textContent = fmtTime(view.x0) + " \u2013 " + fmtTime(view.x1);
  }
  function clampView() {
    var span = Math.max(view.x1 - view.x0, 10), total = END * 1.02;
    if (span > total) span = total;
    if (view.x0 < -END * 0.01) view.x0 = -END * 0.01;
    view.x1 = view.x0 + span;
    if (view.x1 > total) { view.x1 = total; view.x0 = total - span; }
  }
  function zoom(factor, atT) {
    view.x0 = atT - (atT - view.x0) * factor; view.x1 = atT + (view.x1 - atT) * factor;
    clampView(); redraw();
  }
  function reset() { view.x0 = 0; view.x1 = END; redraw(); }
  [tl, lat, thr].forEach(function (cv) {
    cv.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var c = { w: cv.clientWidth }, rect = cv.getBoundingClientRect();
      if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        var d = (ev.deltaX || ev.deltaY) / (c.w - LEFT - RIGHT) * (view.x1 - view.x0);
        view.x0 += d; view.x1 += d; clampView(); redraw();
      } else {
        zoom(ev.deltaY > 0 ? 1.25 : 0.8, tOf(c, ev.clientX - rect.left));
      }
    }, { passive: false });
    var drag = null;
    cv.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, x0: view.x0, x1: view.x1 }; cv.classList.add("dragging"); });
    window.addEventListener("mouseup", function () { drag = null; cv.classList.remove("dragging"); });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) return;
      var d = (drag.x - ev.clientX) / (cv.clientWidth - LEFT - RIGHT) * (drag.x1 - drag.x0);
      view.x0 = drag.x0 + d; view.x1 = drag.x1 + d; clampView(); redraw();
    });
    cv.addEventListener("dblclick", reset);
  });
  tl.addEventListener("mousemove", function (ev) {
    var rect = tl.getBoundingClientRect(), x = ev.clientX - rect.left, y = ev.clientY - rect.top, i = findOp(x, y);
    if (i !== null) { showTip(opLines(i), ev); return; }
    var f = findFault(x, y);
    if (f) {
      var lines = [f.kind + (f.uncertain ? " (not acknowledged: may not have happened)" : ""), f.value,
        "from " + fmtTime(f.s) + (f.e < 0 ? " to the end" : " to " + fmtTime(f.e)) + ", history index " + f.i];
      if (f.resolved) lines.push("hit: " + f.resolved);
      (f.steps || []).slice(0, 24).forEach(function (st) { lines.push(fmtTime(st.t) + "  " + st.step + (st.info ? " " + st.info : "")); });
      if ((f.steps || []).length > 24) lines.push("... " + (f.steps.length - 24) + " more steps (see the Faults table)");
      showTip(lines, ev);
      return;
    }
    tip.hidden = true;
  });
  tl.addEventListener("mouseleave", function () { tip.hidden = true; });
  function button(id, fn) { var b = document.getElementById(id); if (b) b.addEventListener("click", fn); }
  button("sb-zoom-in", function () { zoom(0.5, (view.x0 + view.x1) / 2); });
  button("sb-zoom-out", function () { zoom(2, (view.x0 + view.x1) / 2); });
  button("sb-reset", reset);
  button("sb-zoom-failure", function () {
    if (!D.failure) return;
    var span = Math.max(D.failure.e - D.failure.s, 1000), pad = span * 1.5;
    view.x0 = D.failure.s - pad; view.x1 = D.failure.e + pad; clampView(); redraw();
    tl.scrollIntoView({ block: "center" });
  });
  window.addEventListener("resize", redraw);
  drawAll();
  window.__renderedMs = performance.now();   // since navigation start: what the benchmark reports
  window.__rendered = true;
})();
