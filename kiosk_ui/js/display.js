// The hall display (综合屏): calls as they happen, every window, people waiting per theme,
// the latest missed numbers, the hall's notice line, and an emergency over everything.
// The controller owns the truth: each (re)connection re-reads the hall and the stream starts
// with a full `state`; call events only add what a state cannot say (which call is new).
// Optionally it speaks each call (a hall without speakers on the edge box), and then during an
// emergency its message instead, again every [announcer] emergency_repeat, as the speakers do.

import { HALL_EVENTS, LiveStream, fetchJson, h, showLink } from "./live.js";

const FLASH_MS = 4000; // as long as the CSS animation: 8 x 0.5 s
const EARLIER_CALLS = 4;
const RECENT_PER_WINDOW = 3;
// Calls waiting to be spoken; older ones are dropped (the screen showed them long ago).
const VOICE_BACKLOG = 3;

const STATUS_TEXT = {
  closed: ["未开放", "Closed"],
  open: ["空闲", "Open"],
  paused: ["暂停服务", "Paused"],
  calling: ["呼叫中", "Calling"],
  serving: ["办理中", "Serving"],
};

// Events after which the waiting counts, a window's state, the missed numbers or the
// emergency may have changed; the display then re-reads the compact state (one small GET, at
// most about once a second).
const OWN_HANDLERS = ["TicketCalled", "TicketRecalled", "EmergencyStarted", "EmergencyEnded"];
const CHANGES = HALL_EVENTS.filter((name) => !OWN_HANDLERS.includes(name));

const hall = {
  timezone: "Asia/Shanghai",
  day: null,
  clockOffsetMs: 0,
  themes: [], // [{id, name_zh, name_en, prefix}]
  windows: new Map(), // id -> {id, name_zh, name_en, status, ticket, called: [numbers, newest first]}
  waiting: {},
  stoodIn: {}, // theme -> the windows serving it while its own windows are away (同岗替代)
  calls: [], // newest first: {number, window, again}
  missed: [], // the latest no-shows, newest first
  emergency: null, // {message, drill, since (ms)} while one is declared
};

let resyncTimer = null;
let resyncAgain = false;

// ------------------------------------------------------------------ reading the hall

async function readHall() {
  const [info, themes, windows, settings] = await Promise.all([
    fetchJson("/api/v1/hall"),
    fetchJson("/api/v1/themes"),
    fetchJson("/api/v1/windows"),
    fetchJson("/api/v1/display"),
  ]);
  applySettings(settings);
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
  hall.stoodIn = { ...(state.stood_in ?? {}) };
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
  hall.missed = state.missed ?? [];
  const declared = state.emergency;
  setEmergency(declared ? { ...declared, since: Date.parse(declared.since) } : null);
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
  speak(data.number, data.window);
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
          h("span", { class: "stood-in", hidden: "" }),
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
  renderMissed();
}

function renderMissed() {
  const list = document.getElementById("missed");
  const shown = [...list.children].map((li) => li.textContent);
  if (shown.join(" ") !== hall.missed.join(" ")) {
    list.replaceChildren(...hall.missed.map((number) => h("li", { class: "number" }, number)));
  }
  document.getElementById("missed-none").hidden = hall.missed.length > 0;
}

// ------------------------------------------------------------------ the emergency

function setEmergency(emergency) {
  const before = hall.emergency;
  hall.emergency = emergency;
  const same =
    before !== null &&
    emergency !== null &&
    before.message === emergency.message &&
    before.drill === emergency.drill;
  if (!same) {
    renderEmergency();
    if (before !== emergency) {
      followEmergencyVoice(); // not for "still none": calls waiting for a tap stay queued
    }
  }
}

function renderEmergency() {
  const banner = document.getElementById("emergency");
  const emergency = hall.emergency;
  // Everything else stays on the page but is out of reach while the banner covers it.
  for (const part of document.querySelectorAll("header.top, main.board, footer.notice")) {
    part.inert = emergency !== null;
  }
  document.body.dataset.emergency = emergency === null ? "none" : emergency.drill ? "drill" : "real";
  if (emergency === null) {
    banner.hidden = true;
    return;
  }
  banner.dataset.drill = String(emergency.drill);
  document.getElementById("emergency-drill").hidden = !emergency.drill;
  document.getElementById("emergency-title-zh").textContent = emergency.drill ? "紧急演练" : "紧急通知";
  document.getElementById("emergency-title-en").textContent = emergency.drill
    ? "Emergency drill"
    : "Emergency";
  document.getElementById("emergency-message").textContent = emergency.message;
  const since = Number.isNaN(emergency.since)
    ? ""
    : new Intl.DateTimeFormat("zh-CN", {
        timeZone: hall.timezone,
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      }).format(new Date(emergency.since));
  document
    .getElementById("emergency-since")
    .replaceChildren(since ? `${since} 起 ` : "", since ? h("span", { lang: "en" }, `since ${since}`) : "");
  banner.hidden = false;
}

// ------------------------------------------------------------------ the notice line

function applySettings(settings) {
  if (settings.notice_zh || settings.notice_en) {
    document.getElementById("notice-zh").textContent = settings.notice_zh ?? "";
    document.getElementById("notice-en").textContent = settings.notice_en ?? "";
    document.getElementById("notice-zh").hidden = !settings.notice_zh;
    document.getElementById("notice-en").hidden = !settings.notice_en;
  }
  fitNotice();
  const asked = new URLSearchParams(location.search).get("voice");
  if (asked !== null) {
    voice.enabled = ["1", "on", "true", "yes"].includes(asked.toLowerCase());
  } else {
    voice.enabled = settings.voice === true;
  }
  voice.audio = settings.voice_audio === true;
  if (settings.emergency_repeat_s > 0) {
    voice.emergencyRepeatMs = settings.emergency_repeat_s * 1000;
  }
  document.body.dataset.voice = voice.enabled ? (voice.audio ? "audio" : "speech") : "off";
}

/** A notice longer than the screen is wide scrolls by; a short one stands still. */
function fitNotice() {
  const line = document.getElementById("notice");
  line.classList.remove("scrolling");
  const overflow = line.scrollWidth - line.parentElement.clientWidth;
  if (overflow > 0) {
    line.style.setProperty("--notice-shift", `${-overflow}px`);
    // About 60 px a second, however long the notice is.
    line.style.setProperty("--notice-seconds", `${Math.max(8, Math.round(overflow / 60) + 4)}s`);
    line.classList.add("scrolling");
  }
}

// ------------------------------------------------------------------ speaking the calls

const voice = {
  enabled: false, // the hall's [display] voice setting, or ?voice=1 / ?voice=0
  audio: false, // the controller renders each call in its own voice (a WAV)
  queue: [], // calls still to be spoken: {number, window}, or {emergency: true, message, drill}
  speaking: false, // queue[0] is being spoken
  blocked: false, // the browser refused to play until someone touches the screen
  emergencyRepeatMs: 60000, // the hall's [announcer] emergency_repeat
  emergencyTimer: null,
};

/** An emergency declared or ended: its message is spoken now and repeated, or no more. Calls
 * waiting are dropped; one being spoken ends first, as does a message being spoken at the end. */
function followEmergencyVoice() {
  showSoundButton();
  clearInterval(voice.emergencyTimer);
  voice.emergencyTimer = null;
  voice.queue = voice.queue.filter((item, index) => index === 0 && voice.speaking);
  if (hall.emergency === null || !voice.enabled) {
    return;
  }
  sayEmergency();
  voice.emergencyTimer = setInterval(sayEmergency, voice.emergencyRepeatMs);
}

/** The tap-to-enable button, while the browser refuses sound: on the emergency's banner while
 * one covers the screen (the rest of the page is out of reach then). */
function showSoundButton() {
  const during = hall.emergency !== null;
  document.getElementById("sound-enable").hidden = !voice.blocked || during;
  document.getElementById("emergency-sound").hidden = !voice.blocked || !during;
}

function sayEmergency() {
  const emergency = hall.emergency;
  const waiting = voice.queue.some((item, index) => item.emergency && !(index === 0 && voice.speaking));
  if (emergency === null || waiting) {
    return; // still waiting to be said (a refused autoplay, a long message): once is enough
  }
  voice.queue.push({ emergency: true, message: emergency.message, drill: emergency.drill });
  if (!voice.speaking && !voice.blocked) {
    sayNext();
  }
}

function speak(number, windowId) {
  if (!voice.enabled || hall.emergency !== null) {
    return; // during an emergency, calls are not spoken over it
  }
  voice.queue = voice.queue.filter((c) => !(c.number === number && c.window === windowId));
  voice.queue.push({ number, window: windowId });
  voice.queue = voice.queue.slice(-VOICE_BACKLOG);
  if (!voice.speaking && !voice.blocked) {
    sayNext();
  }
}

/** The call as the browser's own voice reads it: each character on its own ("A 0 1 2"); an
 * emergency's message behind its mark, as the speakers say it. */
function spokenText(call) {
  if (call.emergency) {
    return `${call.drill ? "演练" : "紧急通知"}：${call.message}`;
  }
  const [zh] = windowNames(call.window);
  const digits = call.number.split("").join(" ");
  const where = /^\d+$/.test(call.window) ? `${call.window} 号窗口` : zh;
  return `请 ${digits} 号 到 ${where}`;
}

function sayNext() {
  const call = voice.queue[0];
  if (call === undefined || voice.blocked) {
    voice.speaking = false;
    return;
  }
  voice.speaking = true;
  const done = () => {
    voice.queue.shift();
    sayNext();
  };
  const refused = () => {
    // Kept at the head of the queue: spoken as soon as sound is allowed.
    voice.blocked = true;
    voice.speaking = false;
    showSoundButton();
  };
  if (voice.audio && !call.speech) {
    playAudio(call, done, refused, () => {
      call.speech = true; // the controller could not give the audio: the browser says it
      sayNext();
    });
  } else {
    speakInBrowser(call, done, refused);
  }
}

function playAudio(call, done, refused, failed) {
  const audio = document.getElementById("call-audio");
  const query = new URLSearchParams({ ticket: call.number, window: call.window });
  audio.onended = done;
  audio.onerror = failed;
  // The emergency's address renders only the message declared now: nobody can make it say more.
  audio.src = call.emergency ? "/api/v1/voice/emergency.wav" : `/api/v1/voice/call.wav?${query}`;
  audio.dataset.call = call.emergency ? "emergency" : `${call.number} ${call.window}`;
  // play() is called in the same turn as a tap on the sound button: the tap allows it.
  audio.play().catch((error) => {
    if (error.name === "NotAllowedError") {
      refused();
    }
    // Other failures (no such audio, a broken file) come as the element's error event.
  });
}

function speakInBrowser(call, done, refused) {
  const synth = window.speechSynthesis;
  if (synth === undefined) {
    voice.queue = [];
    voice.speaking = false;
    return; // a browser without speech: the screen alone shows the call
  }
  const utterance = new SpeechSynthesisUtterance(spokenText(call));
  utterance.lang = "zh-CN";
  const chinese = synth.getVoices().find((v) => v.lang.replace("_", "-").startsWith("zh-CN"));
  if (chinese !== undefined) {
    utterance.voice = chinese;
  }
  utterance.onend = done;
  utterance.onerror = (event) => (event.error === "not-allowed" ? refused() : done());
  synth.speak(utterance);
}

function enableSound() {
  voice.blocked = false;
  showSoundButton();
  sayNext();
}

function renderWaiting() {
  let total = 0;
  for (const t of hall.themes) {
    const n = hall.waiting[t.id] ?? 0;
    total += n;
    const row = document.querySelector(`tr[data-theme="${CSS.escape(t.id)}"]`);
    if (row === null) {
      continue;
    }
    row.querySelector(".count").textContent = String(n);
    // 同岗替代: say where the theme is served while its own windows are away.
    const note = row.querySelector(".stood-in");
    const standing = hall.stoodIn[t.id] ?? [];
    note.hidden = standing.length === 0;
    note.replaceChildren(
      ...(standing.length === 0
        ? []
        : [
            `暂由 ${standing.join("、")} 号窗口办理`,
            h("span", { class: "en", lang: "en" }, `now at window ${standing.join(", ")}`),
          ]),
    );
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
  EmergencyStarted: (data) => {
    setEmergency({ message: data.message, drill: data.drill, since: data.at * 1000 });
    scheduleResync();
  },
  EmergencyEnded: () => {
    setEmergency(null);
    scheduleResync();
  },
};
for (const name of CHANGES) {
  handlers[name] = scheduleResync;
}

const stream = new LiveStream("/api/v1/events", handlers, {
  prepare: readHall,
  onLive: () => showLink("live"),
  onLost: () => showLink("reconnecting"),
});

document.getElementById("sound-enable").addEventListener("click", enableSound);
document.getElementById("emergency-sound").addEventListener("click", enableSound);
window.addEventListener("resize", fitNotice);
tick();
setInterval(tick, 1000);
stream.start();
