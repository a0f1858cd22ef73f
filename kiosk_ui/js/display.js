// The hall display (综合屏): calls as they happen, every window, people waiting per theme.
// The controller owns the truth: each (re)connection re-reads the hall and the stream starts
// with a full `state`; call events only add what a state cannot say (which call is new).

import { HALL_EVENTS, LiveStream, fetchJson, h, showLink } from "./live.js";

const FLASH_MS = 4000; // as long as the CSS animation: 8 x 0.5 s
const EARLIER_CALLS = 4;
const RECENT_PER_WINDOW = 3;

const STATUS_TEXT = {
  closed: ["未开放", "Closed"],
  open: ["空闲", "Open"],
  paused: ["暂停服务", "Paused"],
  calling: ["呼叫中", "Calling"],
  serving: ["办理中", "Serving"],
};

// Events after which the waiting counts or a window's state may have changed; the display
// then re-reads the compact state (one small GET, at most about once a second).
const CHANGES = HALL_EVENTS.filter((name) => name !== "TicketCalled" && name !== "TicketRecalled");

const hall = {
  timezone: "Asia/Shanghai",
  day: null,
  clockOffsetMs: 0,
  themes: [], // [{id, name_zh, name_en, prefix}]
  windows: new Map(), // id -> {id, name_zh, name_en, status, ticket, called: [numbers, newest first]}
  waiting: {},
  calls: [], // newest first: {number, window, again}
};

let resyncTimer = null;
let resyncAgain = false;

// ------------------------------------------------------------------ reading the hall

async function readHall() {
  const [info, themes, windows] = await Promise.all([
    fetchJson("/api/v1/hall"),
    fetchJson("/api/v1/themes"),
    fetchJson("/api/v1/windows"),
  ]);
  hall.timezone = info.timezone || hall.timezone;
  document.getElementById("hall-zh").textContent = info.name_zh;
  document.getElementById("hall-en").textContent = info.name_en;
  document.title = `${info.name_zh} · 综合屏 Hall display`;
  hall.themes = themes.map(({ id, name_zh, name_en, prefix }) => ({ id, name_zh, name_en, prefix }));
  const known = hall.windows;
  hall.windows = new Map(
    windows.map((w) => [
      w.id,
      {
        id: w.id,
        name_zh: w.name_zh,
        name_en: w.name_en,
        status: w.status,
        ticket: w.ticket ? w.ticket.number : null,
        called: known.get(w.id)?.called ?? [],
      },
    ]),
  );
  buildThemes();
  buildWindows();
  applyState(info.state);
  return true;
}

function applyState(state) {
  if (hall.day !== null && state.day !== hall.day) {
    // A new business day: yesterday's calls mean nothing to anyone in the hall.
    hall.calls = [];
    for (const w of hall.windows.values()) {
      w.called = [];
    }
  }
  hall.day = state.day;
  const serverNow = Date.parse(state.at);
  if (!Number.isNaN(serverNow)) {
    hall.clockOffsetMs = serverNow - Date.now();
  }
  hall.waiting = { ...state.waiting };
  const missed = [];
  for (const [id, view] of Object.entries(state.windows)) {
    const w = hall.windows.get(id);
    if (w === undefined) {
      continue; // a window the controller's config gained: the next reconnect builds it
    }
    w.status = view.status;
    w.ticket = view.ticket;
    // A call made while the display was off or cut off is shown as the latest one: it is
    // newer than anything the display heard itself.
    if (view.status === "calling" && view.ticket && !w.called.includes(view.ticket)) {
      w.called = [view.ticket, ...w.called].slice(0, RECENT_PER_WINDOW + 1);
      missed.push({ number: view.ticket, window: id, again: false });
    }
  }
  hall.calls = [...missed, ...hall.calls].slice(0, EARLIER_CALLS + 1);
  renderAll();
}

function scheduleResync() {
  if (resyncTimer !== null) {
    resyncAgain = true;
    return;
  }
  // A little jitter: the hall's screens do not all ask in the same millisecond.
  resyncTimer = setTimeout(resync, 300 + Math.random() * 400);
}

async function resync() {
  resyncAgain = false;
  try {
    const info = await fetchJson("/api/v1/hall");
    applyState(info.state);
  } catch {
    // The stream notices a lost controller by itself; the next state corrects the counts.
  } finally {
    resyncTimer = null;
    if (resyncAgain) {
      scheduleResync();
    }
  }
}

// ------------------------------------------------------------------ calls

function called(data, again) {
  const w = hall.windows.get(data.window);
  const number = data.number;
  if (w !== undefined) {
    w.called = [number, ...w.called.filter((n) => n !== number)].slice(0, RECENT_PER_WINDOW + 1);
    w.status = "calling";
    w.ticket = number;
  }
  const others = hall.calls.filter((c) => !(c.number === number && c.window === data.window));
  hall.calls = [{ number, window: data.window, again }, ...others].slice(0, EARLIER_CALLS + 1);
  renderAll();
  flash(document.getElementById("current-call"));
  const card = document.querySelector(`.window[data-window="${CSS.escape(data.window)}"]`);
  if (card !== null) {
    flash(card);
  }
}

function flash(element) {
  clearTimeout(element.flashTimer);
  element.classList.remove("flash");
  void element.offsetWidth; // restart the animation for a call that follows another
  element.classList.add("flash");
  element.flashTimer = setTimeout(() => element.classList.remove("flash"), FLASH_MS);
}

function windowNames(id) {
  const w = hall.windows.get(id);
  return w ? [w.name_zh, w.name_en] : [`${id}号窗口`, `Window ${id}`];
}

// ------------------------------------------------------------------ drawing

function buildThemes() {
  const body = document.getElementById("themes");
  body.replaceChildren(
    ...hall.themes.map((t) =>
      h(
        "tr",
        { "data-theme": t.id },
        h(
          "th",
          { scope: "row" },
          h("span", { class: "prefix", "aria-hidden": "true" }, t.prefix),
          t.name_zh,
          h("span", { class: "en", lang: "en" }, t.name_en),
        ),
        h("td", { class: "count figure" }, "0"),
      ),
    ),
  );
}

function buildWindows() {
  const grid = document.getElementById("windows");
  const count = hall.windows.size;
  grid.style.setProperty("--window-columns", String(Math.max(4, Math.ceil(count / 3))));
  grid.replaceChildren(
    ...[...hall.windows.values()].map((w) =>
      h(
        "li",
        { class: "window", "data-window": w.id },
        h(
          "h3",
          {},
          h("span", {}, w.name_zh),
          h("span", { class: "en", lang: "en" }, w.name_en),
        ),
        h(
          "p",
          { class: "now" },
          h("span", { class: "number" }),
          h("span", { class: "status" }),
        ),
        h("p", { class: "recent" }),
      ),
    ),
  );
}

function renderAll() {
  renderWaiting();
  renderWindows();
  renderCalls();
}

function renderWaiting() {
  let total = 0;
  for (const t of hall.themes) {
    const n = hall.waiting[t.id] ?? 0;
    total += n;
    const cell = document.querySelector(`tr[data-theme="${CSS.escape(t.id)}"] .count`);
    if (cell !== null) {
      cell.textContent = String(n);
    }
  }
  document.getElementById("waiting-total").textContent = String(total);
}

function renderWindows() {
  for (const w of hall.windows.values()) {
    const card = document.querySelector(`.window[data-window="${CSS.escape(w.id)}"]`);
    if (card === null) {
      continue;
    }
    card.dataset.status = w.status;
    const [zh, en] = STATUS_TEXT[w.status] ?? [w.status, w.status];
    card.querySelector(".number").textContent = w.ticket ?? "—";
    card.querySelector(".status").replaceChildren(zh, " ", h("span", { class: "en", lang: "en" }, en));
    const recent = card.querySelector(".recent");
    const earlier = w.called.filter((n) => n !== w.ticket).slice(0, RECENT_PER_WINDOW);
    if (earlier.length > 0) {
      recent.replaceChildren("已呼叫 ", h("span", { lang: "en" }, "Called"), `: ${earlier.join(" · ")}`);
    } else {
      recent.replaceChildren("\u00a0");
    }
  }
}

function renderCalls() {
  const current = document.getElementById("current-call");
  const [latest, ...earlier] = hall.calls;
  if (latest === undefined) {
    current.dataset.state = "none";
    current.replaceChildren(
      h("p", { class: "call-zh" }, "暂无呼叫"),
      h("p", { class: "call-en en", lang: "en" }, "No calls yet"),
    );
  } else {
    const [zh, en] = windowNames(latest.window);
    current.dataset.state = latest.again ? "recalled" : "called";
    current.dataset.window = latest.window;
    current.replaceChildren(
      h(
        "p",
        { class: "call-zh" },
        "请 ",
        h("span", { class: "number" }, latest.number),
        " 号 到 ",
        h("span", { class: "call-window" }, zh),
        " 办理",
      ),
      h(
        "p",
        { class: "call-en en", lang: "en" },
        h("span", { class: "number" }, latest.number),
        ` → ${en}`,
        latest.again ? [" ", h("span", { class: "call-again" }, "再次呼叫 · Called again")] : null,
      ),
    );
  }
  document.getElementById("earlier-calls").replaceChildren(
    ...earlier.slice(0, EARLIER_CALLS).map((c) => {
      const [zh, en] = windowNames(c.window);
      return h(
        "li",
        {},
        h("span", { class: "number" }, c.number),
        ` → ${zh} `,
        h("span", { class: "en", lang: "en" }, en),
      );
    }),
  );
}

// ------------------------------------------------------------------ the clock

function tick() {
  const now = new Date(Date.now() + hall.clockOffsetMs);
  const zone = { timeZone: hall.timezone };
  const time = new Intl.DateTimeFormat("zh-CN", {
    ...zone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(now);
  const clock = document.getElementById("clock-time");
  clock.textContent = time;
  clock.dateTime = time;
  document.getElementById("clock-date").textContent = new Intl.DateTimeFormat("zh-CN", {
    ...zone,
    year: "numeric",
    month: "long",
    day: "numeric",
    weekday: "long",
  }).format(now);
  document.getElementById("clock-date-en").textContent = new Intl.DateTimeFormat("en-GB", {
    ...zone,
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
  }).format(now);
}

// ------------------------------------------------------------------ start

const handlers = {
  state: applyState,
  TicketCalled: (data) => {
    called(data, false);
    scheduleResync();
  },
  TicketRecalled: (data) => called(data, true),
};
for (const name of CHANGES) {
  handlers[name] = scheduleResync;
}

const stream = new LiveStream("/api/v1/events", handlers, {
  prepare: readHall,
  onLive: () => showLink("live"),
  onLost: () => showLink("reconnecting"),
});

tick();
setInterval(tick, 1000);
stream.start();
