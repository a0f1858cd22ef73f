// The kiosk (自助取号机): an applicant chooses a service and takes a ticket, printed or shown
// with its QR code. Everything on the screen is drawn from `ui` and the controller's data by
// render(), so switching the language or the elderly mode redraws it all in the new order.
// The kiosk's stream brings ID cards read and codes scanned at this kiosk, failed prints, and
// the kiosk's printer every 10 s.

import {
  HttpError,
  LiveStream,
  csrfToken,
  fetchJson,
  h as element,
  showLink,
  signInUrl,
} from "./live.js";

const REQUEST_TIMEOUT_MS = 45000; // the controller gives a print 30 s to be confirmed
const HELP_TIMEOUT_MS = 5000;
const THEMES_EVERY_MS = 5000; // the waiting counts are re-read at most this often
const NOTICE_MS = 8000;
const SCAN_SHOWN_S = 10; // a scanned ticket's status stays this long (or the idle time)
const ELDERLY_PAGE = 4; // themes per page in elderly mode

// ------------------------------------------------------------------ what the page is for

function kioskOfPage() {
  const match = /\/kiosk\/([^/]+)/.exec(window.location.pathname);
  if (match) {
    try {
      return decodeURIComponent(match[1]);
    } catch {
      return "";
    }
  }
  // The page opened as a file under /ui/ names its kiosk in the query: kiosk.html?kiosk=k1.
  return new URLSearchParams(window.location.search).get("kiosk") ?? "";
}

function idleSecondsOfPage() {
  const asked = new URLSearchParams(window.location.search).get("idle") ?? document.body.dataset.idleSeconds;
  const seconds = Number(asked);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 60;
}

const kioskId = kioskOfPage();
const kioskPath = `/api/v1/kiosks/${encodeURIComponent(kioskId)}`;
const idleSeconds = idleSecondsOfPage();

// ------------------------------------------------------------------ state

const hall = {
  name_zh: "政务服务中心",
  name_en: "Government service centre",
  groups: [], // [{id, name_zh, name_en, min_age}]
  themes: null, // null until first read: [{id, name_zh, name_en, open_now, waiting, ...}]
  windows: new Map(), // id -> {zh, en}
  kiosks: new Map(), // id -> {zh, en}
  kiosk: null, // this kiosk's view: {id, name_zh, name_en, printer, other_printers}
  day: null, // the business day, "YYYY-MM-DD"
  unknown: false, // the controller has no kiosk of this id
};

const RESTING = {
  // start | asking | printing | ticket | problem | scan | appointment | full | booked | help
  screen: "start",
  theme: null, // the theme chosen, while elderly mode asks about priority
  lang: "zh",
  elderly: false,
  page: 0,
  declared: null, // the priority group the applicant declared
  card: null, // {token, name, id_number, priority, expired} | {failed} | {contact, number}
  result: null, // the reply to the ticket request
  problem: null, // {zh, en, retry}
  scan: null, // a scanned ticket's view
  appointment: null, // a scanned booking: {code, view: {slot, theme_name_zh, state, ...}}
  full: null, // a full theme's refusal: {theme, reason, message_zh, return_at, next_slot, ...}
  help: null, // asking | paged | desk
  printFailed: false,
};

const ui = { ...RESTING, busy: false, pending: null };

let shownScreen = null;
let idleTimer = null;
let cardTimer = null;
let scanTimer = null;
let noticeTimer = null;
let themesReadAt = 0;

// ------------------------------------------------------------------ words

const zhFirst = () => ui.lang === "zh";

/** A Chinese and English pair, the chosen language first; both are always on the screen. */
function pair(zh, en, tag = "span") {
  const [first, second] = zhFirst()
    ? [[zh, "zh-CN"], [en, "en"]]
    : [[en, "en"], [zh, "zh-CN"]];
  return [
    h(tag, { class: "first", lang: first[1] }, first[0]),
    " ",
    h(tag, { class: "second", lang: second[1] }, second[0]),
  ];
}

function waitWords(seconds) {
  if (seconds === null || seconds === undefined) {
    return ["暂无预计", "no estimate"];
  }
  if (seconds < 60) {
    return ["1 分钟内", "under a minute"];
  }
  const minutes = Math.ceil(seconds / 60);
  return [`约 ${minutes} 分钟`, `about ${minutes} min`];
}

function hoursWords(theme) {
  const hours = theme.hours ?? [];
  return [hours.join("、"), hours.join(", ")];
}

/** Why a theme gives no ticket now, or null when it does (a full theme: see fullWords). */
function unavailable(theme) {
  if (!theme.open_now) {
    const [zh, en] = hoursWords(theme);
    return [`现在不取号 · 取号时间 ${zh}`, `Not issuing now · hours ${en}`];
  }
  return null;
}

/** A full theme's button: why it is full and what it offers instead, or null when it is not. */
function fullWords(theme) {
  const capacity = theme.capacity;
  if (!capacity?.full) {
    return null;
  }
  let [zh, en] = ["今日已满", "Full today"];
  if (capacity.reason === "quota" && capacity.return_at) {
    [zh, en] = [`本时段已满 · ${capacity.return_at} 后可取号`, `Full for now · tickets from ${capacity.return_at}`];
  }
  if (capacity.next_slot) {
    [zh, en] = [`${zh} · 可预约`, `${en} · appointments open`];
  }
  return [zh, en];
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const SLOT_ISO = /^(\d{4}-(\d{2})-(\d{2}))T(\d{2}:\d{2})/;

/** A slot's day from its ISO text: ["今天", "today"] or ["11月30日", "30 Nov"]. */
function dayWords(iso) {
  const match = SLOT_ISO.exec(iso ?? "");
  if (!match) {
    return ["", ""];
  }
  const [, day, month, date] = match;
  if (day === hall.day) {
    return ["今天", "today"];
  }
  return [`${Number(month)}月${Number(date)}日`, `${Number(date)} ${MONTHS[Number(month) - 1]}`];
}

/** A slot's day and time: ["今天 09:30", "today 09:30"] or ["11月30日 09:30", "30 Nov 09:30"]. */
function slotWords(iso) {
  const clock = SLOT_ISO.exec(iso ?? "")?.[4] ?? "";
  const [zh, en] = dayWords(iso);
  return [`${zh} ${clock}`, `${en} ${clock}`];
}

function priorityWords(groupId) {
  const group = hall.groups.find((g) => g.id === groupId);
  if (!group) {
    return ["优先", "Priority"];
  }
  if (group.min_age !== null && group.min_age !== undefined) {
    return ["长者优先", "Elderly priority"];
  }
  return [`优先 · ${group.name_zh}`, `Priority · ${group.name_en}`];
}

function windowWords(windowId) {
  const names = hall.windows.get(windowId);
  return names ? [names.zh, names.en] : [`${windowId}号窗口`, `Window ${windowId}`];
}

function kioskWords(kiosk) {
  const names = hall.kiosks.get(kiosk.kiosk);
  return [kiosk.name_zh, names ? names.en : kiosk.kiosk];
}

// What a scanned ticket's status asks of its holder: [Chinese, English].
const STATUS_WORDS = {
  waiting: () => ["请耐心等候叫号", "Please wait to be called"],
  called: (t) => {
    const [zh, en] = windowWords(t.window);
    return [`请到 ${zh} 办理`, `Please go to ${en}`];
  },
  serving: (t) => {
    const [zh, en] = windowWords(t.window);
    return [`正在 ${zh} 办理`, `Being served at ${en}`];
  },
  finished: () => ["已办理完毕", "Finished"],
  no_show: () => ["已过号，请到咨询台", "Your number was missed. Please ask at the information desk."],
  held: () => ["暂缓办理，请留意再次叫号", "On hold: you will be called again"],
  cancelled: () => ["此号已取消", "This ticket was cancelled"],
  printing: () => ["正在出票", "Being printed"],
  voided: () => ["此号已作废，请重新取号", "This ticket was voided. Please take a new one."],
};

/** A refused ticket request in plain words: {zh, en, retry}. */
function problemOf(status, error) {
  const message = typeof error?.message === "string" ? error.message : "";
  if (error?.code === "too_early") {
    const at = error.details?.come_back_at ?? "";
    return { zh: `还未到签到时间，请于 ${at} 后签到`, en: `Too early to check in: please come back from ${at}` };
  }
  const checked = /already checked in: ticket (\S+)/.exec(message);
  if (checked) {
    return { zh: `此预约已签到，号码 ${checked[1]}`, en: `This booking is already checked in: ticket ${checked[1]}` };
  }
  const held = /already holds ticket (\S+)/.exec(message);
  if (held) {
    return {
      zh: `您已取过此业务的号（${held[1]}），请等候叫号`,
      en: `You already hold ticket ${held[1]} for this service. Please wait to be called.`,
    };
  }
  if (/read it again/.test(message)) {
    return {
      zh: "身份证信息已过期，请重新刷身份证后再取号",
      en: "The ID card reading has expired. Please place your card on the reader again.",
    };
  }
  if (error?.code === "slot_full") {
    return { zh: "该时段刚被约满，请返回重新选择", en: "That slot has just been booked up. Please go back and choose again." };
  }
  if (error?.code === "theme_unavailable") {
    if (/issued all/.test(message)) {
      return { zh: "今日此业务的号已取完", en: "All of today's tickets for this service are taken." };
    }
    return { zh: "此业务现在不在取号时间", en: "This service is not issuing tickets now." };
  }
  if (status === 503) {
    return {
      zh: "系统繁忙，请稍后再试",
      en: "The system is busy. Please try again in a moment.",
      retry: true,
    };
  }
  return {
    zh: "未能取号，请到咨询台",
    en: "The ticket could not be taken. Please ask at the information desk.",
  };
}

/** The screen ticket's headline: what the printer's reason means for the applicant. */
function screenTicketWords(reason) {
  if (/no printer/.test(reason)) {
    return ["本机不能打印，请拍下二维码", "This kiosk cannot print: take a photo of the QR code"];
  }
  if (/out of paper/.test(reason)) {
    return ["打印机缺纸，请拍下二维码", "The printer is out of paper: take a photo of the QR code"];
  }
  return ["打印机故障，请拍下二维码", "Printer unavailable: take a photo of the QR code"];
}

// ------------------------------------------------------------------ reading the controller

async function readKiosk() {
  if (kioskId === "") {
    hall.unknown = true;
    render();
    return false;
  }
  const own = fetchJson(kioskPath).catch((error) => {
    if (error instanceof HttpError && error.status === 404) {
      return null;
    }
    throw error;
  });
  const [view, info, themes, windows, kiosks] = await Promise.all([
    own,
    fetchJson("/api/v1/hall"),
    fetchJson("/api/v1/themes"),
    fetchJson("/api/v1/windows"),
    fetchJson("/api/v1/kiosks"),
  ]);
  hall.name_zh = info.name_zh;
  hall.name_en = info.name_en;
  hall.groups = info.priority_groups ?? [];
  hall.day = info.state?.day ?? null;
  hall.themes = themes;
  themesReadAt = Date.now();
  hall.windows = new Map(windows.map((w) => [w.id, { zh: w.name_zh, en: w.name_en }]));
  hall.kiosks = new Map(kiosks.map((k) => [k.id, { zh: k.name_zh, en: k.name_en }]));
  hall.unknown = view === null;
  hall.kiosk = view;
  render();
  return view !== null; // a kiosk the controller does not know has nothing to follow
}

/** Re-read the themes (waiting counts, open or full), at most every few seconds. */
async function readThemes({ now = false } = {}) {
  if (!now && Date.now() - themesReadAt < THEMES_EVERY_MS) {
    return;
  }
  themesReadAt = Date.now();
  let themes;
  try {
    themes = await fetchJson("/api/v1/themes");
  } catch {
    return; // the stream notices a controller that is away; the last counts stay
  }
  if (JSON.stringify(themes) !== JSON.stringify(hall.themes)) {
    hall.themes = themes;
    if (ui.screen === "start") {
      render();
    }
  }
}

async function postJson(url, body, key, timeoutMs) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await fetch(url, {
      method: "POST",
      signal: abort.signal,
      cache: "no-store",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "Idempotency-Key": key,
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(body),
    });
    if (response.status === 401) {
      location.assign(signInUrl()); // the kiosk's session ended: a technician signs it in again
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return { ok: response.ok, status: response.status, body: data };
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh Idempotency-Key: one per tap on a theme, kept for that request's retries. */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `kiosk-${kioskId}-${random}`.slice(0, 128);
}

// ------------------------------------------------------------------ what the applicant does

function declarableGroups() {
  return hall.groups.filter((g) => g.min_age === null || g.min_age === undefined);
}

function themeChosen(themeId) {
  if (ui.busy) {
    return; // the second tap of a double tap: the first one's ticket is on its way
  }
  const theme = (hall.themes ?? []).find((t) => t.id === themeId);
  if (!theme) {
    return;
  }
  const why = unavailable(theme);
  if (why) {
    notice(...why);
    return;
  }
  // Elderly mode asks about priority on a screen of its own, unless the card has answered.
  if (ui.elderly && !ui.card?.priority && declarableGroups().length > 0) {
    ui.theme = theme.id;
    ui.screen = "asking";
    render();
    return;
  }
  takeTicket(theme.id, ui.declared);
}

async function takeTicket(themeId, priority) {
  if (ui.busy) {
    return;
  }
  ui.pending = {
    key: newKey(),
    body: {
      theme: themeId,
      priority,
      card: ui.card?.token ?? null,
      print: true,
    },
  };
  await send();
}

/** Check a booking in (by its scanned code or the card read): one tap, its ticket printed. */
async function checkIn(body) {
  if (ui.busy) {
    return;
  }
  ui.pending = { key: newKey(), body: { code: null, card: null, ...body }, url: `${kioskPath}/check-in` };
  await send();
}

/** Book the slot a full theme offered: with the card read here, else with a booking code. */
async function bookSlot() {
  const slot = ui.full?.next_slot;
  if (ui.busy || !slot) {
    return;
  }
  ui.pending = {
    key: newKey(),
    body: { theme: slot.theme, slot: slot.at, card: ui.card?.token ?? null },
    url: `${kioskPath}/appointments`,
    then: "booked",
  };
  await send();
}

async function send() {
  if (ui.busy || ui.pending === null) {
    return; // a second tap on Try again: the same request is already on its way
  }
  const { key, body } = ui.pending;
  const url = ui.pending.url ?? `${kioskPath}/tickets`;
  const then = ui.pending.then ?? "ticket";
  ui.busy = true;
  ui.printFailed = false;
  ui.screen = "printing";
  render();
  let reply = null;
  try {
    reply = await postJson(url, body, key, REQUEST_TIMEOUT_MS);
  } catch {
    reply = null; // no answer: the same key asks again, so a ticket is never taken twice
  } finally {
    ui.busy = false;
  }
  // A full theme keeps the card reading: it may book the slot offered instead.
  const full = reply?.status === 409 && reply.body?.error?.code === "theme_full";
  if (body.card !== null && ui.card?.token === body.card && !full) {
    forgetCard(); // a card reading is good for one request (a new swipe during it is kept)
  }
  if (reply === null) {
    ui.problem = {
      zh: "网络连接中断，请再试一次",
      en: "The connection was lost. Please try again.",
      retry: true,
    };
    ui.screen = "problem";
  } else if (reply.ok) {
    ui.result = reply.body;
    ui.pending = null;
    ui.declared = null;
    ui.theme = null;
    ui.screen = then;
  } else if (full) {
    ui.full = reply.body.error.details;
    ui.pending = null;
    ui.screen = "full";
  } else {
    ui.problem = problemOf(reply.status, reply.body?.error);
    if (!ui.problem.retry) {
      ui.pending = null;
    }
    ui.screen = "problem";
  }
  touched();
  render();
}

async function askForHelp() {
  ui.help = "asking";
  ui.screen = "help";
  render();
  // Staff are paged only when the controller says so: there is no pretending on this screen.
  let paged = false;
  try {
    const reply = await postJson(`${kioskPath}/help`, {}, newKey(), HELP_TIMEOUT_MS);
    paged = reply.ok;
  } catch {
    paged = false;
  }
  if (ui.screen === "help") {
    ui.help = paged ? "paged" : "desk";
    render();
  }
}

function toStart() {
  clearTimeout(scanTimer);
  Object.assign(ui, {
    screen: "start",
    theme: null,
    result: null,
    problem: null,
    scan: null,
    appointment: null,
    full: null,
    help: null,
    printFailed: false,
  });
  if (!ui.busy) {
    ui.pending = null;
  }
  render();
  readThemes({ now: true });
}

function forgetCard() {
  clearTimeout(cardTimer);
  ui.card = null;
}

/** Back to the start screen, standard mode, Chinese first: ready for the next applicant. */
function startOver() {
  if (ui.busy) {
    touched(); // a ticket is on its way: its answer is shown first
    return;
  }
  const resting =
    Object.entries(RESTING).every(([name, value]) => ui[name] === value) && ui.pending === null;
  if (resting) {
    return;
  }
  clearTimeout(scanTimer);
  clearTimeout(noticeTimer);
  document.getElementById("notice").hidden = true;
  forgetCard();
  Object.assign(ui, RESTING, { pending: null });
  if ("speechSynthesis" in window) {
    window.speechSynthesis.cancel();
  }
  render();
  readThemes({ now: true });
}

function touched() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(startOver, idleSeconds * 1000);
}

function notice(zh, en) {
  const box = document.getElementById("notice");
  box.replaceChildren(...pair(zh, en));
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    box.hidden = true;
  }, NOTICE_MS);
}

// ------------------------------------------------------------------ what the kiosk hears

function cardRead(data) {
  touched();
  forgetCard();
  if (data.kind === "resident" && data.ok) {
    ui.card = {
      token: data.card,
      name: data.name,
      id_number: data.id_number,
      priority: data.priority,
      expired: data.expired,
      appointment: data.appointment ?? null, // the person's booking of today, if any
    };
    // The controller forgets the reading after this long; so does the screen.
    cardTimer = setTimeout(() => {
      ui.card = null;
      render();
    }, (data.usable_for_s ?? 120) * 1000);
  } else if (data.kind === "resident") {
    ui.card = { failed: true };
  } else {
    ui.card = { contact: true, number: data.card_number ?? null };
  }
  if (ui.busy) {
    return; // shown with the start screen, after the ticket on its way
  }
  if (ui.screen !== "start") {
    toStart(); // a card on another screen is the next applicant's
    return;
  }
  render();
}

function codeScanned(data) {
  touched();
  if (ui.busy) {
    return;
  }
  if (data.kind === "appointment") {
    ui.appointment = { code: data.code, view: data.appointment };
    ui.screen = "appointment";
    render();
    clearTimeout(scanTimer);
    return; // stays until checked in, Back, or the idle reset
  }
  if (data.kind !== "ticket") {
    notice(
      "无法识别此码；预约签到请到咨询台",
      "This code is not recognised. For an appointment, please ask at the information desk.",
    );
    return;
  }
  ui.scan = data.ticket;
  ui.screen = "scan";
  render();
  clearTimeout(scanTimer);
  scanTimer = setTimeout(() => {
    if (ui.screen === "scan") {
      toStart();
    }
  }, Math.min(SCAN_SHOWN_S, idleSeconds) * 1000);
}

function printFailed() {
  if (ui.busy) {
    ui.printFailed = true;
    render();
  }
}

function kioskChanged(view) {
  const before = JSON.stringify(hall.kiosk);
  hall.kiosk = view;
  if (JSON.stringify(view) !== before) {
    render();
  }
  readThemes();
}

// ------------------------------------------------------------------ drawing

/** live.js's element maker, taking children nested to any depth (pairs inside lists). */
function h(tag, attributes = {}, ...children) {
  return element(tag, attributes, children.flat(Infinity));
}

function button(attributes, children, onPress) {
  const control = h("button", { type: "button", ...attributes }, children);
  control.addEventListener("click", onPress);
  return control;
}

/** A tick box drawn in text, so a pressed toggle never shows its state by colour alone. */
function tick(pressed) {
  return h("span", { class: "check", "aria-hidden": "true" }, pressed ? "☑" : "☐");
}

function star() {
  return h("span", { "aria-hidden": "true" }, "★ ");
}

function heading(zh, en) {
  return h("h2", { class: "title", id: "title", tabindex: "-1" }, pair(zh, en));
}

function renderTools() {
  const language = h(
    "div",
    { class: "language", role: "group", "aria-label": zhFirst() ? "语言 Language" : "Language 语言" },
    button({ "data-key": "lang-zh", lang: "zh-CN", "aria-pressed": String(zhFirst()) }, "中文", () =>
      setLanguage("zh"),
    ),
    button({ "data-key": "lang-en", lang: "en", "aria-pressed": String(!zhFirst()) }, "English", () =>
      setLanguage("en"),
    ),
  );
  const elderly = button(
    { class: "elderly-switch", "data-key": "elderly", "aria-pressed": String(ui.elderly) },
    [tick(ui.elderly), " ", pair("长者模式", "Large text")],
    toggleElderly,
  );
  const help = button({ class: "help", "data-key": "help" }, pair("需要帮助", "Need help"), askForHelp);
  document.getElementById("tools").replaceChildren(language, elderly, help);
}

function setLanguage(lang) {
  ui.lang = lang;
  render();
}

function toggleElderly() {
  ui.elderly = !ui.elderly;
  ui.page = 0;
  render();
  if (ui.elderly) {
    speak("长者模式已开启。请选择要办理的业务。", "Large text is on. Please choose a service.");
  }
}

function themeButton(theme) {
  // A full theme still takes a tap: it answers with its offer (and serves priority groups).
  const why = unavailable(theme) ?? fullWords(theme);
  const [waitZh, waitEn] = waitWords(theme.estimated_wait_s);
  const facts = pair(
    `等候 ${theme.waiting} 人 · ${waitZh}`,
    `${theme.waiting} waiting · ${waitEn}`,
  );
  return button(
    {
      class: "theme",
      "data-theme": theme.id,
      "data-key": `theme-${theme.id}`,
      "data-full": theme.capacity?.full ? theme.capacity.reason : null,
      "aria-disabled": unavailable(theme) ? "true" : null,
    },
    [
      h("span", { class: "theme-name" }, pair(theme.name_zh, theme.name_en)),
      h("span", { class: "theme-facts" }, facts),
      why ? h("span", { class: "theme-why" }, pair(...why)) : null,
    ],
    () => themeChosen(theme.id),
  );
}

function renderStart() {
  if (hall.themes === null) {
    return { content: [h("p", { class: "loading" }, pair("正在读取…", "Loading…"))], say: null };
  }
  let themes = hall.themes;
  let pager = null;
  if (ui.elderly) {
    // Fewer choices at a time: four large buttons, and a page turn for the rest.
    const pages = Math.max(1, Math.ceil(themes.length / ELDERLY_PAGE));
    ui.page = Math.min(ui.page, pages - 1);
    themes = themes.slice(ui.page * ELDERLY_PAGE, (ui.page + 1) * ELDERLY_PAGE);
    if (pages > 1) {
      pager = h(
        "nav",
        { class: "pager", "aria-label": zhFirst() ? "翻页 Pages" : "Pages 翻页" },
        button(
          { "data-key": "page-back", disabled: ui.page === 0 },
          pair("上一页", "Previous"),
          () => turnPage(-1),
        ),
        h("p", { class: "page-of" }, pair(`第 ${ui.page + 1} / ${pages} 页`, `Page ${ui.page + 1} of ${pages}`)),
        button(
          { "data-key": "page-next", disabled: ui.page === pages - 1 },
          pair("下一页", "Next"),
          () => turnPage(1),
        ),
      );
    }
  }
  const choose = h(
    "section",
    { class: "themes", "aria-labelledby": "title" },
    heading("请选择业务", "Please choose a service"),
    h("div", { class: "theme-grid" }, themes.map(themeButton)),
    pager,
  );
  return {
    content: [choose, h("div", { class: "side" }, ui.elderly ? null : renderPriority(), renderCard())],
    say: ["请选择要办理的业务", "Please choose a service"],
  };
}

function turnPage(step) {
  ui.page += step;
  render();
}

function renderPriority() {
  const declarable = declarableGroups();
  if (declarable.length === 0) {
    return null;
  }
  const choice = (id, zh, en) =>
    button(
      { class: "choice", "data-key": `priority-${id ?? "none"}`, "aria-pressed": String(ui.declared === id) },
      [tick(ui.declared === id), " ", pair(zh, en)],
      () => {
        ui.declared = id;
        render();
      },
    );
  return h(
    "section",
    { class: "priority panel", "aria-labelledby": "priority-title" },
    h("h3", { id: "priority-title" }, pair("优先办理（自愿申报）", "Priority service (self-declared)")),
    h(
      "div",
      { class: "choices", role: "group", "aria-labelledby": "priority-title" },
      choice(null, "不需要", "None"),
      declarable.map((g) => choice(g.id, g.name_zh, g.name_en)),
    ),
  );
}

function renderCard() {
  const card = ui.card;
  const elder = hall.groups.find((g) => g.min_age !== null && g.min_age !== undefined);
  let body;
  if (card === null) {
    body = [
      h("h3", { id: "card-title" }, pair("刷身份证", "Swipe your ID card")),
      elder
        ? h(
            "p",
            {},
            pair(`${elder.min_age} 岁及以上长者自动优先`, `Automatic priority from age ${elder.min_age}`),
          )
        : null,
    ];
  } else if (card.failed) {
    body = [
      h("h3", { id: "card-title" }, pair("未能读取身份证", "The ID card could not be read")),
      h("p", {}, pair("请将身份证重新放在读卡区", "Please place the card on the reader again")),
    ];
  } else if (card.contact) {
    body = [
      h("h3", { id: "card-title" }, pair("已读卡", "Card read")),
      card.number ? h("p", { class: "figure" }, card.number) : null,
      elder ? h("p", {}, pair("长者优先请刷身份证", "For elderly priority, please use the ID card")) : null,
    ];
  } else {
    body = [
      h("h3", { id: "card-title" }, pair("已读取身份证", "ID card read")),
      h(
        "p",
        { class: "card-who" },
        h("span", { class: "card-name" }, card.name),
        " ",
        h("span", { class: "figure" }, card.id_number),
      ),
      card.priority
        ? h("p", { class: "badge", id: "card-priority" }, star(), pair(...priorityWords(card.priority)))
        : null,
      card.expired ? h("p", { class: "warn" }, pair("此身份证已过有效期", "This ID card has expired")) : null,
      bookingOffer(card.appointment, { card: card.token }),
      h("p", {}, pair("请选择业务取号", "Now choose a service")),
      button({ class: "quiet", "data-key": "card-forget" }, pair("清除证件信息", "Forget this card"), () => {
        forgetCard();
        render();
      }),
    ];
  }
  return h(
    "section",
    {
      class: "card panel",
      id: "card",
      "data-card": card === null ? "none" : card.failed ? "failed" : "read",
      "aria-labelledby": "card-title",
    },
    body,
  );
}

function renderAsking() {
  const theme = (hall.themes ?? []).find((t) => t.id === ui.theme);
  const answer = (id, zh, en, cls) =>
    button({ class: cls, "data-key": `ask-${id ?? "none"}` }, pair(zh, en), () => takeTicket(ui.theme, id));
  return {
    content: [
      h(
        "section",
        { class: "asking", "aria-labelledby": "title" },
        heading("是否需要优先办理？", "Do you need priority service?"),
        theme ? h("p", { class: "ticket-theme" }, pair(theme.name_zh, theme.name_en)) : null,
        h(
          "div",
          { class: "answers" },
          answer(null, "不需要，直接取号", "No, take my ticket", "primary"),
          declarableGroups().map((g) => answer(g.id, g.name_zh, g.name_en, "choice")),
        ),
        button({ class: "quiet", "data-key": "back" }, pair("返回", "Back"), toStart),
      ),
    ],
    say: ["是否需要优先办理？", "Do you need priority service?"],
  };
}

function renderPrinting() {
  const [zh, en] = ui.printFailed
    ? ["打印未成功，正在改为屏幕显示…", "The print failed: your number will be shown on screen…"]
    : ["正在打印…", "Printing…"];
  return {
    content: [
      h(
        "section",
        { class: "printing", "aria-labelledby": "title", "aria-busy": "true" },
        h("div", { class: "spinner", "aria-hidden": "true" }),
        heading(zh, en),
        h("p", {}, pair("请稍候", "Please wait")),
      ),
    ],
    say: [zh, en],
  };
}

function queueFacts(ticket) {
  const [waitZh, waitEn] = waitWords(ticket.estimated_wait_s);
  return h(
    "dl",
    { class: "facts" },
    h(
      "div",
      {},
      h("dt", {}, pair("前面还有", "People ahead")),
      h(
        "dd",
        {},
        h("span", { class: "figure", id: "ahead" }, String(ticket.ahead ?? "—")),
        " ",
        pair("人", "people"),
      ),
    ),
    h("div", {}, h("dt", {}, pair("预计等候", "Estimated wait")), h("dd", { id: "wait" }, pair(waitZh, waitEn))),
  );
}

function ticketHead(ticket, label = ["您的号码", "Your number"]) {
  return [
    h("p", { class: "label" }, pair(...label)),
    h("p", { class: "number", id: "ticket-number" }, ticket.number),
    h("p", { class: "ticket-theme" }, pair(ticket.theme_name_zh, ticket.theme_name_en)),
    ticket.priority
      ? h("p", { class: "badge", id: "ticket-priority" }, star(), pair(...priorityWords(ticket.priority)))
      : null,
  ];
}

function doneButton() {
  return button({ class: "primary done", "data-key": "done" }, pair("完成", "Done"), toStart);
}

function renderTicket() {
  const result = ui.result;
  const ticket = result.ticket;
  const spoken = ticket.number.split("").join(" ");
  if (result.printed) {
    return {
      content: [
        h(
          "section",
          { class: "ticket", "data-printed": "true", "aria-labelledby": "title" },
          heading("请取走号票", "Please take your ticket"),
          ticketHead(ticket),
          queueFacts(ticket),
          doneButton(),
        ),
      ],
      say: [`请取走号票。您的号码是 ${spoken}`, `Please take your ticket. Your number is ${spoken}`],
    };
  }
  const [zh, en] = screenTicketWords(result.reason ?? "");
  const link = (result.qr_url ?? "").split("/").pop();
  const others = result.other_printers ?? [];
  return {
    content: [
      h(
        "section",
        { class: "ticket", "data-printed": "false", "aria-labelledby": "title" },
        heading(zh, en),
        result.voided
          ? h(
              "p",
              { class: "warn", id: "voided" },
              pair(
                `${result.voided} 号未能打印，已作废；您的号码是 ${ticket.number}`,
                `Ticket ${result.voided} could not be printed and was voided; your number is ${ticket.number}`,
              ),
            )
          : null,
        h(
          "div",
          { class: "screen-ticket" },
          h("div", { class: "ticket-words" }, ticketHead(ticket), queueFacts(ticket)),
          h(
            "figure",
            { class: "qr" },
            h("img", {
              id: "ticket-qr",
              src: `/api/v1/status/${encodeURIComponent(link)}/qr.svg`,
              alt: zhFirst()
                ? `${ticket.number} 号的排队状态二维码 QR code of ticket ${ticket.number}'s queue status`
                : `QR code of ticket ${ticket.number}'s queue status ${ticket.number} 号的排队状态二维码`,
            }),
            h(
              "figcaption",
              {},
              pair("用手机扫码，随时查看排队进度", "Scan with your phone to follow your place in the queue"),
            ),
          ),
        ),
        others.length > 0
          ? h(
              "div",
              { class: "other-printers", id: "other-printers" },
              h("p", {}, pair("需要纸质号票，请到：", "For a paper ticket, please go to:")),
              h("ul", {}, others.map((k) => h("li", {}, pair(...kioskWords(k))))),
            )
          : null,
        doneButton(),
      ),
    ],
    say: [`${zh}。您的号码是 ${spoken}`, `${en}. Your number is ${spoken}`],
  };
}

function renderProblem() {
  const problem = ui.problem;
  const actions = [
    problem.retry && ui.pending
      ? button({ class: "primary", "data-key": "retry" }, pair("再试一次", "Try again"), send)
      : null,
    button({ class: problem.retry ? "quiet" : "primary", "data-key": "back" }, pair("返回", "Back"), toStart),
  ];
  return {
    content: [
      h(
        "section",
        { class: "problem", "aria-labelledby": "title" },
        h("p", { class: "sign", "aria-hidden": "true" }, "!"),
        heading(problem.zh, problem.en),
        h("div", { class: "actions" }, actions),
      ),
    ],
    say: [problem.zh, problem.en],
  };
}

function renderScan() {
  const ticket = ui.scan;
  const [zh, en] = (STATUS_WORDS[ticket.status] ?? (() => [ticket.status, ticket.status]))(ticket);
  return {
    content: [
      h(
        "section",
        { class: "ticket scan", "data-status": ticket.status, "aria-labelledby": "title" },
        heading("号票状态", "Ticket status"),
        ticketHead(ticket, ["号码", "Number"]),
        h("p", { class: "now", id: "scan-now" }, pair(zh, en)),
        ticket.status === "waiting" ? queueFacts(ticket) : null,
        button({ class: "primary", "data-key": "back" }, pair("返回", "Back"), toStart),
      ),
    ],
    say: [`${ticket.number}：${zh}`, `${ticket.number}: ${en}`],
  };
}

/** "预约 10:30 社会民生": a booking's slot and theme. */
function bookingWords(view) {
  return [`预约 ${view.slot} ${view.theme_name_zh}`, `Appointment ${view.slot} ${view.theme_name_en}`];
}

/** What a check-in now would do, in words: [zh, en], or null when it just checks in. */
function bookingState(view) {
  if (view.state === "early") {
    return [`请于 ${view.come_back_at} 后签到`, `Please check in from ${view.come_back_at}`];
  }
  if (view.state === "late") {
    return ["已过预约时段，将按现场取号办理", "Past your time: you will get a regular ticket"];
  }
  if (view.state === "done") {
    return [`已签到，号码 ${view.ticket ?? ""}`, `Already checked in: ticket ${view.ticket ?? ""}`];
  }
  if (view.state === "cancelled") {
    return ["该预约已取消", "This booking was cancelled"];
  }
  return null;
}

const CHECKABLE = new Set(["ready", "late"]);

/** The card panel's offer to check the card holder's booking in (one tap), if there is one. */
function bookingOffer(view, body) {
  if (!view || !CHECKABLE.has(view.state)) {
    return null;
  }
  const [zh, en] = bookingWords(view);
  return button(
    { class: "primary check-in", id: "card-check-in", "data-key": "card-check-in" },
    pair(`${zh} — 签到`, `${en} — Check in`),
    () => checkIn(body),
  );
}

function renderAppointment() {
  const { code, view } = ui.appointment;
  const [zh, en] = bookingWords(view);
  const state = bookingState(view);
  const checkable = CHECKABLE.has(view.state);
  return {
    content: [
      h(
        "section",
        { class: "ticket appointment", "data-state": view.state, "aria-labelledby": "title" },
        heading("预约签到", "Appointment check-in"),
        h("p", { class: "booking", id: "booking" }, pair(zh, en)),
        state ? h("p", { class: checkable ? "now" : "warn", id: "booking-state" }, pair(...state)) : null,
        h(
          "div",
          { class: "actions" },
          checkable
            ? button({ class: "primary", "data-key": "check-in" }, pair("签到", "Check in"), () => checkIn({ code }))
            : null,
          button({ class: checkable ? "quiet" : "primary", "data-key": "back" }, pair("返回", "Back"), toStart),
        ),
      ),
    ],
    say: checkable ? [`${zh}，请点签到`, `${en}. Please tap Check in`] : [zh, en],
  };
}

/** A full theme's answer: why, when to come back, and the next appointment slot to book. */
function renderFull() {
  const full = ui.full;
  const theme = (hall.themes ?? []).find((t) => t.id === full.theme);
  const later = full.reason === "quota" && full.return_at;
  const title = later ? ["本时段已满", "Full for now"] : ["今日已满", "Full today"];
  const slot = full.next_slot;
  const [slotZh, slotEn] = slot ? slotWords(slot.at) : ["", ""];
  const [nameZh, nameEn] = theme ? [theme.name_zh, theme.name_en] : ["", ""];
  const say = [`${title[0]}。${full.message_zh}`, `${title[1]}. ${full.message_en}`];
  return {
    content: [
      h(
        "section",
        { class: "ticket appointment full-offer", "data-reason": full.reason, "aria-labelledby": "title" },
        heading(...title),
        theme ? h("p", { class: "ticket-theme" }, pair(nameZh, nameEn)) : null,
        h("p", { class: "full-why", id: "full-why" }, pair(full.message_zh, full.message_en)),
        full.return_at
          ? h(
              "p",
              { class: "now", id: "full-return" },
              pair(`请于 ${full.return_at} 后再来取号`, `Come back for a ticket from ${full.return_at}`),
            )
          : null,
        slot
          ? h(
              "p",
              { class: "booking", id: "full-slot" },
              pair(`可预约：${slotZh}`, `Next appointment: ${slotEn}`),
            )
          : h("p", { id: "full-slot" }, pair("暂无可预约时段，请到咨询台", "No appointment slot is free: please ask at the information desk")),
        ui.card?.token && slot
          ? h("p", { id: "full-card" }, pair("将用您的身份证预约，签到时刷身份证即可", "Booked with your ID card: swipe it to check in"))
          : null,
        h(
          "div",
          { class: "actions" },
          slot
            ? button({ class: "primary", "data-key": "book" }, pair("预约", "Book this slot"), bookSlot)
            : null,
          button({ class: slot ? "quiet" : "primary", "data-key": "back" }, pair("返回", "Back"), toStart),
        ),
      ),
    ],
    say: slot ? [`${say[0]} 可预约 ${slotZh}`, `${say[1]} Next appointment: ${slotEn}`] : say,
  };
}

/** The booked slot: when and how to check in, the booking code, and whether its slip printed. */
function renderBooked() {
  const { appointment, check_in_from: from, printed } = ui.result;
  const code = appointment.code;
  const [slotZh, slotEn] = slotWords(appointment.slot_at);
  const [dayZh, dayEn] = dayWords(appointment.slot_at);
  const title = printed ? ["请取走预约凭条", "Please take your appointment slip"] : ["预约成功", "Booked"];
  let note = null;
  if (!printed) {
    note = code
      ? ["未能打印预约凭条，请记下预约码", "The slip could not be printed: please note your booking code"]
      : ["未能打印预约凭条", "The slip could not be printed"];
  }
  const [howZh, howEn] = code ? ["扫预约码", "scan the code"] : ["刷身份证", "swipe your ID card"];
  const when = dayEn === "today" ? "today" : `on ${dayEn}`;
  const spoken = (code ?? "").split("").join(" ");
  return {
    content: [
      h(
        "section",
        { class: "ticket appointment booked", "data-printed": String(printed), "aria-labelledby": "title" },
        heading(...title),
        note ? h("p", { class: "warn", id: "booked-note" }, pair(...note)) : null,
        h(
          "p",
          { class: "booking", id: "booked-slot" },
          pair(`${slotZh} ${appointment.theme_name_zh}`, `${slotEn} ${appointment.theme_name_en}`),
        ),
        code
          ? [
              h("p", { class: "label" }, pair("预约码", "Booking code")),
              h("p", { class: "number", id: "booking-code" }, code),
            ]
          : null,
        h(
          "p",
          { class: "now", id: "booked-check-in" },
          pair(`请于${dayZh} ${from} 起到自助机${howZh}签到`, `Check in at a kiosk ${when} from ${from}: ${howEn}`),
        ),
        doneButton(),
      ),
    ],
    say: [
      `${title[0]}。预约 ${slotZh}${spoken ? "，预约码 " + spoken : ""}`,
      `${title[1]}. Appointment ${slotEn}${spoken ? ", booking code " + spoken : ""}`,
    ],
  };
}

function renderHelp() {
  const words = {
    asking: [["正在呼叫工作人员…", "Calling staff…"], null],
    paged: [
      ["工作人员马上就来", "Staff are on their way"],
      ["请在本机旁稍候", "Please wait by this kiosk"],
    ],
    desk: [
      ["请到咨询台", "Please ask at the information desk"],
      ["呼叫未能送达工作人员", "The call did not reach the staff"],
    ],
  }[ui.help];
  const [title, detail] = words;
  return {
    content: [
      h(
        "section",
        { class: "help-screen", "data-help": ui.help, "aria-labelledby": "title" },
        heading(...title),
        detail ? h("p", {}, pair(...detail)) : null,
        button({ class: "primary", "data-key": "back" }, pair("返回", "Back"), toStart),
      ),
    ],
    say: title,
  };
}

function renderUnknown() {
  return {
    content: [
      h(
        "section",
        { class: "problem", "aria-labelledby": "title" },
        heading("本机尚未配置", "This kiosk is not set up"),
        h("p", {}, pair("请到咨询台取号", "Please ask at the information desk for a ticket")),
      ),
    ],
    say: ["本机尚未配置", "This kiosk is not set up"],
  };
}

function renderFooter() {
  const bar = document.getElementById("kiosk-bar");
  const kiosk = hall.kiosk;
  if (kiosk === null) {
    bar.replaceChildren();
    return;
  }
  const printer = kiosk.printer;
  const [zh, en] =
    printer !== null && printer.can_print
      ? printer.paper === "low"
        ? ["打印机纸将用完", "Printer paper is low"]
        : ["打印机正常", "Printer ready"]
      : ["本机暂不能打印，号码将显示在屏幕上", "Cannot print now: your number will show on screen"];
  bar.replaceChildren(
    h("p", { class: "kiosk-name" }, pair(kiosk.name_zh, kiosk.name_en)),
    h("p", { class: "printer", id: "printer", "data-can-print": String(printer?.can_print === true) }, pair(zh, en)),
  );
}

const SCREENS = {
  start: renderStart,
  asking: renderAsking,
  printing: renderPrinting,
  ticket: renderTicket,
  problem: renderProblem,
  scan: renderScan,
  appointment: renderAppointment,
  full: renderFull,
  booked: renderBooked,
  help: renderHelp,
};

function render() {
  const root = document.documentElement;
  root.lang = zhFirst() ? "zh-CN" : "en";
  root.dataset.mode = ui.elderly ? "elderly" : "standard";
  document.body.dataset.lang = ui.lang;
  document.body.dataset.screen = hall.unknown ? "unknown" : ui.screen;
  const focused = document.activeElement?.dataset?.key ?? null;

  document.getElementById("hall-name").replaceChildren(...pair(hall.name_zh, hall.name_en));
  renderTools();
  const { content, say } = hall.unknown ? renderUnknown() : SCREENS[ui.screen]();
  document.getElementById("screen").replaceChildren(...content);
  renderFooter();
  document.title = zhFirst() ? `${hall.name_zh} · 自助取号` : `${hall.name_en} · Take a ticket`;

  const screen = hall.unknown ? "unknown" : ui.screen;
  const again = focused !== null ? document.querySelector(`[data-key="${focused}"]`) : null;
  if (screen !== shownScreen) {
    shownScreen = screen;
    if (say) {
      document.getElementById("announce").textContent = zhFirst() ? `${say[0]} ${say[1]}` : `${say[1]} ${say[0]}`;
      if (screen !== "start") {
        speak(...say);
      }
    }
    // A new screen: keyboard and screen reader users start at its heading.
    if (screen !== "start" || focused !== null) {
      document.getElementById("title")?.focus({ preventScroll: true });
    }
  } else if (again !== null) {
    again.focus({ preventScroll: true });
  }
}

/** Spoken guidance in elderly mode, where the browser has a voice (silent otherwise). */
function speak(zh, en) {
  if (!ui.elderly || !("speechSynthesis" in window)) {
    return;
  }
  try {
    const utterance = new SpeechSynthesisUtterance(zhFirst() ? zh : en);
    utterance.lang = zhFirst() ? "zh-CN" : "en-GB";
    utterance.rate = 0.9;
    window.speechSynthesis.cancel();
    window.speechSynthesis.speak(utterance);
  } catch {
    // a browser without speech stays silent; the screen says it all
  }
}

// ------------------------------------------------------------------ start

for (const kind of ["pointerdown", "keydown", "touchstart", "wheel"]) {
  window.addEventListener(kind, touched, { capture: true, passive: true });
}
touched();
render();

new LiveStream(
  `${kioskPath}/events`,
  {
    kiosk: kioskChanged,
    card: cardRead,
    scan: codeScanned,
    print_failed: printFailed,
  },
  {
    prepare: readKiosk,
    onLive: () => showLink("live"),
    onLost: () => showLink("reconnecting"),
  },
).start();
