// The campaign form shows only the fields of the chosen kind (fields marked data-kinds);
// without JavaScript every field is shown and the server ignores the other kind's.
(function () {
  "use strict";
  function showKind() {
    const kind = document.querySelector('#campaign-form [name="kind"]');
    if (!kind) return;
    document.querySelectorAll("#campaign-form [data-kinds]").forEach((row) => {
      const own = row.dataset.kinds.split(" ").includes(kind.value);
      row.hidden = !own;
    });
  }
  document.addEventListener("change", (ev) => {
    if (ev.target && ev.target.name === "kind" && ev.target.closest("#campaign-form")) showKind();
  });
  if (document.readyState !== "loading") showKind();
  else document.addEventListener("DOMContentLoaded", showKind);
})();
