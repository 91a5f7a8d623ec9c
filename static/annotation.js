// Keyboard-first annotation: every action on the screen has a key (shown beside it).
// The panel (#item-panel) is swapped by HTMX; state here is re-read after each swap.
(function () {
  "use strict";
  let shownAt = Date.now();
  let focusIndex = 0;
  let evidenceIndex = -1;
  // True from the moment the panel is asked for until the new one has settled: a key
  // pressed then is dropped, so that it never reaches a form HTMX has not bound yet
  // (which the browser would post as a whole page).
  let busy = false;

  const panel = () => document.getElementById("item-panel");
  const form = () => document.getElementById("item-form");
  const reasons = () => Array.from(document.querySelectorAll("#item-panel .reason"));
  const isTyping = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
    (el.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(el.type)));

  function focusReason(i, preventScroll) {
    const list = reasons();
    if (!list.length) return;
    focusIndex = Math.max(0, Math.min(list.length - 1, i));
    list.forEach((el, n) => el.classList.toggle("focused", n === focusIndex));
    list[focusIndex].focus({ preventScroll: !!preventScroll });
  }

  // The first answer still missing: a reason without a verdict, or the grade.
  function focusMissing() {
    const list = reasons();
    const i = list.findIndex((r) => !r.querySelector('input[type="radio"]:checked'));
    list.forEach((r) => r.classList.toggle("missing", !r.querySelector('input[type="radio"]:checked')));
    if (i >= 0) { focusReason(i); list[i].scrollIntoView({ block: "center" }); return; }
    const grade = document.querySelector('#item-panel input[name="grade"]');
    if (grade && !document.querySelector('#item-panel input[name="grade"]:checked')) grade.focus();
  }

  // Evidence: `e` / `E` move to the next / previous passage, scrolled into view and
  // shown in full; every passage of the top 10 is reached this way.
  function moveEvidence(step) {
    const rows = Array.from(document.querySelectorAll("#item-panel .evidence tbody tr[data-row]"));
    if (!rows.length) return false;
    evidenceIndex = Math.max(0, Math.min(rows.length - 1, evidenceIndex + step));
    rows.forEach((r, n) => r.classList.toggle("current", n === evidenceIndex));
    rows[evidenceIndex].scrollIntoView({ block: "nearest" });
    return true;
  }

  function toggleRaw() {
    const p = panel();
    if (!p || !p.querySelector(".text-raw")) return false;
    p.classList.toggle("show-raw");
    const btn = document.getElementById("raw-toggle");
    if (btn) btn.setAttribute("aria-pressed", p.classList.contains("show-raw") ? "true" : "false");
    return true;
  }

  // A refusal the server did not answer with a panel (403, 404, 409...): its message at
  // the top of the form, the panel kept as it is.
  function showRefusal(xhr) {
    const box = document.getElementById("form-alert");
    if (!box) return;
    let message = "";
    try {
      const doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      const found = doc.querySelector("[role=alert], .error, h1");
      message = found ? found.textContent.trim() : "";
    } catch (e) { message = ""; }
    box.textContent = `Not saved (${xhr.status}${xhr.statusText ? " " + xhr.statusText : ""})` +
      (message ? `: ${message.slice(0, 300)}` : "");
    box.hidden = false;
    focusMissing();
  }

  function setVerdict(value) {
    const list = reasons();
    if (!list.length) return false;
    const r = list[focusIndex];
    const input = r.querySelector(`input[value="${value}"]`);
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    // Move on to the next reason that has no verdict yet: fewer keystrokes per item.
    focusReason(focusIndex + 1 < list.length ? focusIndex + 1 : focusIndex);
    return true;
  }

  function setGrade(g) {
    const input = document.querySelector(`#item-panel input[name="grade"][value="${g}"]`);
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function cycleConfidence() {
    const sel = document.getElementById("confidence");
    if (!sel) return;
    sel.selectedIndex = (sel.selectedIndex % (sel.options.length - 1)) + 1;
    sel.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function submitForm(id) {
    const f = document.getElementById(id);
    if (f && !busy) f.requestSubmit();
  }

  function onPanelLoaded() {
    shownAt = Date.now();
    focusIndex = 0;
    evidenceIndex = -1;
    const alert = document.getElementById("form-alert");
    if (alert && !alert.hidden) { focusMissing(); return; }
    // A new item opens at the top: the query and the first passages in sight.
    window.scrollTo(0, 0);
    if (reasons().length) focusReason(0, true);
    else document.activeElement && document.activeElement.blur && document.activeElement.blur();
  }

  const ours = (elt) => !!(elt && elt.closest && elt.closest("#item-panel, #item-loader")) && !elt.classList.contains("autosave");

  document.addEventListener("htmx:beforeRequest", (ev) => { if (ours(ev.detail.elt)) busy = true; });
  const autosave = (elt) => elt && elt.classList && elt.classList.contains("autosave");
  document.addEventListener("htmx:afterSettle", (ev) => {
    if (autosave(ev.detail.elt)) return;
    busy = false;
    replayQueued();
  });
  ["htmx:responseError", "htmx:sendError", "htmx:timeout"].forEach((name) =>
    document.addEventListener(name, (ev) => { if (!autosave(ev.detail.elt)) busy = false; }));
  // The server answers a refused submit (422) with the same item and the message: swap it in.
  document.addEventListener("htmx:beforeSwap", (ev) => {
    if (ev.detail.xhr.status === 422) { ev.detail.shouldSwap = true; ev.detail.isError = false; }
  });
  document.addEventListener("htmx:responseError", (ev) => {
    if (ours(ev.detail.elt) && ev.detail.xhr.status !== 422) showRefusal(ev.detail.xhr);
  });

  document.addEventListener("submit", (ev) => {
    if (busy && ours(ev.target)) { ev.preventDefault(); ev.stopImmediatePropagation(); return; }
    if (ev.target.id === "item-form") {
      const field = ev.target.querySelector('input[name="elapsed_ms"]');
      if (field) field.value = String(Date.now() - shownAt);
    }
  }, true);

  // Keys pressed while an item is being swapped in are queued and replayed, in order,
  // once the new panel has settled (on the new item): never acted on a form HTMX has
  // not bound yet, which the browser would post as a whole page.
  const queued = [];

  function replayQueued() {
    while (queued.length && !busy && panel()) {
      const k = queued.shift();
      const el = document.activeElement;
      if (isTyping(el) && k.length === 1) el.value += k;  // typed after `s`, `m` or `r`
      else if (k === "Enter" && el && el.id === "skip-reason") submitForm("skip-form");
      else handleKey(k, el);
    }
  }

  function handleKey(k, el) {
    if (isTyping(el)) {
      if (k === "Escape") { el.blur(); return true; }
      if (k === "Enter" && el.id === "skip-reason") return false;  // native submit of the skip form
      if (k === "Enter" && el.name === "added_text") { submitForm("item-form"); return true; }
      return false;
    }
    const kind = panel().dataset.kind;
    let handled = true;
    if (kind !== "reasons" && ["0", "1", "2", "3"].includes(k)) handled = setGrade(k);
    else if (kind === "reasons" && (k === "j" || k === "ArrowDown")) focusReason(focusIndex + 1);
    else if (kind === "reasons" && (k === "k" || k === "ArrowUp")) focusReason(focusIndex - 1);
    else if (kind === "reasons" && k === "a") handled = setVerdict("agree");
    else if (kind === "reasons" && k === "d") handled = setVerdict("disagree");
    else if (kind === "reasons" && k === "u") handled = setVerdict("unsure");
    else if (kind === "reasons" && k === "c") {
      const r = reasons()[focusIndex];
      const sel = r && r.querySelector("select");
      if (sel) sel.focus(); else handled = false;
    }
    else if (kind === "reasons" && k === "r") { const t = document.getElementById("added-text"); if (t) t.focus(); }
    else if (kind === "reasons" && k === "e") handled = moveEvidence(1);
    else if (kind === "reasons" && k === "E") handled = moveEvidence(-1);
    else if (k === "t") handled = toggleRaw();
    else if (k === "m") { const t = document.getElementById("comment"); if (t) t.focus(); }
    else if (k === "f") cycleConfidence();
    else if (k === "n" || k === "Enter") submitForm("item-form");
    else if (k === "s") { const t = document.getElementById("skip-reason"); if (t) t.focus(); }
    else if (k === "b" || k === "z" || (k === "u" && kind !== "reasons")) submitForm("undo-form");
    else handled = false;
    return handled;
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const el = document.activeElement;
    if (busy) {
      if (isTyping(el) && ev.key !== "Enter") return;  // typing goes on into the field
      if (ev.key.length === 1 || ev.key === "Enter" || ev.key === "Escape") {
        ev.preventDefault();
        if (queued.length < 20) queued.push(ev.key);
      }
      return;
    }
    if (!panel()) return;
    if (handleKey(ev.key, el)) ev.preventDefault();
  });

  document.addEventListener("click", (ev) => {
    if (ev.target && ev.target.id === "raw-toggle") toggleRaw();
  });

  document.addEventListener("htmx:afterSwap", (ev) => {
    const elt = ev.detail && ev.detail.elt;
    if (elt && elt.classList && elt.classList.contains("autosave")) return;  // autosave swaps nothing
    if (panel()) onPanelLoaded();
  });
  if (document.readyState !== "loading") onPanelLoaded();
  else document.addEventListener("DOMContentLoaded", onPanelLoaded);
})();
