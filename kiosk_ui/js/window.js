// The window panel: a window's software call pad for its staff. The controller owns the
// truth: the panel shows the window as the controller last told it, enables only what the
// window's state allows, and sends each press once (its own Idempotency-Key, every button
// disabled until the answer is in). A refusal is shown in words, never hidden.

import {
  HALL_EVENTS,
  HttpError,
  LiveStream,
  csrfToken,
  fetchJson,
  h,
  showLink,
  showSignedIn,
  signInUrl,
} from "./live.js";

const STATUS_TEXT = {
  closed: ["未开放", "Closed"],
  open: ["空闲", "Open"],
  paused: ["暂停服务", "Paused"],
  calling: ["呼叫中", "Calling"],
  serving: ["办理中", "Serving"],
};

// What the controller accepts in each window state (core/hall.py): a button outside its
// state is disabled. "call" while serving finishes the current service first, as pads do.
const ALLOWED = {
  closed: ["open"],
  open: ["call", "call-number", "pause", "close"],
  paused: ["resume", "close"],
  calling: ["recall", "start", "finish", "no-show", "hold", "transfer", "continue"],
  serving: ["call", "call-number", "finish", "hold", "transfer", "continue"],
};

// The calling rule's reason in Chinese; the English is the controller's own explanation.
const RULE_ZH = {
  specific: "窗口按号呼叫",
  max_wait: "等候已超过该业务的最长等候时间",
  appointment: "预约时间已到",
  priority_limit: "连续优先呼叫已达上限，轮到普通号",
  personalised: "个性化服务窗口：优先人群和转来的复杂件先办",
  priority: "优先人群先办",
  preference: "本窗口的首选业务",
  longest_wait: "等候时间最长",
};

const PAUSE_REASONS = [
  ["休息", "Break"],
  ["会议", "Meeting"],
  ["培训", "Training"],
  ["设备故障", "Equipment problem"],
];
const HOLD_REASONS = [
  ["材料不全", "Documents missing"],
  ["需后台核实", "Checking with the back office"],
  ["申请人暂离", "Applicant stepped away"],
  ["等待缴费", "Waiting for payment"],
];
const TRANSFER_REASONS = [
  ["业务选错", "Wrong service chosen"],
  ["需其他业务办理", "Needs another service"],
  ["需个性化服务", "Needs personalised service"],
];

// What a refusal means, by HTTP status, before the controller's own words.
const REFUSED = {
  404: ["没有找到", "Not found"],
  409: ["当前状态不允许此操作", "Not possible in the current state"],
  413: ["请求过大", "Request too large"],
  422: ["输入有误", "Not accepted"],
  503: ["控制器暂时无法处理", "The controller cannot take this now"],
};

const REQUEST_TIMEOUT_MS = 8000;
const WAITING_SHOWN = 12;
// How many of the tickets this window would call next are shown.
const NEXT_SHOWN = 5;
// A press whose request never reached the controller is sent again with the same key: the
// controller acts on it at most once.
const RESEND_ATTEMPTS = 2;
const RESEND_AFTER_MS = 1000;

function windowOfPage() {
  const path = window.location.pathname;
  const at = path.indexOf("/window/");
  if (at >= 0) {
    try {
      return decodeURIComponent(path.slice(at + 8)).replace(/\/+$/, "");
    } catch {
      return "";
    }
  }
  return new URLSearchParams(window.location.search).get("window") ?? "";
}

const windowId = windowOfPage();
const windowUrl = `/api/v1/windows/${encodeURIComponent(windowId)}`;

const panel = {
  window: null, // GET /api/v1/windows/{id}
  ticket: null, // GET /api/v1/tickets/{id} of the window's current ticket
  themes: new Map(), // id -> {id, name_zh, name_en}
  windows: [], // every window of the hall, for transfers
  groups: new Map(), // priority group id -> {name_zh, name_en}
  waiting: [], // waiting tickets of this window's themes (or sent to it), in queue order
  held: [], // held tickets of this window's themes
  next: [], // the tickets this window would call next, in the policy's order, with the rule
  rating: null, // GET .../rating-request: {ticket (asked, waiting for it), rateable}
  service: null, // GET .../service: the service now or just finished, its case number, rule
  waitingSeen: null, // the last `state` waiting counts, to notice a change
  busy: false, // a press is on its way: every button waits
  generation: 0, // bumped by each answered press: a read begun before it is stale
};

// ------------------------------------------------------------------ reading

class UnknownWindow extends Error {}

async function readHall() {
  if (windowId === "") {
    showUnknown();
    return false;
  }
  const [hall, themes, windows] = await Promise.all([
    fetchJson("/api/v1/hall"),
    fetchJson("/api/v1/themes"),
    fetchJson("/api/v1/windows"),
  ]);
  panel.groups = new Map(hall.priority_groups.map((g) => [g.id, g]));
  panel.themes = new Map(themes.map((t) => [t.id, t]));
  panel.windows = windows;
  try {
    await readWindow();
  } catch (error) {
    if (error instanceof UnknownWindow) {
      showUnknown();
      return false;
    }
    throw error;
  }
  return true;
}

async function readWindow() {
  const generation = panel.generation;
  let view;
  try {
    view = await fetchJson(windowUrl);
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) {
      throw new UnknownWindow(windowId);
    }
    throw error;
  }
  const [ticket, waiting, held, next, rating, service] = await Promise.all([
    view.ticket ? fetchJson(`/api/v1/tickets/${encodeURIComponent(view.ticket.id)}`) : null,
    fetchJson("/api/v1/tickets?status=waiting"),
    fetchJson("/api/v1/tickets?status=held"),
    fetchJson(`${windowUrl}/next?count=${NEXT_SHOWN}`),
    fetchJson(`${windowUrl}/rating-request`),
    fetchJson(`${windowUrl}/service`),
  ]);
  if (generation !== panel.generation) {
    scheduleRefresh(); // a press was answered meanwhile: its answer is newer than this read
    return;
  }
  panel.window = view;
  panel.ticket = ticket;
  panel.waiting = waiting.filter((t) => servesHere(view, t));
  panel.held = held.filter((t) => view.themes.includes(t.theme));
  panel.next = next.tickets;
  panel.rating = rating;
  panel.service = service;
  render();
}

function servesHere(view, ticket) {
  if (ticket.target_window !== null && ticket.target_window !== undefined) {
    return ticket.target_window === view.id;
  }
  return (
    view.themes.includes(ticket.theme) ||
    (view.standing_in ?? []).includes(ticket.theme) ||
    (view.personalised === true && ticket.priority !== null)
  );
}

let refreshTimer = null;
let refreshRunning = false;
let refreshQueued = false;

/** Read the window again soon; reads never overlap, and one more follows a busy one. */
function scheduleRefresh() {
  if (refreshRunning) {
    refreshQueued = true;
    return;
  }
  if (refreshTimer === null) {
    refreshTimer = setTimeout(runRefresh, 100); // a burst of events is one read
  }
}

async function runRefresh() {
  refreshTimer = null;
  refreshRunning = true;
  try {
    await readWindow();
  } catch {
    // The stream notices a lost controller by itself and reads everything again.
  } finally {
    refreshRunning = false;
    if (refreshQueued) {
      refreshQueued = false;
      scheduleRefresh();
    }
  }
}

function onState(state) {
  const mine = state.windows[windowId];
  const shown = panel.window;
  const counts = JSON.stringify(panel.window ? panel.window.themes.map((t) => state.waiting[t]) : []);
  const changed =
    shown === null ||
    mine === undefined ||
    mine.status !== shown.status ||
    mine.ticket !== (shown.ticket ? shown.ticket.number : null) ||
    counts !== panel.waitingSeen;
  panel.waitingSeen = counts;
  if (changed) {
    scheduleRefresh();
  }
}

// ------------------------------------------------------------------ pressing

/** A new key for one press (crypto.randomUUID needs https; the window PC may use http). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `window-${windowId}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

class Refused extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function postOnce(path, body, key) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(path, {
      method: "POST",
      signal: abort.signal,
      cache: "no-store",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "Idempotency-Key": key,
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(body ?? {}),
    });
    if (response.status === 401) {
      location.assign(signInUrl()); // the clerk's session ended (idle, or another clerk here)
    }
    if (response.status === 204) {
      return { status: 204, body: null };
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok) {
      const error = answer?.error ?? {};
      throw new Refused(response.status, error.code ?? "", error.message ?? `HTTP ${response.status}`);
    }
    return { status: response.status, body: answer };
  } finally {
    clearTimeout(timer);
  }
}

/** POST once per press: sent again (same key) only when it never reached the controller. */
async function post(path, body) {
  const key = newKey();
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await postOnce(path, body, key);
    } catch (error) {
      const unsent = error instanceof TypeError; // fetch's "network error": no answer at all
      if (!unsent || attempt >= RESEND_ATTEMPTS) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, RESEND_AFTER_MS));
    }
  }
}

/** Send one press; show its outcome; every button waits until the answer is in. */
async function press(path, body, done) {
  if (panel.busy) {
    return; // the first press is still on its way: a second one is the same press
  }
  panel.busy = true;
  render();
  try {
    const reply = await post(path, body);
    done(reply);
  } catch (error) {
    showRefusal(error);
  } finally {
    panel.busy = false;
    panel.generation += 1;
    render();
    scheduleRefresh();
  }
}

function windowPress(action, body, said) {
  return press(`${windowUrl}/${action}`, body, (reply) => {
    if (reply.body?.window) {
      panel.window = reply.body.window;
      panel.ticket = reply.body.window.ticket ? (reply.body.ticket ?? panel.ticket) : null;
    }
    say(...said(reply.body ?? {}));
  });
}

function callPress(ticketNumber) {
  const body = ticketNumber ? { ticket: ticketNumber } : {};
  return press(`${windowUrl}/call`, body, (reply) => {
    if (reply.status === 204) {
      say("没有等候本窗口的号", "Nobody is waiting for this window");
      return;
    }
    panel.window = reply.body.window;
    panel.ticket = reply.body.ticket;
    const n = reply.body.ticket.number;
    say(`已呼叫 ${n}`, `Called ${n}`);
  });
}

function ticketPress(ticketId, action, body, said) {
  return press(`/api/v1/tickets/${encodeURIComponent(ticketId)}/${action}`, body, (reply) =>
    say(...said(reply.body)),
  );
}

const ACTIONS = {
  call: () => callPress(null),
  recall: () =>
    windowPress("recall", {}, ({ ticket }) =>
      ticket?.status === "no_show"
        ? [`已到重呼上限，${ticket.number} 记为过号`, `Recall limit reached: ${ticket.number} is a no-show`]
        : [`已重呼 ${ticket?.number ?? ""}`, `Called ${ticket?.number ?? ""} again`],
    ),
  start: () =>
    windowPress("start", {}, ({ ticket }) => [
      `开始办理 ${ticket?.number ?? ""}`,
      `Serving ${ticket?.number ?? ""}`,
    ]),
  finish: () =>
    windowPress("finish", {}, ({ ticket }) => [
      `${ticket?.number ?? ""} 已办结`,
      `${ticket?.number ?? ""} finished`,
    ]),
  "no-show": () =>
    windowPress("no-show", {}, ({ ticket }) => [
      `${ticket?.number ?? ""} 已记为过号`,
      `${ticket?.number ?? ""} marked as a no-show`,
    ]),
  hold: async () => {
    const number = panel.ticket?.number ?? "";
    const reason = await askReason(`暂挂 ${number}`, `Hold ${number}`, HOLD_REASONS, ["暂挂", "Hold"]);
    if (reason !== null) {
      await windowPress("hold", { reason }, ({ ticket }) => [
        `${ticket?.number ?? ""} 已暂挂`,
        `${ticket?.number ?? ""} is on hold`,
      ]);
    }
  },
  transfer: async () => {
    const ticket = panel.ticket;
    if (ticket === null) {
      return;
    }
    const choice = await askTransfer(ticket);
    if (choice !== null) {
      await ticketPress(ticket.id, "transfer", choice, (moved) => {
        const theme = panel.themes.get(moved.theme);
        const where = moved.target_window ? windowNames(moved.target_window) : null;
        return [
          `${moved.number} 已转到 ${theme?.name_zh ?? moved.theme}${where ? ` · ${where[0]}` : ""}`,
          `${moved.number} moved to ${theme?.name_en ?? moved.theme}${where ? ` · ${where[1]}` : ""}`,
        ];
      });
    }
  },
  continue: async () => {
    const ticket = panel.ticket;
    if (ticket === null) {
      return;
    }
    const choice = await askNextStage(ticket);
    if (choice !== null) {
      await windowPress("continue", choice, ({ ticket: moved }) => {
        const theme = panel.themes.get(moved?.theme);
        return [
          `${moved?.number ?? ""} 已转到下一环节：${theme?.name_zh ?? moved?.theme ?? ""}`,
          `${moved?.number ?? ""} goes on to ${theme?.name_en ?? moved?.theme ?? ""}`,
        ];
      });
    }
  },
  rating: () =>
    press(`${windowUrl}/rating-request`, {}, (reply) => {
      panel.rating = reply.body;
      const number = reply.body?.ticket?.number ?? "";
      say(`已请申请人为 ${number} 评价`, `The applicant is asked to rate ${number}`);
    }),
  pause: async () => {
    const reason = await askReason("暂停服务", "Pause the window", PAUSE_REASONS, ["暂停", "Pause"]);
    if (reason !== null) {
      await windowPress("pause", { reason }, () => ["窗口已暂停", "The window is paused"]);
    }
  },
  resume: () => windowPress("resume", {}, () => ["窗口已恢复服务", "The window is open again"]),
  open: () => windowPress("open", {}, () => ["窗口已开放", "The window is open"]),
  close: () => windowPress("close", {}, () => ["窗口已关闭", "The window is closed"]),
};

function windowNames(id) {
  const w = panel.windows.find((candidate) => candidate.id === id);
  return w ? [w.name_zh, w.name_en] : [`${id}号窗口`, `Window ${id}`];
}

// ------------------------------------------------------------------ messages

function say(zh, en, tone = "done") {
  const message = document.getElementById("message");
  message.dataset.tone = tone;
  message.replaceChildren(zh, " ", h("span", { class: "en", lang: "en" }, en));
  message.hidden = false;
}

function showRefusal(error) {
  if (error instanceof Refused && error.code === "rating_required") {
    // The hall wants the finished service's rating asked for first: say how, point at it.
    say(
      "未执行：请先按“请求评价”，再叫号",
      `Not done: press Request a rating first, then call. ${error.message}`,
      "refused",
    );
    document.getElementById("do-rating").dataset.attention = "true";
    return;
  }
  if (error instanceof Refused) {
    const [zh, en] = REFUSED[error.status] ?? ["未执行", "Not done"];
    say(`未执行：${zh}`, `Not done: ${en}. ${error.message}`, "refused");
  } else if (error?.name === "AbortError") {
    say(
      "控制器未及时答复，请先确认窗口状态再操作",
      "No answer in time: check the window's state before pressing again",
      "refused",
    );
  } else {
    say("无法连接控制器，操作未执行", "Cannot reach the controller: nothing was done", "refused");
  }
}

// ------------------------------------------------------------------ dialogs

function presetChoices(fieldset, name, presets) {
  const legend = fieldset.querySelector("legend");
  fieldset.replaceChildren(
    legend,
    ...presets.map(([zh, en], i) =>
      h(
        "label",
        { class: "preset", for: `${name}-${i}` },
        h("input", { type: "radio", name, id: `${name}-${i}`, value: `${zh} ${en}` }),
        h("span", {}, zh, " ", h("span", { class: "en", lang: "en" }, en)),
      ),
    ),
  );
}

function chosenReason(fieldset, other) {
  const typed = other.value.trim();
  if (typed !== "") {
    return typed;
  }
  const checked = fieldset.querySelector("input:checked");
  return checked ? checked.value : "";
}

/** Open a dialog and resolve with what its form gives on submit, or null when cancelled. */
function runDialog(dialog, cancel, onSubmit) {
  return new Promise((resolve) => {
    let result = null;
    const form = dialog.querySelector("form");
    const submitted = () => {
      result = onSubmit();
    };
    const cancelled = () => dialog.close();
    form.addEventListener("submit", submitted);
    cancel.addEventListener("click", cancelled);
    dialog.addEventListener(
      "close",
      () => {
        form.removeEventListener("submit", submitted);
        cancel.removeEventListener("click", cancelled);
        resolve(result);
      },
      { once: true },
    );
    dialog.showModal();
  });
}

function askReason(titleZh, titleEn, presets, [submitZh, submitEn]) {
  const dialog = document.getElementById("reason-dialog");
  const fieldset = document.getElementById("reason-presets");
  const other = document.getElementById("reason-other");
  const submit = document.getElementById("reason-submit");
  document
    .getElementById("reason-title")
    .replaceChildren(titleZh, " ", h("span", { class: "en", lang: "en" }, titleEn));
  submit.replaceChildren(submitZh, " ", h("span", { class: "en", lang: "en" }, submitEn));
  presetChoices(fieldset, "reason", presets);
  other.value = "";
  submit.disabled = true;
  const check = () => {
    submit.disabled = chosenReason(fieldset, other) === "";
  };
  fieldset.onchange = check;
  other.oninput = check;
  return runDialog(dialog, document.getElementById("reason-cancel"), () => {
    const reason = chosenReason(fieldset, other);
    return reason === "" ? null : reason;
  });
}

function askTransfer(ticket) {
  const dialog = document.getElementById("transfer-dialog");
  const themeSelect = document.getElementById("transfer-theme");
  const windowSelect = document.getElementById("transfer-window");
  const fieldset = document.getElementById("transfer-presets");
  const other = document.getElementById("transfer-other");
  const submit = document.getElementById("transfer-submit");
  const hint = document.getElementById("transfer-hint");
  document.getElementById("transfer-number").textContent = ticket.number;

  themeSelect.replaceChildren(
    ...[...panel.themes.values()].map((t) =>
      h("option", { value: t.id, selected: t.id === ticket.theme }, `${t.name_zh} ${t.name_en}`),
    ),
  );
  const fillWindows = () => {
    const theme = themeSelect.value;
    const kept = windowSelect.value;
    windowSelect.replaceChildren(
      h("option", { value: "" }, "该业务的任一窗口 Any window of the theme"),
      ...panel.windows
        .filter((w) => w.id !== windowId && w.themes.includes(theme))
        .map((w) => h("option", { value: w.id, selected: w.id === kept }, `${w.name_zh} ${w.name_en}`)),
    );
  };
  fillWindows();
  presetChoices(fieldset, "transfer-reason", TRANSFER_REASONS);
  other.value = "";

  const check = () => {
    const moves = themeSelect.value !== ticket.theme || windowSelect.value !== "";
    const reason = chosenReason(fieldset, other);
    submit.disabled = !moves || reason === "";
    if (!moves) {
      hint.textContent = "请选择另一项业务或一个窗口。Choose another theme or a window.";
    } else if (reason === "") {
      hint.textContent = "请说明原因。Give a reason.";
    } else {
      hint.textContent = "";
    }
  };
  themeSelect.onchange = () => {
    fillWindows();
    check();
  };
  windowSelect.onchange = check;
  fieldset.onchange = check;
  other.oninput = check;
  check();
  return runDialog(dialog, document.getElementById("transfer-cancel"), () => {
    const body = { theme: themeSelect.value, reason: chosenReason(fieldset, other) };
    if (windowSelect.value !== "") {
      body.window = windowSelect.value;
    }
    return body;
  });
}

function askNextStage(ticket) {
  const dialog = document.getElementById("continue-dialog");
  const themeSelect = document.getElementById("continue-theme");
  const windowSelect = document.getElementById("continue-window");
  document.getElementById("continue-number").textContent = ticket.number;
  const others = [...panel.themes.values()].filter((t) => t.id !== ticket.theme);
  // Pick-up (查询发证) is the usual next stage: offer it first when the hall has it.
  others.sort((a, b) => (b.id === "pickup") - (a.id === "pickup"));
  themeSelect.replaceChildren(
    ...others.map((t) => h("option", { value: t.id }, `${t.name_zh} ${t.name_en}`)),
  );
  const fillWindows = () => {
    windowSelect.replaceChildren(
      h("option", { value: "" }, "该业务的任一窗口 Any window of the theme"),
      ...panel.windows
        .filter((w) => w.id !== windowId && w.themes.includes(themeSelect.value))
        .map((w) => h("option", { value: w.id }, `${w.name_zh} ${w.name_en}`)),
    );
  };
  fillWindows();
  themeSelect.onchange = fillWindows;
  return runDialog(dialog, document.getElementById("continue-cancel"), () => {
    const body = { theme: themeSelect.value };
    if (windowSelect.value !== "") {
      body.window = windowSelect.value;
    }
    return body;
  });
}

// ------------------------------------------------------------------ drawing

function render() {
  const view = panel.window;
  if (view === null) {
    return;
  }
  document.getElementById("window-zh").textContent = view.name_zh;
  document.getElementById("window-en").textContent = view.name_en;
  document.title = `${view.name_zh} · 窗口面板 Window panel`;
  document.getElementById("window-themes").replaceChildren(
    "业务：",
    view.themes.map((id) => panel.themes.get(id)?.name_zh ?? id).join("、"),
    " ",
    h("span", { class: "en", lang: "en" }, view.themes.map((id) => panel.themes.get(id)?.name_en ?? id).join(", ")),
  );
  const [zh, en] = STATUS_TEXT[view.status] ?? [view.status, view.status];
  const status = document.getElementById("status");
  status.dataset.status = view.status;
  status.replaceChildren(zh, " ", h("span", { class: "en", lang: "en" }, en));
  const pause = document.getElementById("pause-reason");
  pause.hidden = !(view.status === "paused" && view.pause_reason);
  pause.replaceChildren("原因 ", h("span", { class: "en", lang: "en" }, "Reason"), `：${view.pause_reason ?? ""}`);
  document.getElementById("served").textContent = String(view.served);

  renderTicket();
  renderButtons();
  renderRating();
  renderService();
  renderWaiting();
  renderNext();
}

/** Whether a rating can be asked for now: a ticket to rate, and not asked for already. */
function ratingAllowed() {
  const rating = panel.rating;
  if (!rating || !rating.rateable) {
    return false;
  }
  return !rating.ticket || rating.ticket.id !== rating.rateable.id;
}

function renderRating() {
  const state = document.getElementById("rating-state");
  const asked = panel.rating?.ticket ?? null;
  state.hidden = asked === null;
  if (asked !== null) {
    state.replaceChildren(
      `等待评价 · ${asked.number} `,
      h("span", { class: "en", lang: "en" }, `Waiting for a rating of ${asked.number}`),
    );
  }
}

// A case number as the controller takes it (core/hall.py CASE_NUMBER).
const CASE_NUMBER = /^[A-Za-z0-9-]{1,40}$/;
const TICKET_STATUS = {
  called: ["呼叫中", "called"],
  serving: ["办理中", "being served"],
  finished: ["已办结", "finished"],
};

/** The service now or just finished: its rating and case number, and whether the window
 * must ask for its rating before it calls again. */
function renderService() {
  const service = panel.service;
  const section = document.getElementById("service");
  const ticket = service?.ticket ?? null;
  section.hidden = ticket === null;
  const button = document.getElementById("do-case-number");
  button.disabled = panel.busy || ticket === null;
  document.getElementById("case-input").disabled = panel.busy || ticket === null;
  const required = document.getElementById("rating-required");
  required.hidden = !service?.rating_required;
  if (service?.rating_required && ticket !== null) {
    required.replaceChildren(
      `请先为 ${ticket.number} 请求评价，再叫下一位 `,
      h("span", { class: "en", lang: "en" }, `Ask for ${ticket.number}'s rating before you call the next ticket`),
    );
  }
  if (!service?.rating_required) {
    delete document.getElementById("do-rating").dataset.attention;
  }
  if (ticket === null) {
    return;
  }
  const [statusZh, statusEn] = TICKET_STATUS[ticket.status] ?? [ticket.status, ticket.status];
  const rating = ticket.rating === null
    ? ["未评价", "not rated"]
    : [`评价：${ticket.rating_zh}`, `rated: ${ticket.rating_en}`];
  const facts = [
    h("span", { class: "number" }, ticket.number),
    ` · ${statusZh} · ${rating[0]}`,
    ticket.followup ? " · 已转差评整改" : "",
    ticket.case_number ? ` · 办件编号 ${ticket.case_number}` : " · 未记录办件编号",
    " ",
    h(
      "span",
      { class: "en", lang: "en" },
      `${statusEn} · ${rating[1]}${ticket.followup ? " · followed up" : ""}`,
      ticket.case_number ? ` · case number ${ticket.case_number}` : " · no case number yet",
    ),
  ];
  const shown = document.getElementById("service-facts");
  shown.dataset.rated = ticket.rating === null ? "false" : "true";
  shown.replaceChildren(...facts);
}

function renderNext() {
  const list = document.getElementById("next-list");
  list.replaceChildren(
    ...panel.next.map((t) =>
      h(
        "li",
        { "data-ticket": t.id, "data-number": t.number, "data-rule": t.rule },
        h("span", { class: "number" }, t.number),
        h(
          "span",
          { class: "facts" },
          h("span", {}, t.theme_name_zh, " ", h("span", { class: "en", lang: "en" }, t.theme_name_en)),
          t.priority
            ? h(
                "span",
                { class: "tag" },
                `优先 ${panel.groups.get(t.priority)?.name_zh ?? t.priority} `,
                h("span", { class: "en", lang: "en" }, panel.groups.get(t.priority)?.name_en ?? ""),
              )
            : null,
          h(
            "span",
            { class: "rule" },
            RULE_ZH[t.rule] ?? t.rule,
            " ",
            h("span", { class: "en", lang: "en" }, t.explanation),
          ),
        ),
      ),
    ),
  );
  document.getElementById("next-none").hidden = panel.next.length > 0;
}

function renderTicket() {
  const ticket = panel.window.ticket ? panel.ticket : null;
  const card = document.getElementById("current");
  const number = document.getElementById("ticket-number");
  const theme = document.getElementById("ticket-theme");
  const priority = document.getElementById("ticket-priority");
  const progress = document.getElementById("ticket-progress");
  const reason = document.getElementById("ticket-reason");
  if (ticket === null) {
    card.dataset.state = "none";
    number.textContent = "—";
    theme.replaceChildren(
      "没有正在呼叫或办理的号 ",
      h("span", { class: "en", lang: "en" }, "No ticket called or being served"),
    );
    priority.hidden = true;
    progress.hidden = true;
    reason.hidden = true;
    return;
  }
  card.dataset.state = ticket.status;
  number.textContent = ticket.number;
  theme.replaceChildren(ticket.theme_name_zh, " ", h("span", { class: "en", lang: "en" }, ticket.theme_name_en));
  if (ticket.priority) {
    const group = panel.groups.get(ticket.priority);
    priority.replaceChildren(
      `优先 · ${group?.name_zh ?? ticket.priority} `,
      h("span", { class: "en", lang: "en" }, `Priority: ${group?.name_en ?? ticket.priority}`),
    );
    priority.hidden = false;
  } else {
    priority.hidden = true;
  }
  if (ticket.status === "called") {
    const times = ticket.recalls + 1;
    progress.replaceChildren(
      `呼叫中 · 已呼叫 ${times} 次 `,
      h("span", { class: "en", lang: "en" }, times === 1 ? "Calling · called once" : `Calling · called ${times} times`),
    );
  } else {
    progress.replaceChildren("办理中 ", h("span", { class: "en", lang: "en" }, "Being served"));
  }
  progress.hidden = false;
  const call = ticket.call;
  if (call) {
    document.getElementById("reason-zh").textContent = RULE_ZH[call.rule] ?? call.rule;
    document.getElementById("reason-en").textContent = call.explanation;
    const weighed = call.candidates.length;
    document
      .getElementById("reason-weighed")
      .replaceChildren(
        weighed > 1 ? `比较了 ${weighed} 个等候的号 ` : "",
        weighed > 1 ? h("span", { class: "en", lang: "en" }, `${weighed} waiting tickets weighed`) : "",
      );
    reason.hidden = false;
  } else {
    reason.hidden = true;
  }
}

function renderButtons() {
  const allowed = ALLOWED[panel.window.status] ?? [];
  for (const button of document.querySelectorAll("#actions button[data-action]")) {
    const action = button.dataset.action;
    // "rating": a ticket in service, or finished here and not rated, and not asked for yet.
    const possible = action === "rating" ? ratingAllowed() : allowed.includes(action);
    button.disabled = panel.busy || !possible;
    button.setAttribute("aria-busy", panel.busy ? "true" : "false");
  }
  for (const button of document.querySelectorAll("#held-list button")) {
    button.disabled = panel.busy;
  }
  document.getElementById("number-input").disabled = panel.busy || !allowed.includes("call-number");
}

function renderWaiting() {
  document.getElementById("waiting-count").textContent = String(panel.waiting.length);
  document.getElementById("waiting-list").replaceChildren(
    ...panel.waiting.slice(0, WAITING_SHOWN).map((t) => ticketRow(t, null)),
  );
  const more = document.getElementById("waiting-more");
  const hiddenCount = panel.waiting.length - WAITING_SHOWN;
  more.hidden = hiddenCount <= 0;
  more.textContent = hiddenCount > 0 ? `还有 ${hiddenCount} 人 · ${hiddenCount} more` : "";

  document.getElementById("held-list").replaceChildren(
    ...panel.held.map((t) =>
      ticketRow(
        t,
        h(
          "button",
          { type: "button", class: "return", "data-ticket": t.id, disabled: panel.busy },
          "恢复排队 ",
          h("span", { class: "en", lang: "en" }, "Back to queue"),
          h("span", { class: "visually-hidden" }, ` ${t.number}`),
        ),
      ),
    ),
  );
  document.getElementById("held-none").hidden = panel.held.length > 0;
}

function ticketRow(t, button) {
  const theme = panel.themes.get(t.theme);
  const group = t.priority ? panel.groups.get(t.priority) : null;
  return h(
    "li",
    { "data-ticket": t.id, "data-number": t.number },
    h("span", { class: "number" }, t.number),
    h(
      "span",
      { class: "facts" },
      h("span", {}, theme?.name_zh ?? t.theme, " ", h("span", { class: "en", lang: "en" }, theme?.name_en ?? "")),
      t.priority
        ? h(
            "span",
            { class: "tag" },
            `优先 ${group?.name_zh ?? t.priority} `,
            h("span", { class: "en", lang: "en" }, group?.name_en ?? ""),
          )
        : null,
      t.target_window ? h("span", { class: "tag" }, "指定本窗口 ", h("span", { class: "en", lang: "en" }, "Sent here")) : null,
      h("span", { class: "issued" }, `${(t.issued_at ?? "").slice(11, 16)} 取号 `, h("span", { class: "en", lang: "en" }, "taken")),
    ),
    button,
  );
}

function showUnknown() {
  document.getElementById("panel").hidden = true;
  document.querySelector("header.top").hidden = true;
  document.getElementById("unknown").hidden = false;
  document.title = "没有这个窗口 · No such window";
  showLink("live");
}

// ------------------------------------------------------------------ start

function normalisedNumber(raw) {
  const text = raw.trim().toUpperCase();
  const parts = /^([A-Z]{1,2})(\d{1,6})$/.exec(text);
  // "A12" is A012: numbers are printed with at least three digits.
  return parts ? `${parts[1]}${parts[2].padStart(3, "0")}` : text;
}

document.getElementById("actions").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button === null || button.disabled || button.type === "submit") {
    return;
  }
  const run = ACTIONS[button.dataset.action];
  if (run !== undefined && !panel.busy) {
    run();
  }
});

document.getElementById("case-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("case-input");
  const number = input.value.trim();
  if (!CASE_NUMBER.test(number)) {
    say(
      "办件编号为字母、数字或“-”，最多 40 位",
      'A case number is letters, digits or "-", at most 40',
      "refused",
    );
    input.focus();
    return;
  }
  if (panel.busy || document.getElementById("do-case-number").disabled) {
    return;
  }
  press(`${windowUrl}/case-number`, { case_number: number }, (reply) => {
    panel.service = reply.body;
    input.value = "";
    const ticket = reply.body.ticket;
    say(
      `已记录 ${ticket.number} 的办件编号 ${ticket.case_number}`,
      `Case number ${ticket.case_number} recorded for ${ticket.number}`,
    );
  });
});

document.getElementById("call-number").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("number-input");
  const number = normalisedNumber(input.value);
  if (number === "") {
    say("请先输入号码", "Type a number first", "refused");
    input.focus();
    return;
  }
  if (panel.busy || document.getElementById("do-call-number").disabled) {
    return;
  }
  callPress(number).then(() => {
    if (panel.window?.ticket?.number === number) {
      input.value = "";
    }
  });
});

document.getElementById("held-list").addEventListener("click", (event) => {
  const button = event.target.closest("button.return");
  if (button === null || button.disabled) {
    return;
  }
  const ticket = panel.held.find((t) => t.id === button.dataset.ticket);
  ticketPress(button.dataset.ticket, "return", {}, (back) => [
    `${back?.number ?? ticket?.number ?? ""} 已重新排队`,
    `${back?.number ?? ticket?.number ?? ""} waits again`,
  ]);
});

const handlers = { state: onState };
for (const name of HALL_EVENTS) {
  handlers[name] = scheduleRefresh;
}
handlers.TicketRated = (data) => {
  const asked = panel.rating?.ticket;
  if (asked && asked.id === data.ticket_id) {
    say(`${asked.number} 已收到评价`, `${asked.number} has been rated`);
  }
  scheduleRefresh();
};

const stream = new LiveStream("/api/v1/events", handlers, {
  prepare: readHall,
  onLive: () => showLink("live"),
  onLost: () => showLink("reconnecting"),
});

showSignedIn(document.getElementById("signed-in"));
stream.start();
