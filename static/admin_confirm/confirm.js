// A form with data-confirm="…" asks that question before it submits. The question is written, translated, by
// the template; the Content-Security-Policy (config/settings.py) allows no inline onsubmit= handler.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
