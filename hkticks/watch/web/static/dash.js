// hkticks dashboard: one WebSocket from the board, drawn as SVG. No other host is ever contacted.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const S = {
  rows: new Map(), alerts: [], alertIds: new Set(), fatal: null, header: null, options: { clamp: 3, colors: "west", size: "cap" },
  layout: null, tiles: new Map(), detail: null, detailCode: null, timeframe: "1D",
  view: "heatmap", sort: { key: "code", dir: 1 }, filter: "", lang: "en",
  connected: false, everConnected: false, reconnects: 0, messages: 0, lastUpdate: {},
  tileUpdated: {}, retry: 250, dirtyTiles: new Set(), boardDirty: true, ws: null,
};
window.hkdash = S; // read by the browser tests and by `hkticks bench --dash`

const $ = (id) => document.getElementById(id);
const el = (tag, attrs, text) => {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
};

// the terminal heatmap's colour steps and palette, sent by the server (one scale, two views)
function colourFor(r) {
  const pal = S.options.palette;
  if (!pal || r.step === null || r.step === undefined) return pal ? pal.unknown : [38, 41, 48];
  return pal.rgb[String(r.step)];
}
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
const fmtPct = (v) => (v === null || v === undefined ? "--" : (v > 0 ? "+" : "") + v.toFixed(2) + "%");
function fmtNum(v) {
  if (v === null || v === undefined) return "";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + "B";
  if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(1) + "K";
  return String(Math.round(v));
}
const fmtMoney = (v) => (v ? "HK$" + fmtNum(v) : "");
function hkTime(ms) {
  if (!ms) return "";
  const d = new Date(ms + 8 * 3600 * 1000);
  return d.toISOString().substring(11, 19);
}
const nameOf = (r) => (S.lang === "cn" ? r.cn || r.en : r.en || r.cn) || "";

// -- connection ----------------------------------------------------------------------

function connect() {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  S.ws = ws;
  ws.onopen = () => {
    S.connected = true;
    if (S.everConnected) S.reconnects += 1;
    S.everConnected = true;
    S.retry = 250;
    S.fatal = null;
    document.body.classList.remove("offline");
    banner(null);
    sendSize(true);
    if (S.detailCode) send({ type: "detail", code: S.detailCode, timeframe: S.timeframe });
  };
  ws.onmessage = (ev) => {
    S.messages += 1;
    handle(JSON.parse(ev.data));
  };
  ws.onclose = () => {
    S.connected = false;
    if (S.ws !== ws) return;
    document.body.classList.add("offline");
    if (S.fatal) banner(`hkticks stopped: ${S.fatal} — waiting for it to start again…`);
    else banner(S.everConnected ? "Connection to hkticks lost: reconnecting…" : "Cannot reach hkticks: retrying…");
    setTimeout(retry, S.retry);
    S.retry = Math.min(5000, S.retry * 2);
    renderHeader();
  };
}
async function retry() {
  // a restarted hkticks with --auth has a new session: go to its login form
  try {
    const resp = await fetch("/session", { credentials: "same-origin" });
    if (resp.status === 401) {
      location.replace("/");
      return;
    }
  } catch (e) {
    /* not up yet: try the socket anyway, it says so too */
  }
  connect();
}

function send(msg) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(msg));
}
function banner(text) {
  const b = $("banner");
  b.hidden = !text;
  b.textContent = text || "";
}

function handle(msg) {
  const now = performance.now();
  if (msg.type === "snapshot") {
    S.rows.clear();
    for (const r of msg.rows) S.rows.set(r.code, r);
    S.alerts = msg.alerts;
    S.alertIds = new Set(msg.alerts.map((a) => a.id));
    S.header = msg.header;
    S.options = msg.options;
    $("size").value = msg.options.size;
    const grouping = $("grouping");
    grouping.replaceChildren(...msg.options.groupings.map((g) => new Option(g, g)));
    grouping.value = msg.options.grouping;
    $("grouping-label").hidden = msg.options.groupings.length < 2;
    // the tiles keep their layout (a resynchronised page keeps its own)
    S.boardDirty = true;
    renderHeader();
    renderAlerts();
    renderLegend();
  } else if (msg.type === "diff") {
    S.header = msg.header;
    for (const r of msg.rows) {
      S.rows.set(r.code, r);
      S.lastUpdate[r.code] = now;
      S.dirtyTiles.add(r.code);
    }
    if (msg.rows.length) S.boardDirty = true;
    const fresh = msg.alerts.filter((a) => !S.alertIds.has(a.id)); // a snapshot may have them
    if (fresh.length) {
      for (const a of fresh) S.alertIds.add(a.id);
      S.alerts = fresh.slice().reverse().concat(S.alerts).slice(0, 200);
      for (const a of fresh) flash(a.symbol);
      renderAlerts(fresh);
    }
    renderHeader();
  } else if (msg.type === "layout") {
    S.layout = msg;
    buildHeatmap();
  } else if (msg.type === "detail") {
    if (msg.code === S.detailCode) {
      S.detail = msg;
      renderDetail();
    }
  } else if (msg.type === "fatal") {
    S.fatal = msg.message;
    banner("hkticks stopped: " + msg.message);
    renderHeader();
  }
  schedule();
}

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    paintTiles();
    if (S.view === "board" && S.boardDirty) renderBoard();
  });
}

// -- header --------------------------------------------------------------------------

function renderHeader() {
  const h = S.header;
  if (!h) return;
  const conns = $("conns");
  conns.replaceChildren();
  for (const c of h.conns) {
    const d = document.createElement("span");
    const health = S.fatal ? "red" : S.connected ? c.health : "amber";
    d.className = "dot " + health;
    d.dataset.health = health;
    d.title = `connection ${c.shard}: ${c.state}` + (c.reconnects ? `, ${c.reconnects} reconnects` : "");
    conns.append(d);
  }
  const badges = $("badges");
  badges.replaceChildren();
  if (h.demo) {
    const b = document.createElement("span");
    b.className = "badge demo";
    b.id = "demo-badge";
    b.textContent = "DEMO";
    b.title = "simulated prices, not market data";
    badges.append(b);
  }
  if (h.replay) {
    const b = document.createElement("span");
    b.className = "badge replay";
    b.id = "replay-badge";
    b.textContent = "REPLAY " + h.replay;
    badges.append(b);
  }
  $("rate").textContent = `${h.rate.toFixed(0)} ticks/s`;
  $("phase").textContent = h.phase;
  $("counts").textContent = `${h.trades.toLocaleString()} trades · ${h.traded}/${h.symbols} traded` + (h.dropped ? ` · ${h.dropped} dropped` : "");
  const note = h.notes.length ? h.notes[h.notes.length - 1] : "";
  $("notes").textContent = note;
  $("notes").title = note;
}

// -- heatmap -------------------------------------------------------------------------

function sendSize(force) {
  const wrap = $("heatmap-wrap");
  const w = Math.floor(wrap.clientWidth), h = Math.floor(wrap.clientHeight);
  if (!w || !h) return;
  if (!force && S.sentSize && S.sentSize[0] === w && S.sentSize[1] === h) return;
  S.sentSize = [w, h];
  send({ type: "size", w, h, size: $("size").value, grouping: $("grouping").value });
}

function buildHeatmap() {
  const svg = $("heatmap");
  const lay = S.layout;
  svg.replaceChildren();
  S.tiles.clear();
  if (!lay) return;
  svg.setAttribute("viewBox", `0 0 ${lay.width} ${lay.height}`);
  const defs = el("defs", {});
  svg.append(defs);
  for (const [group, x, y, w, h] of lay.headers) {
    const g = el("g", { class: "ghdr" });
    g.append(el("rect", { x, y, width: w, height: h }));
    if (w > 30 && h >= 10) g.append(el("text", { x: x + 4, y: y + h - 4, "font-size": Math.min(12, h - 4) }, fitText(group, w - 8, 12)));
    svg.append(g);
  }
  for (const [code, x, y, w, h] of lay.tiles) {
    const g = el("g", { class: "tile", "data-code": code });
    const rect = el("rect", { x, y, width: w, height: h });
    g.append(rect);
    // a tile's text never spills into its neighbours
    const clip = el("clipPath", { id: "clip-" + code });
    clip.append(el("rect", { x: x + 1, y: y + 1, width: Math.max(0, w - 2), height: Math.max(0, h - 2) }));
    defs.append(clip);
    const t = { g, rect, x, y, w, h, texts: [] };
    // the code only whole; then the name and change if they fit
    const fs = Math.max(9, Math.min(28, Math.floor(Math.min(h / 3.2, w / 5.2))));
    if (w >= code.length * fs * 0.64 + 4 && h >= fs * 1.25) { // the code whole, or nothing
      const lines = h >= fs * 3.6 ? 3 : h >= fs * 2.4 ? 2 : 1;
      const top = y + h / 2 - ((lines - 1) * fs * 1.15) / 2 + fs * 0.35;
      const mk = (i, cls, size) => {
        const e = el("text", { x: x + w / 2, y: top + i * fs * 1.15, "text-anchor": "middle", "font-size": size, class: cls, "clip-path": `url(#clip-${code})` });
        g.append(e);
        return e;
      };
      t.code = mk(0, "code", fs);
      if (lines === 3) t.name = mk(1, "sub", Math.max(9, fs * 0.7));
      if (lines >= 2) t.chg = mk(lines - 1, "sub", Math.max(9, fs * 0.8));
    }
    g.addEventListener("click", () => openDetail(code));
    g.addEventListener("mousemove", (ev) => tooltip(code, ev));
    g.addEventListener("mouseleave", () => ($("tooltip").hidden = true));
    svg.append(g);
    S.tiles.set(code, t);
  }
  let why = "";
  if ($("size").value === "cap" && lay.sized_by !== "cap") {
    why = lay.shares === "unavailable" || lay.shares === "none" ? " (market caps unavailable)" : " (market caps loading)";
  }
  const hidden = lay.hidden ? ` · ${lay.hidden} too small to show (widen the window)` : "";
  $("sized-by").textContent = (lay.sized_by === "cap" ? "area: market cap" : "area: day's turnover") + why + hidden;
  for (const code of S.tiles.keys()) S.dirtyTiles.add(code);
  paintTiles();
}

function fitText(text, width, size) {
  // SVG text has no ellipsis: cut to what fits (about 0.6 em a character)
  const max = Math.floor(width / (size * 0.6)) - 1;
  if (max <= 0) return "";
  return text.length <= max ? text : text.substring(0, Math.max(0, max - 1)) + "…";
}

function paintTiles() {
  if (!S.dirtyTiles.size) return;
  const now = performance.now();
  for (const code of S.dirtyTiles) {
    const t = S.tiles.get(code);
    const r = S.rows.get(code);
    if (!t || !r) continue;
    t.rect.setAttribute("fill", rgb(colourFor(r)));
    if (t.code) t.code.textContent = code;
    if (t.name) t.name.textContent = fitText(nameOf(r), t.w, Number(t.name.getAttribute("font-size")));
    if (t.chg) t.chg.textContent = fmtPct(r.chg);
    S.tileUpdated[code] = now;
  }
  S.dirtyTiles.clear();
  if (!S.firstPaint && S.tiles.size) S.firstPaint = now; // ms after the page was opened
}

function flash(code) {
  const t = S.tiles.get(code);
  if (!t) return;
  t.g.classList.add("flash");
  setTimeout(() => t.g.classList.remove("flash"), 1500);
}

function tooltip(code, ev) {
  const r = S.rows.get(code);
  const tip = $("tooltip");
  if (!r) return;
  tip.replaceChildren();
  const lines = [
    `${code}  ${r.en || ""}  ${r.cn || ""}`,
    `last ${r.px || "--"}   ${fmtPct(r.chg)}   prev ${r.prev ?? "--"}`,
    `day vol ${fmtNum(r.vol)}   day turnover ${fmtMoney(r.dayto)}   ${r.n} trades seen`,
    r.ts ? `last trade ${hkTime(r.ts)} HKT` : "no trade yet",
  ];
  for (const l of lines) {
    const d = document.createElement("div");
    d.textContent = l;
    tip.append(d);
  }
  tip.hidden = false;
  const w = tip.offsetWidth, h = tip.offsetHeight;
  tip.style.left = Math.max(0, Math.min(ev.clientX + 14, innerWidth - w - 8)) + "px";
  tip.style.top = Math.max(0, Math.min(ev.clientY + 14, innerHeight - h - 8)) + "px";
}

function renderLegend() {
  const leg = $("legend");
  leg.replaceChildren();
  const pal = S.options.palette;
  if (!pal) return;
  const lab = (t) => {
    const b = document.createElement("b");
    b.textContent = t;
    leg.append(b);
  };
  lab(`-${S.options.clamp}%`);
  for (let step = -pal.steps; step <= pal.steps; step++) {
    const i = document.createElement("i");
    i.style.background = rgb(pal.rgb[String(step)]);
    if (step === 0) {
      i.textContent = "0";
      i.className = "zero";
    }
    leg.append(i);
  }
  lab(`+${S.options.clamp}%`);
}

// -- the board table -----------------------------------------------------------------

function matches(r) {
  const f = S.filter.trim();
  if (!f) return true;
  if (/^\d{1,5}$/.test(f)) return r.code === f.padStart(5, "0"); // codes exact: 700 is 00700, not 04700
  const needle = f.toLowerCase();
  return (r.en || "").toLowerCase().includes(needle) || (r.cn || "").includes(f);
}

function sortValue(r, key) {
  if (key === "name") return nameOf(r);
  const v = r[key];
  return v === null || v === undefined ? -Infinity : v;
}

const RESORT_MS = 2000; // rows keep their place between re-sorts, so a moving row can be clicked
const trs = new Map();
let lastSort = 0, lastOrderKey = "";

function boardRow(r) {
  let tr = trs.get(r.code);
  if (!tr) {
    tr = document.createElement("tr");
    tr.dataset.code = r.code;
    for (let i = 0; i < 10; i++) tr.append(document.createElement("td"));
    trs.set(r.code, tr);
  }
  const cls = r.chg > 0 ? "up" : r.chg < 0 ? "down" : "";
  const cells = [
    [r.code, ""], [nameOf(r), ""], [r.px || "", "num " + cls], [fmtPct(r.chg), "num " + cls],
    [fmtNum(r.vol), "num"], [fmtMoney(r.dayto), "num"], [String(r.n), "num"],
    [r.bidpx ?? "", "num"], [r.askpx ?? "", "num"], [hkTime(r.ts), ""],
  ];
  cells.forEach(([text, c], i) => {
    const td = tr.children[i];
    if (td.textContent !== String(text)) td.textContent = text;
    if (td.className !== c) td.className = c;
  });
  return tr;
}

function renderBoard(force) {
  S.boardDirty = false;
  const { key, dir } = S.sort;
  const orderKey = `${key}/${dir}/${S.filter}/${S.lang}`;
  const now = performance.now();
  const body = document.querySelector("#board tbody");
  if (force || orderKey !== lastOrderKey || now - lastSort >= RESORT_MS) {
    lastSort = now;
    lastOrderKey = orderKey;
    const rows = [...S.rows.values()].filter(matches);
    rows.sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      if (x < y) return -dir;
      if (x > y) return dir;
      return a.code < b.code ? -1 : 1;
    });
    const want = rows.map(boardRow);
    const have = [...body.children];
    if (want.length !== have.length || want.some((tr, i) => tr !== have[i])) body.replaceChildren(...want);
    $("shown").textContent = `${rows.length} of ${S.rows.size}`;
  } else {
    for (const tr of body.children) boardRow(S.rows.get(tr.dataset.code));
  }
  for (const th of document.querySelectorAll("#board th")) {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("asc", th.dataset.key === key && dir > 0);
  }
}

// -- alerts --------------------------------------------------------------------------

function alertItem(a) {
  const li = document.createElement("li");
  li.dataset.symbol = a.symbol;
  const t = document.createElement("time");
  t.textContent = hkTime(a.ts);
  const k = document.createElement("span");
  k.className = "kind";
  k.textContent = a.kind;
  const m = document.createElement("span");
  m.textContent = a.text;
  li.append(t, k, m);
  li.addEventListener("click", () => openDetail(a.symbol));
  return li;
}

function renderAlerts(fresh) {
  const list = $("alert-list");
  if (fresh && fresh.length && list.children.length) {
    // new alerts go on top; the ones shown keep their elements
    const frag = document.createDocumentFragment();
    for (const a of fresh.slice().reverse()) frag.append(alertItem(a));
    list.prepend(frag);
    while (list.children.length > 200) list.lastChild.remove();
  } else {
    list.replaceChildren(...S.alerts.map(alertItem));
  }
  $("alert-count").textContent = S.alerts.length ? `(${S.alerts.length})` : "";
}

// -- detail --------------------------------------------------------------------------

function openDetail(code) {
  S.detailCode = code;
  S.detail = null;
  $("detail").hidden = false;
  const r = S.rows.get(code);
  $("detail-title").textContent = r ? `${code}  ${r.en || ""} ${r.cn || ""}` : code;
  renderTimeframes();
  $("chart").replaceChildren();
  send({ type: "detail", code, timeframe: S.timeframe });
}
function closeDetail() {
  S.detailCode = null;
  S.detail = null;
  $("detail").hidden = true;
  send({ type: "close_detail" });
}
function renderTimeframes() {
  const box = $("timeframes");
  box.replaceChildren();
  for (const [tf, label] of Object.entries(S.options.timeframes || { "1D": "today" })) {
    const b = document.createElement("button");
    b.textContent = tf;
    b.title = label;
    b.dataset.tf = tf;
    b.className = tf === S.timeframe ? "active" : "";
    b.addEventListener("click", () => {
      S.timeframe = tf;
      renderTimeframes();
      if (S.detailCode) send({ type: "detail", code: S.detailCode, timeframe: tf });
    });
    box.append(b);
  }
}

function renderDetail() {
  const d = S.detail;
  $("detail-title").textContent = `${d.code}  ${d.name || ""} ${d.name_cn || ""}   ${d.px || "--"}  ${fmtPct(d.chg)}`;
  $("detail-demo").hidden = !d.demo;
  drawChart(d);
  drawLadder(d);
  drawTape(d);
}

const SESSION = [[9 * 60 + 30, 12 * 60], [13 * 60, 16 * 60 + 10]]; // HKT minutes; lunch compressed
function sessionX(ms) {
  const m = Math.floor(((ms / 60000) + 8 * 60) % 1440);
  let x = 0;
  for (const [a, b] of SESSION) {
    if (m < a) return x;
    if (m < b) return x + (m - a);
    x += b - a;
  }
  return x;
}
const SESSION_LEN = SESSION.reduce((s, [a, b]) => s + b - a, 0);

function drawChart(d) {
  const svg = $("chart");
  const W = Math.max(200, svg.clientWidth), H = Math.max(160, svg.clientHeight);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const bars = d.bars;
  const pad = { l: 8, r: 64, t: 10, b: 22 };
  const priceH = (H - pad.t - pad.b) * 0.74, volTop = pad.t + priceH + 8, volH = H - pad.b - volTop;
  if (!bars.length) {
    const why = d.history === "loading" ? "loading bars…" : d.history === "unavailable" ? "no bars for this timeframe" : "no trades yet";
    svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, why));
    return;
  }
  let lo = Infinity, hi = -Infinity, vmax = 0;
  for (const b of bars) { lo = Math.min(lo, b[3]); hi = Math.max(hi, b[2]); vmax = Math.max(vmax, b[5]); }
  if (d.prev_close) { lo = Math.min(lo, d.prev_close); hi = Math.max(hi, d.prev_close); }
  if (hi === lo) { hi += 0.01; lo -= 0.01; }
  const plotW = W - pad.l - pad.r;
  // today's minutes on the whole session axis (lunch compressed); a simulated market trading
  // outside HK hours has no such axis: its minutes are drawn one after another
  const inSession = bars.filter((b) => { const m = Math.floor((b[0] / 60000 + 480) % 1440); return SESSION.some(([a, e]) => m >= a && m < e); }).length;
  const intraday = d.timeframe === "1D" && inSession * 2 >= bars.length;
  const n = intraday ? SESSION_LEN : Math.max(bars.length, d.timeframe === "1D" ? 120 : 1);
  const bw = Math.max(1, plotW / n - 1);
  const xOf = (b, i) => pad.l + (intraday ? sessionX(b[0]) : i) * (plotW / n);
  const yOf = (p) => pad.t + (hi - p) / (hi - lo) * priceH;
  const prevY = d.prev_close ? yOf(d.prev_close) : null;
  for (let k = 0; k <= 4; k++) {
    const p = lo + (hi - lo) * k / 4, y = yOf(p);
    svg.append(el("line", { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: "grid" }));
    if (prevY === null || Math.abs(prevY - y) > 26) // the previous close's label wins
      svg.append(el("text", { x: W - pad.r + 4, y: y + 4, class: "axis" }, p.toFixed(p < 10 ? 3 : 2)));
  }
  if (d.prev_close) {
    const y = yOf(d.prev_close);
    svg.append(el("line", { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: "prev" }));
    svg.append(el("text", { x: W - pad.r + 4, y: y - 3, class: "axis" }, d.prev_close.toFixed(d.prev_close < 10 ? 3 : 2)));
    svg.append(el("text", { x: W - pad.r + 4, y: y + 11, class: "axis" }, "prev close"));
  }
  const g = el("g", { class: "candles" });
  let cumV = 0, cumT = 0;
  const vw = [];
  bars.forEach((b, i) => {
    const [_ts, o, h, l, c, v] = b;
    const x = xOf(b, i), up = c >= o;
    const cls = up ? "up" : "down";
    g.append(el("line", { x1: x + bw / 2, x2: x + bw / 2, y1: yOf(h), y2: yOf(l), class: "wick " + cls }));
    const y0 = yOf(Math.max(o, c)), y1 = yOf(Math.min(o, c));
    g.append(el("rect", { x, y: y0, width: bw, height: Math.max(1, y1 - y0), class: "body " + cls }));
    const vh = vmax ? (v / vmax) * volH : 0;
    g.append(el("rect", { x, y: volTop + volH - vh, width: bw, height: vh, class: "volbar" }));
    cumV += v; cumT += v * (h + l + c) / 3;
    if (cumV) vw.push(`${x + bw / 2},${yOf(cumT / cumV)}`);
  });
  svg.append(g);
  if (vw.length > 1) svg.append(el("polyline", { points: vw.join(" "), class: "vwap" }));
  const label = intraday ? [["09:30", 0], ["12:00/13:00", 150], ["16:10", SESSION_LEN]] : [];
  for (const [t, m] of label) {
    svg.append(el("text", { x: pad.l + m * (plotW / n), y: H - 6, "text-anchor": m ? (m === SESSION_LEN ? "end" : "middle") : "start", class: "axis" }, t));
  }
  if (!intraday && bars.length) {
    const day = (ms) => new Date(ms + 8 * 3600e3).toISOString().substring(d.timeframe === "1D" ? 11 : 0, d.timeframe === "1D" ? 16 : 10);
    svg.append(el("text", { x: pad.l, y: H - 6, class: "axis" }, day(bars[0][0])));
    svg.append(el("text", { x: W - pad.r, y: H - 6, "text-anchor": "end", class: "axis" }, day(bars[bars.length - 1][0])));
  }
  if (d.vwap) svg.append(el("text", { x: pad.l + 4, y: pad.t + 12, class: "axis" }, `VWAP ${d.vwap.toFixed(3)}`));
}

function drawLadder(d) {
  const t = $("ladder");
  t.replaceChildren();
  if (!d.book) return;
  const head = document.createElement("tr");
  for (const h of ["Bid vol", "Bid", "Ask", "Ask vol"]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  t.append(head);
  const n = Math.max(d.book.bids.length, d.book.asks.length);
  for (let i = 0; i < n; i++) {
    const tr = document.createElement("tr");
    const b = d.book.bids[i] || ["", ""], a = d.book.asks[i] || ["", ""];
    for (const [v, c] of [[fmtNum(b[1]), "num"], [b[0], "num up"], [a[0], "num down"], [fmtNum(a[1]), "num"]]) {
      const td = document.createElement("td");
      td.textContent = v;
      td.className = c;
      tr.append(td);
    }
    t.append(tr);
  }
}

function drawTape(d) {
  const t = $("tape");
  t.replaceChildren();
  for (const [ts, price, vol, side] of d.trades) {
    const tr = document.createElement("tr");
    const cls = side === "buy" ? "up" : side === "sell" ? "down" : "";
    for (const [v, c] of [[hkTime(ts), ""], [price || "", "num " + cls], [fmtNum(vol), "num"]]) {
      const td = document.createElement("td");
      td.textContent = v;
      td.className = c;
      tr.append(td);
    }
    t.append(tr);
  }
}

// -- wiring --------------------------------------------------------------------------

function setView(view) {
  S.view = view;
  $("view-heatmap").hidden = view !== "heatmap";
  $("view-board").hidden = view !== "board";
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.view === view);
  if (view === "board") renderBoard(true);
  else sendSize(true);
}

for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => setView(b.dataset.view));
for (const th of document.querySelectorAll("#board th")) {
  th.addEventListener("click", () => {
    const key = th.dataset.key;
    S.sort = { key, dir: S.sort.key === key ? -S.sort.dir : key === "code" || key === "name" ? 1 : -1 };
    renderBoard(true);
  });
}
$("board").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr[data-code]");
  if (tr) openDetail(tr.dataset.code);
});
$("filter").addEventListener("input", (ev) => {
  S.filter = ev.target.value;
  renderBoard(true);
});
$("lang").addEventListener("change", (ev) => {
  S.lang = ev.target.value;
  S.boardDirty = true;
  for (const code of S.tiles.keys()) S.dirtyTiles.add(code);
  schedule();
  if (S.view === "board") renderBoard(true);
});
$("size").addEventListener("change", () => sendSize(true));
$("grouping").addEventListener("change", () => sendSize(true));
$("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && S.detailCode) closeDetail();
});
let resizeTimer = 0;
addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => sendSize(false), 150);
});
connect();
