// The reviewer queue: keyboard-first decisions, honest time on task, inert rendering.
//
// Agent output is untrusted: everything from the server is put on the page with textContent
// or as attribute-free elements, never innerHTML. Config arrives as data- attributes (CSP
// forbids inline script).
(function () {
  "use strict";

  var root = document.getElementById("queue-app");
  if (!root) return;

  function num(v, fallback) { var n = Number(v); return isFinite(n) && n > 0 ? n : fallback; }
  var cfg = {
    idleMs: num(root.dataset.idleSeconds, 60) * 1000,
    nudgeMinutes: num(root.dataset.breakNudgeMinutes, 25),
    gapMs: num(root.dataset.sessionGapMinutes, 15) * 60000,
    leaseMs: num(root.dataset.leaseSeconds, 120) * 1000,
    pollMs: num(root.dataset.pollMs, 5000),
    pollMaxMs: num(root.dataset.pollMaxMs, 60000)
  };
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  function $(id) { return document.getElementById(id); }
  var noteEl = $("note");
  var reasonButtons = Array.prototype.slice.call(document.querySelectorAll("#reject-panel .reason"));
  var reasonLabels = {};
  reasonButtons.forEach(function (b) { reasonLabels[b.dataset.reason] = b.textContent.replace(/^\s*\d\s*/, "").trim(); });

  var state = {
    item: null,
    mode: "idle",          // idle | reject | confirm-approve
    reason: null,
    busy: false,
    pendingNext: undefined, // the next item, held back while the reveal panel is open
    serverOffset: 0,        // server clock minus this clock, for countdowns
    session: null,
    sessionAt: 0,
    nudgeSnoozedUntil: 0,
    pollDelay: cfg.pollMs,
    pollTimer: null
  };

  // ---- Active time (VIGILANCE.md §4): visible tab and input within the idle window ----------
  function clock() { return performance.now(); }
  var lastInput = clock(), lastTick = clock(), activeMs = 0;

  function tick() {
    var now = clock();
    if (document.visibilityState === "visible") {
      var end = Math.min(now, lastInput + cfg.idleMs);
      if (end > lastTick) activeMs += end - lastTick;
    }
    lastTick = now;
  }
  function onInput() { tick(); lastInput = clock(); }
  ["keydown", "mousemove", "mousedown", "wheel", "scroll", "touchstart", "click"].forEach(function (name) {
    window.addEventListener(name, onInput, { passive: true, capture: true });
  });
  function resetActive() { tick(); activeMs = 0; }
  function itemActiveMs() { tick(); return Math.round(activeMs); }
  function recentlyActive(windowMs) { return clock() - lastInput < windowMs; }

  // ---- Server calls ----------------------------------------------------------------------------
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      if (res.status === 401) { window.location.assign("/login?next=/queue"); }
      return res.json().catch(function () { return null; }).then(function (data) {
        return { ok: res.ok, status: res.status, data: data };
      });
    });
  }
  function errorText(r) {
    return r.data && r.data.error && r.data.error.message ? r.data.error.message : "the server said " + r.status;
  }
  function itemUrl(id, action) { return "/queue/items/" + encodeURIComponent(id) + "/" + action; }

  function absorb(data) {
    if (!data) return;
    if (data.server_time) state.serverOffset = Date.parse(data.server_time) - Date.now();
    if (data.session) { state.session = data.session; state.sessionAt = clock(); }
    if (data.queue) renderQueue(data.queue);
    renderSession();
  }
  function renderQueue(q) {
    // The server counts up to count_cap: "1000+" means at least that many.
    var count = function (n) { return q.count_cap && n >= q.count_cap ? n + "+" : String(n); };
    $("queue-waiting").textContent = count(q.waiting);
    $("queue-due").textContent = count(q.approvals_due_soon);
    $("queue-due-noun").textContent = q.approvals_due_soon === 1 ? "approval" : "approvals";
    $("queue-due-wrap").classList.toggle("due-soon", q.approvals_due_soon > 0);
  }
  // Queue depth and approvals due soon, refreshed while the tab is visible.
  setInterval(function () {
    if (document.visibilityState !== "visible") return;
    fetch("/queue/status", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(absorb)
      .catch(function () { /* the next refresh retries */ });
  }, 20000);

  // ---- Showing items ---------------------------------------------------------------------------
  function setState(name) { root.dataset.state = name; }

  function loadNext() {
    stopPolling();
    return post("/queue/next").then(function (r) {
      if (!r.ok) { say("Could not load the next item (" + errorText(r) + "). Retrying shortly.", "warn"); schedulePoll(); return; }
      absorb(r.data);
      advance(r.data.item);
    }).catch(function () { say("Network problem; retrying shortly.", "warn"); schedulePoll(); });
  }

  function advance(item) {
    if (item) showItem(item); else showEmpty();
  }

  function showItem(item) {
    stopPolling();
    state.pollDelay = cfg.pollMs;
    state.item = item;
    state.mode = "idle";
    state.reason = null;
    noteEl.value = "";
    if (document.activeElement === noteEl) noteEl.blur();
    renderReasons();
    hint(null);
    say("");  // a message about the previous item never stays on this one
    $("reveal").hidden = true;
    renderItem(item);
    $("loading").hidden = true;
    $("empty").hidden = true;
    $("item").hidden = false;
    setButtons(true);
    setState("item");
    resetActive();
    window.scrollTo(0, 0);
  }

  function showEmpty() {
    state.item = null;
    state.mode = "idle";
    state.reason = null;
    renderReasons();
    hint(null);
    say("");
    $("reveal").hidden = true;
    $("loading").hidden = true;
    $("item").hidden = true;
    $("empty").hidden = false;
    setButtons(false);
    setState("empty");
    schedulePoll();
  }

  // Empty queue: poll for new work, backing off to pollMaxMs, and not while the tab is hidden.
  function schedulePoll() {
    stopPolling();
    var delay = state.pollDelay;
    state.pollDelay = Math.min(Math.round(state.pollDelay * 1.5), cfg.pollMaxMs);
    $("empty-poll").textContent = "Checking again in " + Math.round(delay / 1000) + " s.";
    state.pollTimer = setTimeout(function () {
      state.pollTimer = null;
      if (document.visibilityState === "visible") loadNext();
    }, delay);
  }
  function stopPolling() { if (state.pollTimer) { clearTimeout(state.pollTimer); state.pollTimer = null; } }
  document.addEventListener("visibilitychange", function () {
    tick();
    if (document.visibilityState === "visible" && !state.item && !state.pollTimer && root.dataset.state === "empty") {
      state.pollDelay = cfg.pollMs;
      loadNext();
    }
  });

  function setButtons(on) {
    ["btn-approve", "btn-reject", "btn-skip"].forEach(function (id) { $(id).disabled = !on || state.busy; });
  }

  // ---- Rendering untrusted payloads (text via textContent only) ----------------------------------
  // Invisible and direction-changing characters are shown as visible markers, so hidden text
  // (bidi spoofing, zero-width or tag-character smuggling) cannot fool the reviewer.
  var HIDDEN = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]|\uDB40[\uDC00-\uDC7F]/g;
  function visible(text) {
    return String(text).replace(HIDDEN, function (ch) {
      var cp = ch.codePointAt(0).toString(16).toUpperCase();
      return "\u27E6U+" + ("0000" + cp).slice(-Math.max(4, cp.length)) + "\u27E7";
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = visible(text);
    return e;
  }
  function isPlainObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function parsedJson(text) {
    var t = text.trim();
    if (!((t[0] === "{" && t[t.length - 1] === "}") || (t[0] === "[" && t[t.length - 1] === "]"))) return undefined;
    try { var v = JSON.parse(t); return v !== null && typeof v === "object" ? v : undefined; } catch (e) { return undefined; }
  }
  function jsonBlock(value) { return el("pre", "json", JSON.stringify(value, null, 2)); }
  function valueNode(v) {
    if (v === null || v === undefined) return el("span", "mono muted", "null");
    if (typeof v === "string") {
      var parsed = parsedJson(v);
      return parsed !== undefined ? valueNode(parsed) : el("div", "plain", v);
    }
    if (Array.isArray(v) && isRecordList(v)) return recordTable(v);
    // A short list of plain values stays on one line, as JSON so no value can pass for two.
    if (Array.isArray(v) && v.length <= 20 && v.every(isScalar)) return el("span", "mono", JSON.stringify(v));
    if (typeof v === "object") return jsonBlock(v);
    return el("span", "mono", String(v));
  }
  // A list of flat records (search hits, invoice lines, payments) reads best as a small table.
  function isScalar(x) { return x === null || ["string", "number", "boolean"].indexOf(typeof x) >= 0; }
  function isRecordList(arr) {
    if (!arr.length || arr.length > 50) return false;
    return arr.every(function (r) {
      return isPlainObject(r) && Object.keys(r).length <= 8 && Object.keys(r).every(function (k) { return isScalar(r[k]); });
    });
  }
  function recordTable(arr) {
    var cols = [];
    arr.forEach(function (r) { Object.keys(r).forEach(function (k) { if (cols.indexOf(k) < 0) cols.push(k); }); });
    // Its own horizontal scroll if the columns do not fit; focusable so a keyboard can scroll it.
    var wrap = el("div", "records-wrap"), table = el("table", "records"), head = el("tr");
    wrap.tabIndex = 0;
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", arr.length + (arr.length === 1 ? " record" : " records"));
    cols.forEach(function (c) { head.appendChild(el("th", "mono", c)); });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var tbody = el("tbody");
    arr.forEach(function (r) {
      var tr = el("tr");
      cols.forEach(function (c) { tr.appendChild(el("td", null, c in r ? (r[c] === null ? "null" : String(r[c])) : "")); });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    wrap.appendChild(table);
    return wrap;
  }
  function kvTable(obj) {
    if (!isPlainObject(obj)) return valueNode(obj);
    var keys = Object.keys(obj);
    if (!keys.length) return el("span", "muted", "none");
    var table = el("table", "kv");
    keys.forEach(function (k) {
      var tr = el("tr");
      tr.appendChild(el("th", "mono", k));
      var td = el("td");
      td.appendChild(valueNode(obj[k]));
      tr.appendChild(td);
      table.appendChild(tr);
    });
    return table;
  }
  function field(title, node, cls) {
    var s = el("section", "field" + (cls ? " " + cls : ""));
    s.appendChild(el("h2", null, title));
    s.appendChild(node);
    return s;
  }
  // A trace reads as a one-line summary ("lookup_order ×1 · track_shipment ×3"), then one
  // expandable step per call; short traces open, long ones closed so the page stays readable.
  var OPEN_STEPS = 4;
  function argsInline(args) {
    if (!isPlainObject(args)) return args === undefined ? "" : JSON.stringify(args);
    return Object.keys(args).map(function (k) {
      var v = args[k];
      return k + "=" + (typeof v === "string" ? v : JSON.stringify(v));
    }).join(", ");
  }
  function traceSummary(trace) {
    var counts = [], index = {};
    trace.forEach(function (step) {
      var name = isPlainObject(step) && typeof step.tool === "string" ? step.tool : "(step)";
      if (!(name in index)) { index[name] = counts.length; counts.push([name, 0]); }
      counts[index[name]][1] += 1;
    });
    return counts.map(function (c) { return c[0] + " \u00d7" + c[1]; }).join(" · ");
  }
  function traceNode(trace) {
    if (!Array.isArray(trace)) return valueNode(trace);
    var box = el("div", "trace-box");
    var head = el("div", "trace-head");
    head.appendChild(el("span", "trace-summary mono", trace.length + (trace.length === 1 ? " call: " : " calls: ") +
      traceSummary(trace)));
    var ol = el("ol", "trace");
    var open = trace.length <= OPEN_STEPS;
    if (trace.length > 1) {
      var toggle = el("button", "quiet small trace-toggle", open ? "Collapse all" : "Expand all");
      toggle.type = "button";
      toggle.addEventListener("click", function () {
        var details = ol.querySelectorAll("details"), anyClosed = false;
        details.forEach(function (d) { if (!d.open) anyClosed = true; });
        details.forEach(function (d) { d.open = anyClosed; });
        toggle.textContent = anyClosed ? "Collapse all" : "Expand all";
      });
      head.appendChild(toggle);
    }
    box.appendChild(head);
    trace.forEach(function (step) {
      var li = el("li");
      if (isPlainObject(step) && typeof step.tool === "string") {
        var d = el("details", "trace-step");
        d.open = open;
        var sum = el("summary");
        sum.appendChild(el("span", "trace-tool mono", step.tool));
        if ("args" in step) sum.appendChild(el("span", "trace-args mono", "(" + argsInline(step.args) + ")"));
        d.appendChild(sum);
        if ("result" in step) {
          d.appendChild(el("div", "trace-label", "result"));
          d.appendChild(isPlainObject(step.result) ? kvTable(step.result) : valueNode(step.result));
        }
        var rest = omit(step, ["tool", "args", "result"]);
        if (rest) d.appendChild(jsonBlock(rest));
        li.appendChild(d);
      } else {
        li.appendChild(valueNode(step));
      }
      ol.appendChild(li);
    });
    box.appendChild(ol);
    return box;
  }
  function omit(obj, keys) {
    var out = {}, any = false;
    Object.keys(obj).forEach(function (k) { if (keys.indexOf(k) < 0) { out[k] = obj[k]; any = true; } });
    return any ? out : null;
  }

  function renderOutput(body, p) {
    // Side by side on wide screens: the question and the answer, and the evidence the answer
    // should agree with (tool results, context), so both are in view without scrolling.
    var left = el("div", "item-col"), right = el("div", "item-col item-evidence");
    if ("input" in p) left.appendChild(field("Input", valueNode(p.input), "field-input"));
    if ("output" in p) left.appendChild(field("Output", outputNode(p.output), "field-main field-output"));
    if ("trace" in p) right.appendChild(field("Trace and tool results", traceNode(p.trace), "field-trace"));
    if ("context" in p) right.appendChild(field("Context", isPlainObject(p.context) ? kvTable(p.context) : valueNode(p.context),
                                                "field-context"));
    if ("metadata" in p) right.appendChild(field("Metadata", valueNode(p.metadata)));
    var rest = omit(p, ["input", "output", "context", "trace", "metadata"]);
    if (rest) right.appendChild(field("Other fields", jsonBlock(rest)));
    body.appendChild(left);
    if (right.firstChild) { body.appendChild(right); body.classList.add("two-col"); }
  }
  function outputNode(v) {
    // A JSON object answer reads best as a field table; the raw JSON stays one click away.
    if (typeof v === "string") { var parsed = parsedJson(v); if (isPlainObject(parsed)) v = parsed; }
    if (!isPlainObject(v)) return valueNode(v);
    var box = el("div");
    box.appendChild(kvTable(v));
    var d = el("details", "raw-json");
    d.appendChild(el("summary", "small", "Raw JSON"));
    d.appendChild(jsonBlock(v));
    box.appendChild(d);
    return box;
  }

  function renderApproval(body, p) {
    if ("intent" in p) body.appendChild(field("Intent", valueNode(p.intent), "field-main"));
    if ("actor" in p) body.appendChild(field("Requested by", valueNode(p.actor)));
    if ("tool_call" in p) {
      var call = p.tool_call, box = el("div", "tool-call");
      if (isPlainObject(call)) {
        box.appendChild(el("div", "tool-name mono", call.name === undefined ? "(no tool name)" : String(call.name)));
        box.appendChild(kvTable(call.args === undefined ? {} : call.args));
        var extra = omit(call, ["name", "args"]);
        if (extra) box.appendChild(jsonBlock(extra));
      } else {
        box.appendChild(valueNode(call));
      }
      body.appendChild(field("Tool call", box));
    }
    if ("constraints" in p) body.appendChild(field("Constraints", kvTable(p.constraints)));
    if ("context" in p) body.appendChild(field("Context", valueNode(p.context)));
    var rest = omit(p, ["intent", "actor", "tool_call", "constraints", "context", "irreversible"]);
    if (rest) body.appendChild(field("Other fields", jsonBlock(rest)));
  }

  function renderItem(item) {
    var p = isPlainObject(item.payload) ? item.payload : { output: item.payload };
    var approval = item.kind === "approval";
    $("item-kind").textContent = approval ? "Approval request" : "Agent output";
    $("item-agent").textContent = visible(item.agent);
    $("item-category").textContent = visible(item.category);
    $("item").dataset.itemId = item.id;
    $("item").dataset.kind = item.kind;
    var body = $("item-body");
    while (body.firstChild) body.removeChild(body.firstChild);
    body.classList.remove("two-col");
    if (approval) renderApproval(body, p); else renderOutput(body, p);

    $("irreversible").hidden = !(approval && p.irreversible === true);
    var two = $("two-person");
    if (item.approvals && item.approvals.required > 1) {
      two.textContent = "Needs " + item.approvals.required + " approvals · " + item.approvals.given + " given";
      two.hidden = false;
    } else {
      two.hidden = true;
    }
    $("countdown").hidden = !item.deadline;
    renderClocks();
  }

  // ---- Clocks: countdown to an approval's deadline, age of the item ------------------------------
  function serverNow() { return Date.now() + state.serverOffset; }
  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    var ss = ("0" + (s % 60)).slice(-2);
    return h ? h + ":" + ("0" + m).slice(-2) + ":" + ss : m + ":" + ss;
  }
  function ago(ms) {
    var m = Math.floor(ms / 60000);
    if (m < 1) return "just now";
    if (m < 60) return m + " min ago";
    var h = Math.floor(m / 60);
    return h < 48 ? h + " h ago" : Math.floor(h / 24) + " days ago";
  }
  function renderClocks() {
    var item = state.item;
    if (!item) return;
    $("item-age").textContent = "submitted " + ago(serverNow() - Date.parse(item.created_at));
    var cd = $("countdown");
    if (!item.deadline) return;
    var left = Date.parse(item.deadline) - serverNow();
    cd.classList.toggle("urgent", left < 60000);
    cd.textContent = left > 0 ? "Decide within " + duration(left)
      : "Deadline passed: the safe default (deny) applies";
  }
  setInterval(renderClocks, 1000);

  // ---- Session line and break nudge (VIGILANCE.md §6) -------------------------------------------
  function sessionMinutes() {
    var s = state.session;
    var base = s && s.running ? s.active_minutes : 0;
    return base + (state.item ? itemActiveMs() / 60000 : 0);
  }
  function renderSession() {
    var s = state.session;
    var minutes = sessionMinutes();
    $("session-minutes").textContent = String(Math.floor(minutes));
    $("session-decisions").textContent = String(s && s.running ? s.decisions : 0);
    var due = (s && s.break_nudge) || minutes >= cfg.nudgeMinutes;
    var nudge = $("nudge");
    if (due && minutes >= state.nudgeSnoozedUntil) {
      $("nudge-text").textContent = "You have been reviewing for " + Math.floor(minutes) +
        " minutes without a break. A few minutes away from the screen helps you keep catching mistakes.";
      nudge.hidden = false;
    } else {
      nudge.hidden = true;
    }
  }
  $("nudge-dismiss").addEventListener("click", function () {
    state.nudgeSnoozedUntil = sessionMinutes() + cfg.nudgeMinutes;
    $("nudge").hidden = true;
  });
  setInterval(renderSession, 15000);

  // ---- Heartbeat: keep the lease while the reviewer is here ---------------------------------------
  setInterval(function () {
    var item = state.item;
    // After a session gap without input the reviewer is away: let the lease lapse.
    if (!item || state.busy || document.visibilityState !== "visible" || !recentlyActive(cfg.gapMs)) return;
    post(itemUrl(item.id, "heartbeat")).then(function (r) {
      if (r.status === 409 && state.item && state.item.id === item.id) {
        previousItem("your hold ran out and it went back to the queue.", "warn");
        loadNext();
      }
    }).catch(function () { /* the next beat retries */ });
  }, Math.max(5000, Math.floor(cfg.leaseMs / 3)));

  // ---- Deciding --------------------------------------------------------------------------------------
  function say(text, kind) {
    var m = $("message");
    m.textContent = text || "";
    m.className = "message" + (kind ? " message-" + kind : "");
  }
  function hint(text) {
    var h = $("confirm-hint");
    h.textContent = text || "";
    h.hidden = !text;
  }
  function renderReasons() {
    $("reject-panel").hidden = state.mode !== "reject";
    reasonButtons.forEach(function (b) {
      var on = b.dataset.reason === state.reason;
      b.classList.toggle("picked", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function startApprove() {
    if (!state.item || state.busy) return;
    var p = state.item.payload;
    if (state.item.kind === "approval" && isPlainObject(p) && p.irreversible === true) {
      state.mode = "confirm-approve";
      renderReasons();
      hint("This action cannot be undone. Press Enter to approve, Esc to go back.");
      return;
    }
    decide("approve");
  }
  function startReject() {
    if (!state.item || state.busy) return;
    state.mode = "reject";
    renderReasons();
    hint(state.reason ? "Press Enter to reject." : "Pick a reason: 1–8. Then Enter to reject.");
  }
  function pickReason(n) {
    var b = reasonButtons[n - 1];
    if (!b || state.mode !== "reject") return;
    state.reason = b.dataset.reason;
    renderReasons();
    hint("Reason: " + reasonLabels[state.reason] + ". Add a note with N, or press Enter to reject.");
  }
  function cancel() {
    state.mode = "idle";
    state.reason = null;
    renderReasons();
    hint(null);
  }
  function confirmAction() {
    if (state.mode === "reject") decide("reject");
    else if (state.mode === "confirm-approve") decide("approve");
    else if (state.item) hint("Press A to approve or R to reject.");
  }

  function decide(verdict) {
    var item = state.item;
    if (!item || state.busy) return;
    if (verdict === "reject" && !state.reason) {
      state.mode = "reject";
      renderReasons();
      hint("A reject needs a reason: press 1–8 first.");
      return;
    }
    var body = { verdict: verdict, reason: verdict === "reject" ? state.reason : null,
                 note: noteEl.value, active_ms: itemActiveMs() };
    busy(true);
    post(itemUrl(item.id, "decide"), body).then(function (r) {
      busy(false);
      if (r.ok) {
        absorb(r.data);
        lastDecision(r.data.decision);
        if (r.data.reveal) showReveal(r.data.reveal, r.data.next);
        else advance(r.data.next);
      } else if (r.status === 409 && r.data && r.data.error && r.data.error.code === "deadline_passed") {
        previousItem("not recorded: " + errorText(r) + ".", "warn");
        loadNext();
      } else if (r.status === 409) {
        previousItem("no longer yours (it went back to the queue).", "warn");
        loadNext();
      } else if (r.status === 422 && r.data && r.data.error && r.data.error.field === "reason") {
        state.mode = "reject";
        renderReasons();
        hint("A reject needs a reason: press 1–8 first.");
      } else {
        say("Not saved: " + errorText(r) + ". Try again.", "warn");
      }
    }).catch(function () {
      busy(false);
      say("Network problem: the decision was not saved. Try again.", "warn");
    });
  }
  function describe(d) {
    if (!d) return "";
    if (d.verdict === "reject") return "Rejected: " + (reasonLabels[d.reason] || d.reason) + ".";
    if (!d.settled) return "Your approval is recorded. This irreversible action needs a second reviewer before it counts.";
    return "Approved.";
  }
  // What happened to the previous item, labelled as such and coloured by its verdict (a reject is
  // never shown in green), so nothing about it reads as news about the item now on screen.
  function lastDecision(d) {
    if (d) previousItem(describe(d), d.verdict); else previousItem("", null);
  }
  function previousItem(text, kind) {
    var line = $("last-decision");
    line.textContent = text ? "Previous item: " + text : "";
    line.className = "last-decision small" + (kind ? " last-" + kind : "");
  }
  function busy(on) { state.busy = on; root.classList.toggle("busy", on); setButtons(!!state.item); }

  function skip() {
    var item = state.item;
    if (!item || state.busy) return;
    busy(true);
    post(itemUrl(item.id, "skip")).then(function (r) {
      busy(false);
      if (!r.ok) { say("Could not skip: " + errorText(r), "warn"); return; }
      absorb(r.data);
      advance(r.data.next);
      previousItem("skipped; it went back to the queue for someone else.", null);
    }).catch(function () { busy(false); say("Network problem: not skipped. Try again.", "warn"); });
  }

  // ---- Reveal after a planted item (DESIGN.md "Canaries") -----------------------------------------
  var OUTCOME_TEXT = {
    caught: "You caught it. Well spotted.",
    missed: "This one got through. That is exactly what these checks are for; nothing reached an agent.",
    false_alarm: "This one was actually fine: a known-good check, so nothing was lost.",
    correct: "You approved it, which was right."
  };
  function showReveal(reveal, next) {
    state.pendingNext = next;
    var canary = reveal.kind === "canary";
    var panel = $("reveal");
    panel.className = "reveal-panel reveal-" + (reveal.outcome || "none");
    $("reveal-title").textContent = canary ? "This was a planted test item" : "This was a known-good check item";
    $("reveal-outcome").textContent = OUTCOME_TEXT[reveal.outcome] || "";
    $("reveal-bucket").textContent = reveal.bucket ? "Planted fault: " + (reasonLabels[reveal.bucket] || reveal.bucket) : "";
    $("reveal-explanation").textContent = visible(reveal.explanation || "");
    panel.hidden = false;
    // The item stays on screen, with the fault marked where it is.
    if (canary) markFault(reveal);
    state.mode = "idle";
    renderReasons();
    hint(null);
    setButtons(false);
    setState("reveal");
    $("reveal-close").focus();
    panel.scrollIntoView({ block: "nearest" });
  }
  function closeReveal() {
    $("reveal").hidden = true;
    var next = state.pendingNext;
    state.pendingNext = undefined;
    advance(next);
  }

  // Values the explanation names (numbers, ids, `keys`, tool names) are marked wherever they
  // occur in the item; a refusal or an off-topic answer marks the whole output. Text nodes are
  // split and wrapped in <mark>: still no HTML is parsed.
  var MARK_WHOLE_OUTPUT = { wrong_refusal: true, off_topic: true };
  function faultTokens(text) {
    var found = {};
    var patterns = [/`([^`]+)`/g, /\$?([A-Za-z0-9_.\/-]*\d[A-Za-z0-9_.\/-]*)/g, /\b([a-z][a-z0-9]*(?:[_.][a-z0-9]+)+)\b/g];
    patterns.forEach(function (re) {
      var m;
      while ((m = re.exec(text)) !== null) {
        var t = m[1].replace(/[.,:;]+$/, "");
        if (t.length >= 2) found[t] = true;
      }
    });
    return Object.keys(found).sort(function (a, b) { return b.length - a.length; });
  }
  function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  function markFault(reveal) {
    var body = $("item-body");
    if (MARK_WHOLE_OUTPUT[reveal.bucket]) {
      var out = body.querySelector(".field-output");
      if (out) out.classList.add("fault-field");
    }
    var tokens = faultTokens(String(reveal.explanation || ""));
    if (!tokens.length) return;
    var re = new RegExp("(^|[^\\w.-])(" + tokens.map(escapeRe).join("|") + ")(?![\\w-])", "g");
    body.querySelectorAll("details").forEach(function (d) {
      if (re.test(d.textContent)) d.open = true;
      re.lastIndex = 0;
    });
    var walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT), nodes = [], n;
    while ((n = walker.nextNode())) nodes.push(n);
    nodes.forEach(function (node) {
      var text = node.nodeValue, last = 0, m, frag = null;
      re.lastIndex = 0;
      while ((m = re.exec(text)) !== null) {
        frag = frag || document.createDocumentFragment();
        var start = m.index + m[1].length;
        frag.appendChild(document.createTextNode(text.slice(last, start)));
        frag.appendChild(el("mark", "fault-mark", m[2]));
        last = start + m[2].length;
      }
      if (!frag) return;
      frag.appendChild(document.createTextNode(text.slice(last)));
      node.parentNode.replaceChild(frag, node);
    });
  }
  $("reveal-close").addEventListener("click", closeReveal);

  function toggleShortcuts(show) {
    var box = $("shortcuts");
    box.hidden = show === undefined ? !box.hidden : !show;
    if (!box.hidden) $("shortcuts-close").focus();
  }
  $("shortcuts-close").addEventListener("click", function () { toggleShortcuts(false); });

  // ---- Mouse ---------------------------------------------------------------------------------------
  $("btn-approve").addEventListener("click", startApprove);
  $("btn-reject").addEventListener("click", function () {
    if (state.mode === "reject" && state.reason) decide("reject"); else startReject();
  });
  $("btn-skip").addEventListener("click", skip);
  reasonButtons.forEach(function (b) {
    b.addEventListener("click", function () { state.mode = "reject"; pickReason(Number(b.dataset.key)); });
  });

  // ---- Keyboard ------------------------------------------------------------------------------------
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    var key = ev.key;
    if (root.dataset.state === "reveal") {
      if (key === "Enter" || key === "Escape") { ev.preventDefault(); closeReveal(); }
      return;
    }
    if (!$("shortcuts").hidden) {
      if (key === "Escape" || key === "?") { ev.preventDefault(); toggleShortcuts(false); }
      return;
    }
    var t = ev.target;
    if (t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.isContentEditable)) {
      if (key === "Escape") { ev.preventDefault(); t.blur(); }
      else if (key === "Enter" && !ev.shiftKey && t === noteEl) { ev.preventDefault(); confirmAction(); }
      return;
    }
    if (t && t.tagName === "BUTTON" && key === "Enter") {
      // A reason picked with the mouse keeps focus on its button: Enter then confirms the reject,
      // it does not click the reason again. Other buttons do their own click.
      if (!t.classList.contains("reason")) return;
      ev.preventDefault();
      confirmAction();
      return;
    }
    var lower = key.length === 1 ? key.toLowerCase() : key;
    if (lower === "a") startApprove();
    else if (lower === "r") startReject();
    else if (lower === "s") skip();
    else if (lower === "n") { if (state.item) noteEl.focus(); }
    else if (key >= "1" && key <= "9" && key.length === 1) {
      if (state.mode === "reject") pickReason(Number(key)); else if (state.item) hint("Press R first to reject, then pick a reason.");
    }
    else if (key === "Enter") confirmAction();
    else if (key === "Escape") cancel();
    else if (key === "?") toggleShortcuts();
    else return;
    ev.preventDefault();
  });

  // Opened from a notification's link (/queue/items/<id>): that approval first, then the queue as usual.
  function openLinked(id) {
    post(itemUrl(id, "open")).then(function (r) {
      if (!r.ok) {
        var why = (r.data && r.data.error && r.data.error.message) || "That item cannot be opened.";
        // Said once the queue's next item is on screen: showing an item clears older messages.
        return loadNext().then(function () { say(why, "warn"); });
      }
      absorb(r.data);
      advance(r.data.item);
      say("Opened from your notification. Decide it as usual; the queue continues after it.");
    }).catch(function () { say("Network problem; showing the queue instead.", "warn"); loadNext(); });
  }

  if (root.dataset.openItem) openLinked(root.dataset.openItem); else loadNext();
})();
