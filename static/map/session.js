/* Sign-out warning for the floor map (docs/security.md).
 *
 * The server signs a session out after SESSION_IDLE_MINUTES without activity; live updates (WebSocket
 * messages, polling) are not activity. Every answer to this page carries X-Session-Expires-In, so the page
 * knows the deadline; SESSION_WARN_SECONDS before it, a dialog says so and offers "Stay signed in", which
 * tells the server (POST /map/api/session/). Using the page (a click, a key) counts too, at most once a minute.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("map-config").textContent);
  const session = config.session;
  if (!session) return;
  const dialog = document.getElementById("session-warning");
  const countdown = document.getElementById("session-countdown");
  const stayButton = document.getElementById("session-stay");
  let deadline = Date.now() + session.expires_in * 1000;
  let lastReported = Date.now();
  let leaving = false;

  function setRemaining(seconds) {
    const value = Number(seconds);
    if (!isNaN(value)) deadline = Date.now() + value * 1000;
  }

  function signedOut(reason) {
    if (leaving) return;
    leaving = true;
    window.location.assign(session.login_url + "?expired=" + encodeURIComponent(reason || "idle") + "&next=/map/");
  }

  // Every answer from the server says how long is left; a 401 session_expired means it already ended.
  const plainFetch = window.fetch.bind(window);
  window.fetch = async function (input, init) {
    const response = await plainFetch(input, init);
    const header = response.headers.get("X-Session-Expires-In");
    if (header !== null) setRemaining(header);
    if (response.status === 401) {
      try {
        const body = await response.clone().json();
        if (body && body.code === "session_expired") signedOut("idle");
      } catch (e) { /* not JSON: not ours */ }
    }
    return response;
  };

  async function stay() {
    lastReported = Date.now();
    const response = await window.fetch(session.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": config.csrf_token },
    });
    if (response.ok) {
      const data = await response.json();
      setRemaining(data.expires_in);
      hide();
    }
  }

  function show(seconds) {
    const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many)); // the JavaScript catalogue
    countdown.textContent = ngettext("%s second", "%s seconds", seconds).replace("%s", seconds);
    if (dialog.hidden) {
      dialog.hidden = false;
      stayButton.focus();
    }
  }

  function hide() {
    dialog.hidden = true;
  }

  async function tick() {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) {
      // Another tab may have kept the session alive: ask (a passive request) before leaving.
      try {
        const response = await window.fetch(session.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.ok) {
          const data = await response.json();
          setRemaining(data.expires_in);
          if (data.expires_in > 0) { hide(); return; }
        }
      } catch (e) { /* offline: the server signs out anyway */ }
      signedOut("idle");
      return;
    }
    if (left <= session.warn_s) show(left);
    else if (!dialog.hidden) hide();
  }

  stayButton.addEventListener("click", stay);
  dialog.addEventListener("keydown", (event) => { if (event.key === "Escape") stay(); });
  // Someone using the page is activity: tell the server at most once a minute (not the warning's own button).
  ["pointerdown", "keydown"].forEach((name) => document.addEventListener(name, (event) => {
    if (dialog.contains(event.target)) return;
    if (Date.now() - lastReported > 60000) stay();
  }, { passive: true }));
  window.setInterval(tick, 1000);
  window.floorMapSession = { deadline: () => deadline, stay: stay };
})();
