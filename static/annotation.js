// Keyboard-first annotation: every action on the screen has a key (shown beside it).
// The panel (#item-panel) is swapped by HTMX; state here is re-read after each swap.
(function () {
  "use strict";
  let shownAt = Date.now();
  let focusIndex = 0;

  const panel = () => document.getElementById("item-panel");
  const form = () => document.getElementById("item-form");
  const reasons = () => Array.from(document.querySelectorAll("#item-panel .reason"));
  const isTyping = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
    (el.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(el.type)));

  function focusReason(i) {
    const list = reasons();
    if (!list.length) return;
    focusIndex = Math.max(0, Math.min(list.length - 1, i));
    list.forEach((el, n) => el.classList.toggle("focused", n === focusIndex));
    list[focusIndex].focus({ preventScroll: false });
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
    if (f) f.requestSubmit();
  }

  function onPanelLoaded() {
    shownAt = Date.now();
    focusIndex = 0;
    if (reasons().length) focusReason(0);
    else document.activeElement && document.activeElement.blur && document.activeElement.blur();
  }

  document.addEventListener("submit", (ev) => {
    if (ev.target.id === "item-form") {
      const field = ev.target.querySelector('input[name="elapsed_ms"]');
      if (field) field.value = String(Date.now() - shownAt);
    }
  }, true);

  document.addEventListener("keydown", (ev) => {
    if (!panel() || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const el = document.activeElement;
    if (isTyping(el)) {
      if (ev.key === "Escape") { el.blur(); ev.preventDefault(); }
      else if (ev.key === "Enter" && el.id === "skip-reason") { /* native submit of the skip form */ }
      else if (ev.key === "Enter" && el.name === "added_text") { ev.preventDefault(); submitForm("item-form"); }
      return;
    }
    const kind = panel().dataset.kind;
    const k = ev.key;
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
    else if (k === "m") { const t = document.getElementById("comment"); if (t) t.focus(); }
    else if (k === "f") cycleConfidence();
    else if (k === "n" || k === "Enter") submitForm("item-form");
    else if (k === "s") { const t = document.getElementById("skip-reason"); if (t) t.focus(); }
    else if (k === "b" || k === "z" || (k === "u" && kind !== "reasons")) submitForm("undo-form");
    else handled = false;
    if (handled) ev.preventDefault();
  });

  document.addEventListener("htmx:afterSwap", (ev) => {
    const elt = ev.detail && ev.detail.elt;
    if (elt && elt.classList && elt.classList.contains("autosave")) return;  // autosave swaps nothing
    if (panel()) onPanelLoaded();
  });
  if (document.readyState !== "loading") onPanelLoaded();
  else document.addEventListener("DOMContentLoaded", onPanelLoaded);
})();
