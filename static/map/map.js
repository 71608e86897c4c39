/* The floor map (docs/map.md). Plain JS, no build step; Leaflet with CRS.Simple in floor metres.
 *
 * - Rooms are drawn from their GeoJSON polygons, shaded and patterned by room type, labelled.
 * - Assets are DOM markers: the shape and colour of their state (declarations/states.py, sent in the page's
 *   config), the icon of their type, faded and dashed when stale. A room whose items do not fit at the
 *   current zoom shows one group marker with the count instead.
 * - Live: one WebSocket per floor (/ws/floors/<id>/), reconnecting with backoff; while it is down (or
 *   when the server's channel layer is per-process), the page polls /api/v1/map/floors/<id>/assets/?since=.
 * - Its JSON calls are /api/v1/map/... (floormap/api.py): the session's cookie and the CSRF token, errors in
 *   the API's one format {code, message, field_errors, detail}.
 * - Everything on the map is also in the list under it, with the same actions.
 */
(function () {
  "use strict";

  // Translations: Django's JavaScript catalogue (/jsi18n/, loaded before this file) defines gettext,
  // ngettext and interpolate; without it the English source strings show. Numbers and dates follow the
  // page's language (Intl); distances stay in metres.
  const gettext = window.gettext || ((text) => text);
  const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
  const fmt = (text, values) => (window.interpolate
    ? window.interpolate(text, values, true)
    : text.replace(/%\((\w+)\)s/g, (m, key) => String(values[key])));
  const LANG = document.documentElement.lang || undefined;
  const numberFormat = new Intl.NumberFormat(LANG, { maximumFractionDigits: 0 });
  const decimalFormat = new Intl.NumberFormat(LANG, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

  const config = JSON.parse(document.getElementById("map-config").textContent);
  const STATES = {};
  const STATE_ORDER = {}; // lifecycle order: available first in a room
  config.legend.states.forEach((s, i) => { STATES[s.value] = s; STATE_ORDER[s.value] = i; });
  const TYPES = {};
  config.asset_types.forEach((t) => { TYPES[t.id] = t; });
  const ROOM_TYPE_LABELS = {};
  config.legend.room_types.forEach((r) => { ROOM_TYPE_LABELS[r.value] = r.label; });
  const LOCATION_LABELS = {};
  config.legend.location_statuses.forEach((s) => { LOCATION_LABELS[s.value] = s.label; });
  const ACTION_LABELS = { start_use: gettext("Start use"), return: gettext("Return (to soiled)") };

  const CELL_PX = 30; // one marker's slot when a room's items are laid out
  const MARKER_PX = 26;
  const MIN_ZOOM = -1;
  const MAX_ZOOM = 6; // 2^6 = 64 px per metre
  const STORAGE = { place: "floormap.place", floor: "floormap.floor" };

  // ------------------------------------------------------------------------------------------------
  // Small helpers

  const $ = (id) => document.getElementById(id);
  const esc = (value) => String(value == null ? "" : value).replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const url = (template, id) => template.replace("/0/", "/" + id + "/");

  let clockOffsetMs = 0; // server time minus this device's time
  const serverNow = () => Date.now() + clockOffsetMs;
  function syncClock(serverTime) {
    const t = Date.parse(serverTime);
    if (!isNaN(t)) clockOffsetMs = t - Date.now();
  }

  function ago(iso) {
    if (!iso) return gettext("never");
    const seconds = Math.max(0, (serverNow() - Date.parse(iso)) / 1000);
    if (seconds < 45) return gettext("just now");
    if (seconds < 90 * 60) return fmt(gettext("%(n)s min ago"), { n: numberFormat.format(Math.round(seconds / 60)) });
    if (seconds < 36 * 3600) return fmt(gettext("%(n)s h ago"), { n: numberFormat.format(Math.round(seconds / 3600)) });
    const days = Math.round(seconds / 86400);
    return fmt(ngettext("%(n)s day ago", "%(n)s days ago", days), { n: numberFormat.format(days) });
  }
  const fullTime = (iso) => (iso ? new Date(iso).toLocaleString(LANG) : gettext("never"));
  const metres = (value) => fmt(gettext("%(n)s m"), { n: numberFormat.format(Math.round(value)) });

  function announce(text) {
    const el = $("announcer");
    el.textContent = "";
    window.setTimeout(() => { el.textContent = text; }, 30);
  }

  function readStorage(key) {
    try { return JSON.parse(window.localStorage.getItem(key)); } catch (e) { return null; }
  }
  function writeStorage(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: not remembered */ }
  }

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
    if (opts.body && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRFToken"] = config.csrf_token;
    }
    let response;
    try {
      response = await fetch(path, opts);
    } catch (e) {
      return { ok: false, status: 0, data: { code: "network", detail: gettext("The server cannot be reached. Check the network.") } };
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = { code: "bad_response", detail: fmt(gettext("Unexpected answer from the server (%(status)s)."), { status: response.status }) }; }
    if (response.status === 403 && data && data.code === "not_authenticated") {
      setLiveStatus("signed-out", gettext("Signed out: reload the page to sign in again."));
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  // ------------------------------------------------------------------------------------------------
  // Symbols: state shape + colour + pattern, type icon, location status. Colour is never the only signal.

  const SHAPES = {
    circle: '<circle cx="14" cy="14" r="12"/>',
    diamond: '<path d="M14 .8 27.2 14 14 27.2.8 14Z"/>',
    square: '<rect x="2.5" y="2.5" width="23" height="23" rx="2"/>',
    triangle: '<path d="M14 1.2 27.2 25.8H.8Z"/>',
    hexagon: '<path d="M14 1 25.3 7.5v13L14 27 2.7 20.5v-13Z"/>',
    cross: '<path d="M9.5 1h9v8.5H27v9h-8.5V27h-9v-8.5H1v-9h8.5Z"/>',
    ring: '<circle cx="14" cy="14" r="11.5"/>',
  };
  // Type pictograms in a 16x16 box, drawn in white over the state colour.
  const ICONS = {
    drop: '<path fill="#fff" stroke="none" d="M8 1.8C6 4.6 3.6 7.4 3.6 10a4.4 4.4 0 0 0 8.8 0C12.4 7.4 10 4.6 8 1.8Z"/>',
    monitor: '<rect x="1.8" y="2.8" width="12.4" height="8.4" rx="1"/><path d="M3.5 7.5h2l1.2-2.5 2 4.5 1.3-2h2.5M8 11.2v2.5M5.5 13.7h5"/>',
    wind: '<path d="M1.5 6h8.5a2.2 2.2 0 1 0-2.2-2.2M1.5 10h10.5a2.2 2.2 0 1 1-2.2 2.2M1.5 8h6"/>',
    bed: '<path d="M1.8 3.5v10M14.2 9v4.5M1.8 10.5h12.4M4 9V7.2h3V9M8 8.2h4.2a2 2 0 0 1 2 2"/>',
    wheelchair: '<circle cx="6.5" cy="10.5" r="3.6"/><circle cx="6" cy="2.6" r="1.1" fill="#fff"/><path d="M6 4.5v4h4l2.2 4.5"/>',
    bolt: '<path fill="#fff" stroke="none" d="M9.4 1 3.2 9h4.1l-1 6 6.5-8.6H8.7Z"/>',
    lift: '<path d="M2.5 2h11M8 2v5.5M5.8 7.5h4.4l-1 3.5H6.8ZM8 11v3.5"/>',
    scanner: '<path d="M3 2h4.2v4.8L6.2 14H4L3 6.8Z"/><path d="M9.8 5.2c.9 1 .9 2.6 0 3.6M12 3.6c2 2 2 4.8 0 6.8"/>',
    signal: '<path d="M8 8.5V14M6.2 7a2.5 2.5 0 0 1 3.6 0M4.2 5a5.3 5.3 0 0 1 7.6 0M2.2 3a8.2 8.2 0 0 1 11.6 0"/>',
    compress: '<path d="M2 5.5h12M2 10.5h12M8 1v3M6.3 2.6 8 4.3l1.7-1.7M8 15v-3M6.3 13.4 8 11.7l1.7 1.7"/>',
  };
  const TYPE_ICON_RULES = [
    ["infusion", "drop"], ["feeding", "drop"], ["syringe", "drop"], ["telemetry", "signal"], ["monitor", "monitor"],
    ["ventilator", "wind"], ["wheelchair", "wheelchair"], ["bed", "bed"], ["defib", "bolt"], ["lift", "lift"],
    ["scan", "scanner"], ["scd", "compress"], ["compression", "compress"],
  ];
  const typeIconCache = {};
  function typeIcon(typeId) {
    if (typeIconCache[typeId]) return typeIconCache[typeId];
    const type = TYPES[typeId] || { name: "?", slug: "" };
    const key = (type.slug + " " + type.name).toLowerCase();
    const rule = TYPE_ICON_RULES.find((r) => key.indexOf(r[0]) !== -1);
    let svg;
    if (rule) {
      svg = '<g fill="none" stroke="#fff" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round">' + ICONS[rule[1]] + "</g>";
    } else { // no pictogram: the type's initials
      const initials = type.name.split(/\s+/).map((w) => w[0] || "").join("").slice(0, 2).toUpperCase();
      svg = '<text x="8" y="11.6" text-anchor="middle" font-size="9" font-weight="700" fill="#fff" font-family="system-ui,sans-serif">' + esc(initials) + "</text>";
    }
    typeIconCache[typeId] = svg;
    return svg;
  }

  function stateSymbol(stateValue, typeId, extraClass) {
    const s = STATES[stateValue] || STATES.available;
    const shape = SHAPES[s.shape] || SHAPES.circle;
    const outline = s.pattern === "outline";
    const pattern = { stripes: "pat-stripes", dots: "pat-dots", hatch: "pat-hatch" }[s.pattern];
    const icon = typeId == null ? "" : typeIcon(typeId);
    const iconTransform = s.shape === "triangle" ? "translate(7.5 9.5) scale(.8)" : "translate(6 6)";
    return '<svg class="symbol ' + (extraClass || "") + '" viewBox="-1 -1 30 30" width="' + MARKER_PX + '" height="' + MARKER_PX + '" aria-hidden="true" focusable="false">' +
      '<g class="shape" fill="' + (outline ? "#fff" : s.colour) + '" stroke="' + (outline ? s.colour : "#fff") + '" stroke-width="' + (outline ? 3 : 1.6) + '">' + shape + "</g>" +
      (pattern ? '<g fill="url(#' + pattern + ')" stroke="none">' + shape + "</g>" : "") +
      (icon ? '<g transform="' + iconTransform + '"' + (outline ? ' style="filter:invert(1)"' : "") + ">" + icon + "</g>" : "") +
      "</svg>";
  }

  function installPatterns() {
    // SVG patterns referenced by url(#...) from every marker and room (rooms: one per type).
    const roomPatterns = Object.keys(ROOM_STYLE).map((type) => {
      const st = ROOM_STYLE[type];
      return '<pattern id="room-' + type + '" width="8" height="8" patternUnits="userSpaceOnUse">' +
        '<rect width="8" height="8" fill="' + st.fill + '"/>' + (st.marks || "") + "</pattern>";
    }).join("");
    const svg = '<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false"><defs>' +
      '<pattern id="pat-stripes" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2.2" height="6" fill="rgba(255,255,255,.45)"/></pattern>' +
      '<pattern id="pat-dots" width="5" height="5" patternUnits="userSpaceOnUse"><circle cx="2.5" cy="2.5" r="1.1" fill="rgba(255,255,255,.55)"/></pattern>' +
      '<pattern id="pat-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><path d="M0 3h6M3 0v6" stroke="rgba(255,255,255,.45)" stroke-width="1.3"/></pattern>' +
      roomPatterns + '</defs><defs id="map-symbols"></defs></svg>';
    document.body.insertAdjacentHTML("afterbegin", svg);
  }

  // Room shading by type, with a pattern for the rooms that matter to equipment (not colour alone).
  const ROOM_STYLE = {
    patient: { fill: "#eef2f7" },
    corridor: { fill: "#f7f7f4" },
    soiled_utility: { fill: "#f7dfd2", marks: '<path d="M-2 2 2-2M0 8 8 0M6 10l4-4" stroke="#c2410c" stroke-width="1" opacity=".55"/>' },
    clean_utility: { fill: "#d9f0e1", marks: '<circle cx="4" cy="4" r="1.1" fill="#15803d" opacity=".5"/>' },
    biomed: { fill: "#f6dcdc", marks: '<path d="M4 2v4M2 4h4" stroke="#b91c1c" stroke-width="1" opacity=".5"/>' },
    storage: { fill: "#e7e1f5", marks: '<path d="M0 .5h8M.5 0v8" stroke="#6d28d9" stroke-width=".8" opacity=".35"/>' },
    nurse_station: { fill: "#fdf0c4" },
    procedure: { fill: "#dcecf5" },
    exit: { fill: "#ffffff", marks: '<path d="M1 4h5M4 2l2 2-2 2" stroke="#334155" stroke-width=".8" fill="none" opacity=".5"/>' },
    other: { fill: "#ececec" },
  };

  // ------------------------------------------------------------------------------------------------
  // State of the page

  const view = {
    floorId: null,
    floor: null,
    rooms: {}, // id -> room, with bbox [minx, miny, maxx, maxy]
    assets: {}, // id -> asset
    markers: {}, // asset id -> L.Marker
    roomMarkers: {}, // room id -> [L.Marker]
    forced: new Set(), // rooms shown item by item whatever the zoom (opened at max zoom)
    highlighted: null,
    highlightCircle: null,
    lastSync: null,
    loading: null,
    dirtyRooms: new Set(),
    rowMessages: {}, // asset id -> the answer to the last action from the list
    listDirty: false,
    frame: null,
  };
  let place = readStorage(STORAGE.place); // {kind: "room"|"unit", id, label, floor}
  const whereLabel = () => (place ? (place.kind === "unit" ? String(place.id) : place.label.split(" · ")[0]) : "");
  const searchDistances = {}; // asset id -> "10 m away from 4N-402", from the last search
  const placeOptions = {}; // label -> place, from the places endpoint
  const metrics = { loads: [] };

  // ------------------------------------------------------------------------------------------------
  // The map

  // prefers-reduced-motion: no animated zoom, fade or pan (keyboard panning and popups' auto-pan included).
  const reducedMotion = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : { matches: false };
  const still = reducedMotion.matches;

  installPatterns();
  const map = L.map("map", {
    crs: L.CRS.Simple,
    minZoom: MIN_ZOOM,
    maxZoom: MAX_ZOOM,
    zoomSnap: 0.25,
    zoomDelta: 0.5,
    attributionControl: false,
    keyboard: true,
    closePopupOnClick: true,
    zoomAnimation: !still,
    fadeAnimation: !still,
    markerZoomAnimation: !still,
    inertia: !still,
  });
  map.panBy = function (offset, options) { // Leaflet animates panBy unless told not to
    const opts = reducedMotion.matches ? Object.assign({}, options, { animate: false }) : options;
    return L.Map.prototype.panBy.call(this, offset, opts);
  };
  map.setView([0, 0], 2);
  // The container changes size as the page lays out, on rotation and window resizes: keep the centre.
  if (window.ResizeObserver) new window.ResizeObserver(() => map.invalidateSize({ animate: false })).observe(map.getContainer());
  const roomLayer = L.layerGroup().addTo(map);
  const markerLayer = L.layerGroup().addTo(map);
  const ll = (x, y) => L.latLng(y, x); // floor metres: x east, y north

  function zoomClass() {
    const z = map.getZoom();
    const el = map.getContainer();
    el.classList.toggle("zoom-far", z < 3);
    el.classList.toggle("zoom-near", z >= 4.25);
  }

  function drawRooms() {
    roomLayer.clearLayers();
    Object.values(view.rooms).forEach((room) => {
      const rings = room.polygon.map((ring) => ring.map((p) => ll(p[0], p[1])));
      const polygon = L.polygon(rings, {
        color: "#7b8794", weight: 1, fillOpacity: 1, fillColor: (ROOM_STYLE[room.type] || ROOM_STYLE.other).fill,
        className: "room room-" + room.type,
      });
      polygon.on("add", () => {
        const path = polygon.getElement();
        if (path) path.setAttribute("fill", "url(#room-" + (ROOM_STYLE[room.type] ? room.type : "other") + ")");
      });
      polygon.on("click", (e) => openRoomPopup(room, e.latlng));
      polygon.addTo(roomLayer);
      L.tooltip({ permanent: true, direction: "bottom", offset: [0, 0], className: "room-label room-label-" + room.type, interactive: false })
        .setLatLng(ll(room.c[0], room.bbox[3]))
        .setContent('<span class="room-code">' + esc(room.code) + '</span><span class="room-name">' + esc(room.name) + "</span>")
        .addTo(roomLayer);
    });
  }

  const LABEL_PX = 14; // the room's label sits along its top edge; markers go below it
  function roomPixelSize(room, zoom) {
    const scale = Math.pow(2, zoom);
    return [(room.bbox[2] - room.bbox[0]) * scale, Math.max(0, (room.bbox[3] - room.bbox[1]) * scale - LABEL_PX)];
  }
  function roomCapacity(room, zoom) {
    const size = roomPixelSize(room, zoom);
    return Math.max(0, Math.floor((size[0] - 4) / CELL_PX)) * Math.max(0, Math.floor((size[1] - 4) / CELL_PX));
  }
  function zoomToShow(room, count) {
    for (let z = Math.max(map.getZoom(), MIN_ZOOM); z <= MAX_ZOOM; z += 0.25) {
      if (roomCapacity(room, z) >= count) return z;
    }
    return null; // does not fit even at the closest zoom
  }

  function filters() {
    return { available: $("filter-available").checked, type: $("filter-type").value };
  }
  function visibleAssets(roomId) {
    const f = filters();
    return Object.values(view.assets).filter((a) => a.room === roomId && (a.id === view.highlighted || (
      (!f.available || (a.state === "available" && locationStatus(a) !== "missing")) &&
      (!f.type || String(a.type) === f.type))));
  }

  // Located / stale / missing is the server's (locations/freshness.py): each asset comes with its status and
  // the moments it turns stale and missing without a new sighting; the page only watches the clock.
  function locationStatus(asset) {
    const now = serverNow();
    if (asset.missing_at && now > Date.parse(asset.missing_at)) return "missing";
    if (asset.stale_at && now > Date.parse(asset.stale_at)) return "stale";
    return asset.status;
  }

  function assetLabel(asset) {
    const s = STATES[asset.state] || { label: asset.state };
    const room = view.rooms[asset.room];
    const status = locationStatus(asset);
    return asset.tag + ", " + (TYPES[asset.type] || { name: "" }).name + ", " + s.label +
      (room ? ", " + fmt(gettext("in %(room)s"), { room: room.code + " " + room.name }) : "") +
      ", " + LOCATION_LABELS[status].toLowerCase() + ", " + fmt(gettext("last seen %(ago)s"), { ago: ago(asset.seen) }) +
      (asset.loan ? ", " + asset.loan : "") + (asset.svc === false ? ", " + gettext("maintenance overdue") : "");
  }

  // Each (state, type, location status) is drawn once as an SVG <symbol>; markers only <use> it, so 500
  // markers cost 500 small elements rather than 500 copies of the drawing.
  const symbolsMade = new Set();
  function markerSymbol(stateValue, typeId, status) {
    const id = "m-" + stateValue + "-" + typeId + "-" + status;
    if (!symbolsMade.has(id)) {
      symbolsMade.add(id);
      let drawing = stateSymbol(stateValue, typeId).replace(/^<svg[^>]*>/, "").replace(/<\/svg>$/, "");
      if (status !== "located") drawing = drawing.replace('<g class="shape"', '<g class="shape" stroke-dasharray="3 2"').replace(/stroke="#fff" stroke-width="1.6"/, 'stroke="#1b2430" stroke-width="1.6"');
      document.getElementById("map-symbols").insertAdjacentHTML("beforeend", '<symbol id="' + id + '" viewBox="-1 -1 30 30">' + drawing + "</symbol>");
    }
    return '<svg class="symbol" width="' + MARKER_PX + '" height="' + MARKER_PX + '" aria-hidden="true" focusable="false"><use href="#' + id + '"/></svg>';
  }

  function markerHtml(asset) {
    const status = locationStatus(asset);
    return markerSymbol(asset.state, asset.type, status) +
      (status === "missing" ? '<span class="badge badge-missing" aria-hidden="true">?</span>' : "") +
      (status === "stale" ? '<span class="badge badge-stale" aria-hidden="true">!</span>' : "");
  }

  function renderRoom(roomId) {
    (view.roomMarkers[roomId] || []).forEach((m) => markerLayer.removeLayer(m));
    view.roomMarkers[roomId] = [];
    const room = view.rooms[roomId];
    if (!room) return;
    const assets = visibleAssets(roomId).sort((a, b) => (STATE_ORDER[a.state] - STATE_ORDER[b.state]) || (a.tag < b.tag ? -1 : 1));
    if (!assets.length) return;
    const zoom = map.getZoom();
    const capacity = roomCapacity(room, zoom);
    const markers = view.roomMarkers[roomId];
    if (assets.length > Math.max(1, capacity) && !view.forced.has(roomId)) {
      markers.push(groupMarker(room, assets));
      return;
    }
    const scale = Math.pow(2, zoom);
    const cols = Math.max(1, Math.min(assets.length, capacity ? Math.floor(roomPixelSize(room, zoom)[0] / CELL_PX) : Math.ceil(Math.sqrt(assets.length))));
    const rows = Math.ceil(assets.length / cols);
    const cellM = CELL_PX / scale;
    const centre = roomLayoutCentre(room, zoom);
    const x0 = centre[0] - ((cols - 1) * cellM) / 2;
    const y0 = centre[1] + ((rows - 1) * cellM) / 2;
    assets.forEach((asset, i) => {
      const x = x0 + (i % cols) * cellM;
      const y = y0 - Math.floor(i / cols) * cellM;
      markers.push(assetMarker(asset, ll(x, y)));
    });
  }

  // Markers are role="button": Enter and Space activate them (Leaflet's own Enter only opens bound popups).
  function onActivate(el, action) {
    el.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        event.stopPropagation();
        action();
      }
    });
  }

  function assetMarker(asset, latlng) {
    const status = locationStatus(asset);
    const classes = ["asset-marker", "state-" + asset.state, "status-" + status];
    if (asset.id === view.highlighted) classes.push("is-highlighted");
    const marker = L.marker(latlng, {
      icon: L.divIcon({ className: classes.join(" "), html: markerHtml(asset), iconSize: [MARKER_PX, MARKER_PX], iconAnchor: [MARKER_PX / 2, MARKER_PX / 2] }),
      keyboard: true,
      riseOnHover: true,
      zIndexOffset: asset.id === view.highlighted ? 1000 : 0,
    });
    marker.on("click", () => openAssetPopup(asset.id));
    marker.addTo(markerLayer);
    const el = marker.getElement();
    onActivate(el, () => openAssetPopup(asset.id));
    el.setAttribute("aria-label", assetLabel(asset));
    el.dataset.assetId = asset.id;
    el.dataset.state = asset.state;
    el.dataset.status = status;
    view.markers[asset.id] = marker;
    return marker;
  }

  // Where a room's markers are centred: below its label, inside the room (rooms are mostly rectangles).
  function roomLayoutCentre(room, zoom) {
    const labelM = LABEL_PX / Math.pow(2, zoom);
    const top = room.bbox[3] - labelM;
    const bottom = room.bbox[1];
    const y = top > bottom ? Math.min(room.c[1], (top + bottom) / 2) : room.c[1];
    return [room.c[0], y];
  }

  function groupMarker(room, assets) {
    const available = assets.filter((a) => a.state === "available" && locationStatus(a) === "located").length;
    const size = Math.min(32, Math.max(24, Math.min.apply(null, roomPixelSize(room, map.getZoom())) - 2));
    const centre = roomLayoutCentre(room, map.getZoom());
    const marker = L.marker(ll(centre[0], centre[1]), {
      icon: L.divIcon({
        className: "group-marker",
        html: '<span class="group-count">' + assets.length + "</span>" + (available ? '<span class="group-available">✓' + available + "</span>" : ""),
        iconSize: [size, size],
        iconAnchor: [size / 2, size / 2],
      }),
      keyboard: true,
    });
    marker.on("click", () => expandRoom(room.id));
    marker.addTo(markerLayer);
    const el = marker.getElement();
    onActivate(el, () => expandRoom(room.id));
    // The name starts with what the marker shows, "12 ✓4" (WCAG 2.5.3, label in name: speech users say "12").
    el.setAttribute("aria-label", available
      ? fmt(gettext("%(count)s, %(available)s available and located: %(room)s, %(count)s items. Open to zoom in."), { room: room.code + " " + room.name, count: assets.length, available: available })
      : fmt(gettext("%(count)s items, none available and located: %(room)s. Open to zoom in."), { room: room.code + " " + room.name, count: assets.length }));
    el.dataset.roomId = room.id;
    assets.forEach((a) => { delete view.markers[a.id]; });
    return marker;
  }

  function renderAll() {
    const t0 = performance.now();
    markerLayer.clearLayers();
    view.roomMarkers = {};
    view.markers = {};
    Object.keys(view.rooms).forEach((id) => renderRoom(Number(id)));
    return performance.now() - t0;
  }

  function scheduleRender(roomIds) {
    roomIds.forEach((id) => { if (id != null) view.dirtyRooms.add(id); });
    view.listDirty = true;
    if (view.frame) return;
    view.frame = window.requestAnimationFrame(() => {
      view.frame = null;
      const rooms = Array.from(view.dirtyRooms);
      view.dirtyRooms.clear();
      rooms.forEach(renderRoom);
      if (view.listDirty) { view.listDirty = false; renderList(); }
    });
  }

  function expandRoom(roomId, options) {
    const room = view.rooms[roomId];
    const count = visibleAssets(roomId).length;
    const zoom = zoomToShow(room, count);
    if (zoom === null) view.forced.add(roomId);
    map.setView(ll(room.c[0], room.c[1]), zoom === null ? MAX_ZOOM : zoom, { animate: false });
    renderAll();
    if (!options || options.focus !== false) {
      const first = (view.roomMarkers[roomId] || [])[0];
      if (first && first.getElement()) first.getElement().focus();
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Popups and actions

  function actionsFor(asset) {
    return (config.actions_by_state[asset.state] || []).slice();
  }

  function actionButtons(asset, withRequest) {
    let html = actionsFor(asset).map((action) => (
      '<button type="button" class="action" data-action="' + action + '" data-asset="' + asset.id + '">' + esc(ACTION_LABELS[action] || action) + "</button>"
    )).join("");
    if (config.can_request && asset.state === "available" && withRequest) {
      const id = "priority-" + asset.id;
      html += '<div class="request-delivery">' +
        '<label for="' + id + '">' + esc(gettext("Priority")) + '</label> <select id="' + id + '" class="request-priority">' +
        config.request_priorities.map((p) => '<option value="' + esc(p.value) + '"' + (p.value === "routine" ? " selected" : "") + ">" + esc(p.label) + "</option>").join("") +
        "</select>" +
        '<button type="button" class="action secondary" data-action="request" data-asset="' + asset.id + '"' +
        (place ? "" : ' disabled aria-describedby="request-hint-' + asset.id + '"') + ">" +
        (place ? esc(fmt(gettext("Request delivery to %(place)s"), { place: place.kind === "unit" ? place.id : place.label.split(" · ")[0] })) : esc(gettext("Request delivery"))) + "</button>" +
        (place ? "" : '<span class="hint" id="request-hint-' + asset.id + '">' + esc(gettext("Say where you are (search panel) to request delivery.")) + "</span>") +
        "</div>";
    }
    return html;
  }

  function stateBadge(stateValue) {
    const s = STATES[stateValue] || { label: stateValue, colour: "#555", icon: "" };
    return '<span class="state-badge" style="background:' + s.colour + '"><span aria-hidden="true">' + esc(s.icon) + "</span> " + esc(s.label) + "</span>";
  }

  function popupHtml(asset) {
    const s = STATES[asset.state] || {};
    const room = view.rooms[asset.room];
    const status = locationStatus(asset);
    const precision = asset.r != null ? " (± " + fmt(gettext("%(n)s m"), { n: decimalFormat.format(Number(asset.r)) }) + ")" : "";
    return '<div class="asset-popup" data-asset-id="' + asset.id + '">' +
      '<h3 class="popup-title" tabindex="-1">' + esc(asset.tag) + ' <span class="popup-type">' + esc((TYPES[asset.type] || {}).name) + "</span></h3>" +
      '<p class="popup-model">' + esc(asset.model) + "</p>" +
      "<p>" + stateBadge(asset.state) + "</p>" +
      '<p class="popup-definition">' + esc(s.definition || "") + "</p>" +
      (asset.loan ? '<p class="popup-loan"><strong>' + esc(asset.loan) + "</strong></p>" : "") +
      (asset.svc === false ? '<p class="popup-maintenance"><strong>' + esc(gettext("Maintenance overdue: not serviceable.")) + "</strong></p>" : "") +
      "<dl>" +
      "<dt>" + esc(gettext("Room")) + "</dt><dd>" + (room ? esc(room.code + " " + room.name) : esc(gettext("unknown"))) + "</dd>" +
      "<dt>" + esc(gettext("Location")) + "</dt><dd><span class=\"loc loc-" + status + "\">" + esc(LOCATION_LABELS[status]) + "</span>" + precision + "</dd>" +
      "<dt>" + esc(gettext("Last seen")) + '</dt><dd title="' + esc(fullTime(asset.seen)) + '">' + esc(ago(asset.seen)) + "</dd>" +
      (searchDistances[asset.id] ? "<dt>" + esc(gettext("Distance")) + "</dt><dd>" + esc(searchDistances[asset.id]) + "</dd>" : "") +
      "</dl>" +
      '<div class="popup-actions">' + actionButtons(asset, true) + "</div>" +
      '<p class="popup-message" role="alert" tabindex="-1"></p>' +
      "</div>";
  }

  // A popup taller than the map would be cut off by its edge (200 % zoom, a phone held sideways): it
  // scrolls inside instead, leaving room for its tip and the auto-pan padding.
  function popupMaxHeight() {
    return Math.max(120, map.getSize().y - 140); // the popup's frame, tip, offset and auto-pan padding
  }

  let popupReturnFocus = null;
  function openAssetPopup(assetId, options) {
    const asset = view.assets[assetId];
    if (!asset) return;
    const marker = view.markers[assetId];
    const latlng = marker ? marker.getLatLng() : ll(view.rooms[asset.room].c[0], view.rooms[asset.room].c[1]);
    popupReturnFocus = document.activeElement;
    const width = Math.max(180, Math.min(300, map.getSize().x - 70)); // fits a 360 px phone
    const popup = L.popup({ maxWidth: width, minWidth: Math.min(220, width), maxHeight: popupMaxHeight(), autoPanPadding: [10, 10], offset: [0, -8], className: "map-popup" })
      .setLatLng(latlng).setContent(popupHtml(asset));
    openPopup(popup);
    view.popup = popup;
    const el = popup.getElement();
    el.setAttribute("role", "dialog");
    el.setAttribute("aria-label", fmt(gettext("%(tag)s details"), { tag: asset.tag }));
    if (!options || options.focus !== false) {
      const title = el.querySelector(".popup-title");
      if (title) title.focus({ preventScroll: true });
    }
  }

  function refreshOpenPopup(assetId, message) {
    const el = document.querySelector('.asset-popup[data-asset-id="' + assetId + '"]');
    if (!el || !view.assets[assetId] || !view.popup || !view.popup.isOpen()) return;
    const text = message !== undefined ? message : el.querySelector(".popup-message").textContent;
    view.popup.setContent(popupHtml(view.assets[assetId])); // (popup.update() alone would restore the old content)
    const fresh = view.popup.getElement().querySelector(".popup-message");
    if (fresh) fresh.textContent = text;
  }

  // Escape closes a popup wherever the focus is in the map (Leaflet only listens while the map itself has focus).
  map.getContainer().addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.querySelector(".map-popup")) map.closePopup();
  });
  // The floor's max bounds would pull the view back from a popup over a room at the floor's edge, cutting
  // it off when the map is short (200 % zoom): they are lifted while a popup is open.
  let openingPopup = false;
  function openPopup(popup) {
    openingPopup = true;
    map.setMaxBounds(null);
    popup.openOn(map);
    openingPopup = false;
  }
  map.on("popupclose", () => {
    if (!openingPopup && view.maxBounds) map.setMaxBounds(view.maxBounds);
    if (popupReturnFocus && document.body.contains(popupReturnFocus)) popupReturnFocus.focus();
    popupReturnFocus = null;
  });

  function openRoomPopup(room, latlng) {
    const count = Object.values(view.assets).filter((a) => a.room === room.id).length;
    const html = '<div class="room-popup"><h3 class="popup-title" tabindex="-1">' + esc(room.code) + " " + esc(room.name) + "</h3>" +
      "<p>" + esc(ROOM_TYPE_LABELS[room.type] || room.type) + (room.unit ? " · " + esc(room.unit) : "") + "</p>" +
      "<p>" + esc(fmt(ngettext("%(count)s item here", "%(count)s items here", count), { count: numberFormat.format(count) })) + "</p>" +
      '<div class="popup-actions"><button type="button" class="action" data-room-here="' + room.id + '">' + esc(gettext("I am here")) + "</button>" +
      (count ? '<button type="button" class="action secondary" data-room-show="' + room.id + '">' + esc(gettext("Show the items")) + "</button>" : "") +
      "</div></div>";
    popupReturnFocus = document.activeElement;
    const popup = L.popup({ className: "map-popup", maxHeight: popupMaxHeight() }).setLatLng(latlng).setContent(html);
    openPopup(popup);
    const title = popup.getElement().querySelector(".popup-title");
    if (title) title.focus();
  }

  async function runAction(button) {
    const assetId = Number(button.dataset.asset);
    const asset = view.assets[assetId];
    if (!asset) return;
    const action = button.dataset.action;
    const scope = button.closest(".asset-popup, tr");
    const message = scope ? scope.querySelector(".popup-message, .row-message") : null;
    const inPopup = !!(scope && scope.classList.contains("asset-popup"));
    const hadFocus = document.activeElement === button;
    button.disabled = true;
    let result;
    if (action === "request") {
      const priority = scope ? scope.querySelector(".request-priority") : null;
      const body = { asset_type: asset.type, asset: asset.id, priority: priority ? priority.value : "routine" };
      if (place && place.kind === "room") body.room = place.id; else if (place) body.unit = place.id;
      result = await api(config.urls.request, { method: "POST", body: body });
    } else {
      result = await api(url(config.urls.action, assetId), { method: "POST", body: { action: action, expected_state: asset.state } });
    }
    button.disabled = false;
    const text = result.data && (result.data.message || result.data.detail) || gettext("Done.");
    if (message) message.textContent = text;
    view.rowMessages[assetId] = text; // the list is redrawn after changes: keep the answer in its row
    announce(text);
    const popupOpen = document.querySelector('.asset-popup[data-asset-id="' + assetId + '"]');
    if (result.ok && result.data.asset) upsertAsset(result.data.asset);
    if (popupOpen) refreshOpenPopup(assetId, text);
    if (!result.ok && result.status === 409) {
      pollSoon(); // someone else changed it: show what it is now
    }
    if (hadFocus) keepKeyboardPlace(inPopup, assetId, action);
  }

  // The popup and the list are redrawn after an action: a keyboard user stays where they were (the same
  // button if it is still offered, else the popup's answer or the row's "Show on map").
  function keepKeyboardPlace(inPopup, assetId, action) {
    window.requestAnimationFrame(() => window.requestAnimationFrame(() => {
      if (document.activeElement && document.activeElement !== document.body) return;
      const scope = inPopup ? document.querySelector('.asset-popup[data-asset-id="' + assetId + '"]')
        : document.querySelector('#asset-rows tr[data-asset-id="' + assetId + '"]');
      if (!scope) return;
      const answer = inPopup ? scope.querySelector(".popup-message") : null;
      const target = scope.querySelector('[data-action="' + action + '"]') ||
        (answer && answer.textContent ? answer : scope.querySelector(inPopup ? ".popup-title" : "[data-show]"));
      if (target) target.focus({ preventScroll: !inPopup }); // in the popup: scrolled into its view
    }));
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.action) { runAction(target); return; }
    if (target.dataset.roomHere) { setPlaceFromRoom(view.rooms[Number(target.dataset.roomHere)]); map.closePopup(); return; }
    if (target.dataset.roomShow) { map.closePopup(); expandRoom(Number(target.dataset.roomShow)); return; }
    if (target.dataset.show) { showAsset(Number(target.dataset.show), Number(target.dataset.floor || view.floorId)); return; }
    if (target.dataset.searchType) { runSearch({ type: target.dataset.searchType }); }
  });

  // ------------------------------------------------------------------------------------------------
  // Highlight: one click on a search result switches floor, zooms to the room and marks the asset

  async function showAsset(assetId, floorId) {
    if (floorId && floorId !== view.floorId) {
      await loadFloor(floorId);
    }
    const asset = view.assets[assetId];
    if (!asset) {
      announce(gettext("That item is no longer on this floor; the map shows where things are now."));
      $("search-status").textContent = gettext("That item has moved since the search. Search again for the nearest one.");
      return;
    }
    setHighlight(assetId);
    const room = view.rooms[asset.room];
    const count = visibleAssets(asset.room).length;
    let zoom = zoomToShow(room, count);
    if (zoom === null) { view.forced.add(room.id); zoom = MAX_ZOOM; }
    const box = map.getContainer().getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) map.getContainer().scrollIntoView({ block: "start" }); // phones
    map.setView(ll(room.c[0], room.c[1]), Math.max(zoom, 4.5), { animate: false });
    renderAll();
    openAssetPopup(assetId);
    announce(assetLabel(asset) + (searchDistances[assetId] ? ", " + searchDistances[assetId] : "") + ". " + gettext("Highlighted on the map."));
  }

  function setHighlight(assetId) {
    const previous = view.highlighted;
    view.highlighted = assetId;
    if (view.highlightCircle) { map.removeLayer(view.highlightCircle); view.highlightCircle = null; }
    const asset = view.assets[assetId];
    if (asset && asset.x != null && asset.r) {
      view.highlightCircle = L.circle(ll(asset.x, asset.y), { radius: asset.r, color: "#b45309", weight: 2, dashArray: "4 4", fillOpacity: 0.08, interactive: false, className: "uncertainty" }).addTo(map);
    }
    const rooms = [];
    if (previous && view.assets[previous]) rooms.push(view.assets[previous].room);
    if (asset) rooms.push(asset.room);
    rooms.forEach(renderRoom);
    scheduleRender([]); // the list marks the highlighted row too
  }

  // ------------------------------------------------------------------------------------------------
  // The list: the same equipment, for keyboards, screen readers and small screens

  function renderList() {
    const text = $("list-filter").value.trim().toLowerCase();
    const f = filters();
    const rows = Object.values(view.assets).filter((a) => {
      if (f.available && !(a.state === "available" && locationStatus(a) !== "missing")) return false;
      if (f.type && String(a.type) !== f.type) return false;
      if (!text) return true;
      const room = view.rooms[a.room] || {};
      return (a.tag + " " + (TYPES[a.type] || {}).name + " " + room.code + " " + room.name).toLowerCase().indexOf(text) !== -1;
    }).sort((a, b) => {
      const ta = (TYPES[a.type] || {}).name || "";
      const tb = (TYPES[b.type] || {}).name || "";
      return ta === tb ? (a.tag < b.tag ? -1 : 1) : (ta < tb ? -1 : 1);
    });
    $("list-count").textContent = "(" + rows.length + ")";
    $("asset-rows").innerHTML = rows.map((a) => {
      const room = view.rooms[a.room] || { code: "?", name: "" };
      const status = locationStatus(a);
      return '<tr data-asset-id="' + a.id + '"' + (a.id === view.highlighted ? ' class="is-highlighted"' : "") + ">" +
        '<td data-label="' + esc(gettext("Equipment")) + '"><strong>' + esc(a.tag) + "</strong> " + esc((TYPES[a.type] || {}).name) + "</td>" +
        '<td data-label="' + esc(gettext("State")) + '">' + stateBadge(a.state) + "</td>" +
        '<td data-label="' + esc(gettext("Room")) + '">' + esc(room.code + " " + room.name) + "</td>" +
        '<td data-label="' + esc(gettext("Last seen")) + '"><span class="loc loc-' + status + '">' + esc(LOCATION_LABELS[status]) + '</span> <span title="' + esc(fullTime(a.seen)) + '">' + esc(ago(a.seen)) + "</span></td>" +
        '<td data-label="' + esc(gettext("Actions")) + '"><button type="button" class="action secondary" data-show="' + a.id + '" aria-label="' + esc(fmt(gettext("Show on map: %(tag)s"), { tag: a.tag })) + '">' + esc(gettext("Show on map")) + "</button>" +
        actionButtons(a) + '<span class="row-message" role="status">' + esc(view.rowMessages[a.id] || "") + "</span></td></tr>";
    }).join("");
  }

  $("list-filter").addEventListener("input", () => { view.listDirty = true; scheduleRender([]); });
  ["filter-available", "filter-type"].forEach((id) => $(id).addEventListener("change", () => {
    renderAll();
    renderList();
  }));

  // ------------------------------------------------------------------------------------------------
  // Loading a floor, and applying changes

  function setFloorAssets(assets) {
    view.assets = {};
    assets.forEach((a) => { view.assets[a.id] = a; });
  }

  async function loadFloor(floorId) {
    const t0 = performance.now();
    const token = {};
    view.loading = token;
    disconnectLive();
    const result = await api(url(config.urls.floor, floorId));
    if (view.loading !== token) return; // another floor was chosen meanwhile
    if (!result.ok) {
      $("map-heading").textContent = gettext("This floor could not be loaded");
      $("search-status").textContent = result.data.detail;
      return;
    }
    const t1 = performance.now();
    const data = result.data;
    syncClock(data.server_time);
    view.floorId = data.floor.id;
    view.floor = data.floor;
    view.lastSync = data.server_time;
    view.lastFull = Date.now();
    view.rooms = {};
    view.rowMessages = {};
    view.forced = new Set();
    view.highlighted = null;
    if (view.highlightCircle) { map.removeLayer(view.highlightCircle); view.highlightCircle = null; }
    map.closePopup();
    data.rooms.forEach((room) => {
      const xs = [];
      const ys = [];
      room.polygon.forEach((ring) => ring.forEach((p) => { xs.push(p[0]); ys.push(p[1]); }));
      room.bbox = [Math.min.apply(null, xs), Math.min.apply(null, ys), Math.max.apply(null, xs), Math.max.apply(null, ys)];
      view.rooms[room.id] = room;
    });
    setFloorAssets(data.assets);
    $("floor-select").value = String(view.floorId);
    $("map-heading").textContent = data.floor.building + " · " + data.floor.name;
    map.getContainer().setAttribute("aria-label", fmt(gettext("Floor map of %(building)s, %(floor)s"), { building: data.floor.building, floor: data.floor.name }));
    writeStorage(STORAGE.floor, view.floorId);
    if (window.history && window.history.replaceState) window.history.replaceState(null, "", "#floor=" + view.floorId);
    drawRooms();
    map.invalidateSize({ animate: false, pan: false }); // the layout may have changed since the map was made
    if (data.bounds) {
      const bounds = L.latLngBounds(ll(data.bounds[0][0], data.bounds[0][1]), ll(data.bounds[1][0], data.bounds[1][1]));
      // Fit first: max bounds set while the view is elsewhere start an animated pan that outlives the fit.
      map.setMaxBounds(null);
      map.fitBounds(bounds, { padding: [8, 8], animate: false });
      view.maxBounds = bounds.pad(0.6);
      map.setMaxBounds(view.maxBounds);
    }
    zoomClass();
    const renderMs = renderAll();
    $("asset-rows").innerHTML = "";
    $("list-count").textContent = "";
    const t2 = performance.now();
    connectLive(view.floorId);
    // Time to pixels: wait for the browser to lay out and paint the new markers.
    await new Promise((resolve) => window.requestAnimationFrame(() => window.requestAnimationFrame(resolve)));
    const t3 = performance.now();
    // The map first; then the list and the legend's types (the list of 500 rows is below the map anyway).
    renderList();
    renderLegendTypes();
    const t4 = performance.now();
    const entry = {
      floor: view.floorId, assets: data.assets.length, rooms: data.rooms.length, markers: markerLayer.getLayers().length,
      fetchMs: t1 - t0, renderMs: renderMs, buildMs: t2 - t1, totalMs: t3 - t0, listMs: t4 - t3,
    };
    metrics.loads.push(entry);
    metrics.last = entry;
    document.body.dataset.floorLoaded = String(view.floorId);
  }

  function upsertAsset(data) {
    const before = view.assets[data.id];
    const merged = Object.assign({}, before || {}, data);
    view.assets[data.id] = merged;
    const rooms = [merged.room];
    if (before && before.room !== merged.room) rooms.push(before.room);
    scheduleRender(rooms);
  }

  function removeAsset(assetId) {
    const before = view.assets[assetId];
    if (!before) return;
    delete view.assets[assetId];
    if (view.highlighted === assetId) setHighlight(null);
    scheduleRender([before.room]);
  }

  function applyPoll(data) {
    syncClock(data.server_time);
    if (data.full) setFloorAssets(data.assets);
    else data.assets.forEach(upsertAsset);
    const present = new Set(data.ids);
    Object.keys(view.assets).forEach((id) => { if (!present.has(Number(id))) removeAsset(Number(id)); });
    view.lastSync = data.server_time;
    if (data.full) { renderAll(); renderList(); }
  }

  // ------------------------------------------------------------------------------------------------
  // Live updates: WebSocket per floor, reconnect with backoff, polling fallback

  const live = { ws: null, attempts: 0, retryTimer: null, pingTimer: null, pollTimer: null, polling: false, floorId: null, soonTimer: null };

  function setLiveStatus(mode, text) {
    const el = $("live-status");
    el.dataset.mode = mode;
    el.textContent = text;
    document.body.dataset.live = mode;
  }

  function connectLive(floorId) {
    live.floorId = floorId;
    if (!("WebSocket" in window) || typeof window.WebSocket !== "function") {
      startPolling(fmt(gettext("Live updates are not supported by this browser: updating every %(s)s s."), { s: config.poll_s }));
      return;
    }
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    let ws;
    try {
      ws = new window.WebSocket(scheme + window.location.host + url(config.urls.ws, floorId));
    } catch (e) {
      scheduleReconnect();
      return;
    }
    live.ws = ws;
    ws.onopen = () => {
      if (live.ws !== ws) return;
      const wasDown = live.attempts > 0 || live.polling;
      live.attempts = 0;
      if (config.live_is_process_local) {
        // In-memory channel layer: only this server process's events arrive live; the rest by polling.
        startPolling(null);
        setLiveStatus("live", fmt(gettext("Live (also checking every %(s)s s)"), { s: config.poll_s }));
      } else {
        stopPolling();
        setLiveStatus("live", gettext("Live"));
      }
      if (wasDown) pollOnce(); // catch up with what happened while disconnected
      window.clearInterval(live.pingTimer);
      live.pingTimer = window.setInterval(() => { if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" })); }, 25000);
    };
    ws.onmessage = (event) => {
      if (live.ws !== ws) return;
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "floor.event" && message.event) handleEvent(message.event);
    };
    ws.onclose = (event) => {
      if (live.ws !== ws) return; // closed on purpose (floor switch)
      live.ws = null;
      window.clearInterval(live.pingTimer);
      // The session ended: to the sign-in page, which says why (floormap/consumers.py: 4401 signed out here
      // or in another tab, 4408 idle, 4409 too old; the same reason as a request that found it expired).
      const ended = { 4401: "signout", 4408: "idle", 4409: "max_age" }[event.code];
      if (ended && config.session) {
        window.location.assign(config.session.login_url + "?expired=" + ended + "&next=/map/");
        return;
      }
      if (event.code === 4403) {
        setLiveStatus("signed-out", gettext("Not allowed: sign in again with a map role."));
        return;
      }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    live.attempts += 1;
    const delay = Math.min(30, Math.pow(2, live.attempts - 1)) * (0.8 + Math.random() * 0.4);
    startPolling(null);
    setLiveStatus("polling", fmt(gettext("Live connection lost: reconnecting in %(delay)s s, updating every %(s)s s meanwhile."), { delay: Math.round(delay), s: config.poll_s }));
    window.clearTimeout(live.retryTimer);
    const floorId = live.floorId;
    live.retryTimer = window.setTimeout(() => { if (live.floorId === floorId && !live.ws) connectLive(floorId); }, delay * 1000);
  }

  function disconnectLive() {
    window.clearTimeout(live.retryTimer);
    window.clearInterval(live.pingTimer);
    stopPolling();
    if (live.ws) { const ws = live.ws; live.ws = null; ws.close(1000); }
    live.attempts = 0;
    setLiveStatus("connecting", gettext("Connecting…"));
  }

  function startPolling(text) {
    if (text) setLiveStatus("polling", text);
    if (live.polling) return;
    live.polling = true;
    live.pollTimer = window.setInterval(pollOnce, config.poll_s * 1000);
  }
  function stopPolling() {
    live.polling = false;
    window.clearInterval(live.pollTimer);
  }

  let pollInFlight = false;
  async function pollOnce() {
    if (pollInFlight || view.floorId == null) return;
    pollInFlight = true;
    const floorId = view.floorId;
    const full = !view.lastFull || Date.now() - view.lastFull > config.resync_s * 1000;
    const query = full || !view.lastSync ? "" : "?since=" + encodeURIComponent(view.lastSync);
    const result = await api(url(config.urls.assets, floorId) + query);
    pollInFlight = false;
    if (!result.ok || floorId !== view.floorId) return;
    if (full) view.lastFull = Date.now();
    applyPoll(result.data);
  }
  function pollSoon() {
    window.clearTimeout(live.soonTimer);
    live.soonTimer = window.setTimeout(pollOnce, 300);
  }

  function handleEvent(event) {
    if (event.kind === "asset.moved") {
      (event.assets || []).forEach((move) => {
        if (move.floor_id !== view.floorId) { removeAsset(move.asset_id); return; }
        if (!view.assets[move.asset_id]) { pollSoon(); return; } // arrived from another floor: fetch it
        const update = { id: move.asset_id, room: move.room_id, x: move.x, y: move.y, r: move.radius_m, conf: move.confidence, seen: move.at };
        if (move.status) Object.assign(update, { status: move.status, stale_at: move.stale_at, missing_at: move.missing_at });
        upsertAsset(update);
      });
    } else if (event.kind === "asset.state") {
      const asset = view.assets[event.asset_id];
      if (!asset) { pollSoon(); return; }
      upsertAsset({ id: event.asset_id, state: event.state });
      refreshOpenPopup(event.asset_id);
      if (event.asset_id === view.highlighted) announce(fmt(gettext("%(tag)s is now %(state)s."), { tag: event.asset_tag, state: (STATES[event.state] || { label: event.label }).label }));
    } else if (event.kind === "alert") {
      showAlert(event);
    }
  }

  // The event's label is in the source language (a machine payload, config/i18n.py); the page's config has every
  // kind's label in the reader's language, by the stable key.
  function alertKindLabel(alert) {
    return (config.alert_kinds || {})[alert.alert_kind] || alert.alert_kind_label || gettext("Alert");
  }

  function showAlert(alert) {
    const list = $("alerts");
    $("alerts-panel").hidden = false;
    const subject = alert.subject || {};
    const showButton = subject.type === "asset" && view.assets[subject.id]
      ? ' <button type="button" class="action secondary" data-show="' + subject.id + '">' + esc(gettext("Show")) + "</button>" : "";
    const item = document.createElement("li");
    item.className = "alert alert-" + esc(alert.status);
    const kind = alertKindLabel(alert);
    item.innerHTML = "<strong>" + esc(kind) + "</strong> " + esc(alert.message) + showButton;
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 5) list.removeChild(list.lastChild);
    announce(fmt(gettext("Alert: %(kind)s. %(message)s"), { kind: kind, message: alert.message }));
  }

  // Location status changes with time alone (located -> stale): refresh labels and markers each 30 s.
  window.setInterval(() => {
    const changed = [];
    Object.values(view.assets).forEach((a) => {
      const status = locationStatus(a);
      if (a._shownStatus !== status && (a._shownStatus !== undefined || status !== a.status)) changed.push(a.room);
      a._shownStatus = status;
    });
    if (changed.length) scheduleRender(changed);
  }, 30000);

  // ------------------------------------------------------------------------------------------------
  // Search: what do I need, where am I

  function setPlace(newPlace) {
    place = newPlace;
    writeStorage(STORAGE.place, place);
    $("search-where").value = place ? place.label : "";
    view.listDirty = true;
    scheduleRender([]);
  }
  function setPlaceFromRoom(room) {
    if (!room) return;
    setPlace({ kind: "room", id: room.id, label: room.code + " · " + room.name + " · " + (view.floor ? view.floor.name : ""), floor: view.floorId });
    announce(fmt(gettext("Where you are: %(room)s. Remembered on this device."), { room: room.code + " " + room.name }));
    $("search-status").textContent = fmt(gettext("Where you are: %(room)s."), { room: room.code + " " + room.name });
  }

  let placeTimer = null;
  async function fetchPlaces(text) {
    const result = await api(config.urls.places + "?q=" + encodeURIComponent(text));
    if (!result.ok) return [];
    const options = $("place-options");
    options.innerHTML = "";
    result.data.places.forEach((p) => {
      placeOptions[p.label] = p;
      const option = document.createElement("option");
      option.value = p.label;
      options.appendChild(option);
    });
    return result.data.places;
  }
  $("search-where").addEventListener("input", (event) => {
    const text = event.target.value;
    if (placeOptions[text]) { setPlace(placeOptions[text]); return; }
    window.clearTimeout(placeTimer);
    placeTimer = window.setTimeout(() => fetchPlaces(text), 150);
  });

  async function resolvePlace() {
    const text = $("search-where").value.trim();
    if (!text) return null;
    if (place && place.label === text) return place;
    if (placeOptions[text]) return placeOptions[text];
    const found = await fetchPlaces(text);
    const exact = found.find((p) => p.label.toLowerCase() === text.toLowerCase() ||
      (p.kind === "unit" && String(p.id).toLowerCase() === text.toLowerCase()) ||
      (p.kind === "room" && p.label.toLowerCase().split(" · ")[0] === text.toLowerCase()));
    if (exact) return exact;
    return found.length === 1 ? found[0] : null;
  }

  function resultDistance(r, originRoomId) {
    return r.room.id === originRoomId ? gettext("in the room you are in")
      : r.same_floor ? fmt(gettext("%(distance)s away"), { distance: metres(r.distance_m) })
        : fmt(r.same_building ? gettext("about %(distance)s away, another floor") : gettext("about %(distance)s away, another building"), { distance: metres(r.distance_m) });
  }

  // What a screen reader says about a result: the tag, type, state, room and distance.
  function resultSummary(r, originRoomId) {
    return fmt(r.status === "stale" ? gettext("%(tag)s, %(type)s, %(state)s (stale), in %(room)s, %(distance)s") : gettext("%(tag)s, %(type)s, %(state)s, in %(room)s, %(distance)s"),
      { tag: r.tag, type: r.type, state: (STATES[r.state] || { label: r.state }).label, room: r.room.code + " " + r.room.name, distance: resultDistance(r, originRoomId) });
  }

  function resultHtml(r, originRoomId) {
    const distance = resultDistance(r, originRoomId);
    const stale = r.status === "stale";
    searchDistances[r.id] = r.room.id !== originRoomId && whereLabel() ? fmt(gettext("%(distance)s from %(place)s"), { distance: distance, place: whereLabel() }) : distance;
    return '<li><button type="button" class="result' + (stale ? " is-stale" : "") + '" data-show="' + r.id + '" data-floor="' + r.floor.id + '">' +
      '<span class="result-head"><strong>' + esc(r.tag) + "</strong> " + esc(r.type) +
      (stale ? ' <span class="stale-label">' + esc(gettext("Stale")) + "</span>" : "") + "</span>" +
      '<span class="result-where">' + esc(r.room.code + " " + r.room.name) + " · " + esc(r.building + ", " + r.floor.name) + "</span>" +
      '<span class="result-meta">' + esc((STATES[r.state] || { label: r.state }).label) + " · " + esc(distance) + ' · <span title="' + esc(fullTime(r.seen)) + '">' + esc(fmt(gettext("last seen %(ago)s"), { ago: ago(r.seen) })) + "</span></span>" +
      "</button></li>";
  }

  async function runSearch(options) {
    const status = $("search-status");
    const results = $("search-results");
    const what = $("search-what").value.trim();
    if (!options.type && !what) { status.textContent = gettext("Say what you need, e.g. infusion pump."); $("search-what").focus(); return; }
    const where = await resolvePlace();
    if (!where) {
      status.textContent = gettext("Choose where you are from the list (a room or a unit), or open a room on the map and choose “I am here”.");
      $("search-where").focus();
      return;
    }
    if (!place || place.label !== where.label) setPlace(where);
    const params = new URLSearchParams();
    if (options.type) params.set("type", options.type); else params.set("q", what);
    if (where.kind === "room") params.set("room", where.id); else params.set("unit", where.id);
    status.textContent = gettext("Searching…");
    results.innerHTML = "";
    const result = await api(config.urls.search + "?" + params.toString());
    if (!result.ok) { status.textContent = result.data.detail; return; }
    const data = result.data;
    if (data.type && options.type === undefined) $("search-what").value = data.type.name;
    if (data.type && options.type) $("search-what").value = data.type.name;
    if (!data.type) {
      status.textContent = data.message;
      results.innerHTML = data.types.length ? "<p>" + esc(gettext("Which one?")) + '</p><div class="type-choices">' + data.types.map((t) => '<button type="button" class="action secondary" data-search-type="' + t.id + '">' + esc(t.name) + "</button>").join("") + "</div>" : "";
      return;
    }
    const originRoomId = data.origin.kind === "room" ? data.origin.id : (data.origin.measured_from || {}).id;
    const render = (r) => resultHtml(r, originRoomId);
    const located = data.results.filter((r) => r.status !== "stale");
    const stale = data.results.filter((r) => r.status === "stale");
    let html = "";
    if (located.length) html += '<h3 class="results-heading">' + esc(fmt(gettext("Nearest available %(type)s"), { type: data.type.name.toLowerCase() })) + "</h3><ol class=\"result-list\">" + located.map(render).join("") + "</ol>";
    if (stale.length) html += '<h3 class="results-heading">' + esc(gettext("Not seen recently (stale): check before walking there")) + '</h3><ol class="result-list stale-list">' + stale.map(render).join("") + "</ol>";
    if (data.types.length) html += '<p class="also">' + esc(gettext("Also matching:")) + " " + data.types.map((t) => '<button type="button" class="link-button" data-search-type="' + t.id + '">' + esc(t.name) + "</button>").join(", ") + "</p>";
    results.innerHTML = html;
    status.textContent = data.results.length
      ? fmt(gettext("%(located)s located, %(stale)s stale (%(type)s) near %(place)s."), { located: located.length, stale: stale.length, type: data.type.name.toLowerCase(), place: where.label.split(" · ")[0] }) + " " +
        fmt(gettext("Nearest: %(summary)s."), { summary: resultSummary(data.results[0], originRoomId) }) + " " + gettext("Choose one to see it on the map.")
      : data.message;
  }

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runSearch({});
  });

  // ------------------------------------------------------------------------------------------------
  // Floor selector, legend, start

  function buildFloorSelect() {
    const select = $("floor-select");
    const groups = {};
    config.floors.forEach((f) => {
      const key = f.site + " · " + f.building;
      if (!groups[key]) {
        groups[key] = document.createElement("optgroup");
        groups[key].label = f.building;
        select.appendChild(groups[key]);
      }
      const option = document.createElement("option");
      option.value = f.id;
      option.textContent = f.building + " · " + f.name;
      groups[key].appendChild(option);
    });
    select.addEventListener("change", () => loadFloor(Number(select.value)));
  }

  function renderLegendSymbols() {
    document.querySelectorAll(".legend-symbol[data-state]").forEach((el) => { el.innerHTML = stateSymbol(el.dataset.state, null); });
    document.querySelectorAll(".legend-symbol[data-status]").forEach((el) => {
      const status = el.dataset.status;
      el.innerHTML = '<span class="asset-marker status-' + status + '">' + markerSymbol("available", null, status) +
        (status === "missing" ? '<span class="badge badge-missing">?</span>' : status === "stale" ? '<span class="badge badge-stale">!</span>' : "") + "</span>";
    });
    document.querySelectorAll(".legend-symbol[data-cluster]").forEach((el) => {
      el.innerHTML = '<span class="group-marker legend-group"><span class="group-count">7</span><span class="group-available">✓3</span></span>';
    });
    document.querySelectorAll(".legend-room").forEach((el) => {
      el.innerHTML = '<svg width="26" height="18" aria-hidden="true" focusable="false"><rect x=".5" y=".5" width="25" height="17" fill="url(#room-' + el.dataset.roomType + ')" stroke="#7b8794"/></svg>';
    });
  }
  function renderLegendTypes() {
    const present = new Set(Object.values(view.assets).map((a) => a.type));
    $("legend-types").innerHTML = config.asset_types.filter((t) => present.has(t.id)).map((t) => (
      '<li><span class="legend-symbol" aria-hidden="true">' + '<svg viewBox="0 0 16 16" width="20" height="20" focusable="false"><rect width="16" height="16" rx="3" fill="#334155"/><g transform="translate(2 2) scale(.75)">' + typeIcon(t.id) + "</g></svg></span> " + esc(t.name) + "</li>"
    )).join("") || "<li>" + esc(gettext("No equipment on this floor.")) + "</li>";
  }

  map.on("zoomend", () => { zoomClass(); if (view.floorId != null) renderAll(); });

  function initialFloor() {
    const hash = /floor=(\d+)/.exec(window.location.hash);
    const ids = new Set(config.floors.map((f) => f.id));
    const candidates = [hash && Number(hash[1]), readStorage(STORAGE.floor), place && place.floor, config.floors.length && config.floors[0].id];
    return candidates.find((id) => id && ids.has(id));
  }

  buildFloorSelect();
  renderLegendSymbols();
  if (window.matchMedia && window.matchMedia("(max-width: 699px)").matches) $("legend").open = false;
  if (place) $("search-where").value = place.label;
  fetchPlaces("");
  const first = initialFloor();
  if (first) loadFloor(first);
  else { $("map-heading").textContent = gettext("No floor plans yet"); setLiveStatus("idle", gettext("No floors to watch.")); }

  // For the browser test and for support: timings and a way to render every item ungrouped.
  window.floorMap = {
    metrics: metrics,
    view: view,
    map: map,
    loadFloor: loadFloor,
    showAsset: showAsset,
    live: live,
    renderUngrouped() { // every item as its own marker, whatever the zoom (until another floor is opened)
      Object.keys(view.rooms).forEach((id) => view.forced.add(Number(id)));
      const ms = renderAll();
      return { ms: ms, markers: Object.values(view.markers).length };
    },
  };
})();
