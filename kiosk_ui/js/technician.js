// The technician console: every device with its health (read every 2 s, the troubled ones
// first), a test-fire per device, the device profiles with a checked editor, and the recent
// log. The page holds no data of its own: everything comes from the API, which needs the
// technician's sign-in.

import { HttpError, fetchJson, h, sendJson, showSignedIn, signInUrl } from "./live.js";

const POLL_MS = 2000;

const STATES = {
  lost: { rank: 0, icon: "✖", zh: "离线", en: "Lost" },
  alert: { rank: 1, icon: "⚠", zh: "告警", en: "Alert" },
  connecting: { rank: 2, icon: "…", zh: "连接中", en: "Connecting" },
  ready: { rank: 3, icon: "✔", zh: "正常", en: "Ready" },
};

const KINDS = {
  call_pad: ["呼叫器", "Call pad"],
  window_display: ["窗口屏", "Window display"],
  rating_pad: ["评价器", "Rating pad"],
  ticket_printer: ["号票打印机", "Ticket printer"],
  card_reader: ["读卡器", "Card reader"],
  code_scanner: ["扫码器", "Code scanner"],
  announcer: ["广播", "Announcer"],
};

const TESTS = {
  print: ["打印测试票", "Print a test ticket"],
  flash: ["屏幕测试", "Flash the display"],
  speak: ["播放测试语音", "Speak a test sentence"],
  light: ["点亮呼叫器", "Light the pad"],
};

const REFUSED = {
  404: ["没有这台设备", "No such device"],
  409: ["设备现在无法测试", "The device cannot be tested now"],
  422: ["这类设备没有测试", "This kind of device has no test"],
};

const state = {
  lang: "zh",
  zone: undefined, // the hall's time zone, from /api/v1/hall
  hall: null, // the hall's names
  devices: [],
  cards: new Map(), // device id -> {item, button, details, result}
  order: "",
  tab: "devices",
  profiles: null,
  current: null, // the profile in the editor
  log: [],
  failures: 0,
  updatedAt: null,
};

// ------------------------------------------------------------------ language

/** A pair of texts: the chosen language first, the other one quieter and marked. */
function bi(zh, en) {
  const first = state.lang === "zh" ? [zh, "zh-CN"] : [en, "en"];
  const second = state.lang === "zh" ? [en, "en"] : [zh, "zh-CN"];
  return [
    h("span", { lang: first[1] }, first[0]),
    " ",
    h("span", { class: "en", lang: second[1] }, second[0]),
  ];
}

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const element of document.querySelectorAll("[data-zh]")) {
    element.replaceChildren(...bi(element.dataset.zh, element.dataset.en));
  }
  const button = document.getElementById("language");
  button.textContent = state.lang === "zh" ? "English" : "中文";
  button.lang = state.lang === "zh" ? "en" : "zh-CN";
  document.title = state.lang === "zh" ? "设备维护 · Technician console" : "Technician console · 设备维护";
  if (state.hall !== null) {
    document.getElementById("hall").replaceChildren(...bi(state.hall.name_zh, state.hall.name_en));
  }
  for (const card of state.cards.values()) {
    card.drawn = null; // every card is drawn again in the new language
  }
  drawDevices();
  drawProfiles();
  drawLog();
  drawFreshness();
}

// ------------------------------------------------------------------ times

function clock(at, withMs = false) {
  if (at === null || at === undefined) {
    return "—";
  }
  const date = typeof at === "number" ? new Date(at * 1000) : new Date(at);
  const text = new Intl.DateTimeFormat("zh-CN", {
    timeZone: state.zone,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }).format(date);
  return withMs ? `${text}.${String(date.getMilliseconds()).padStart(3, "0")}` : text;
}

function ago(at) {
  if (at === null || at === undefined) {
    return bi("从未", "never");
  }
  const seconds = Math.max(0, Math.round((Date.now() - new Date(at).getTime()) / 1000));
  if (seconds < 90) {
    return bi(`${seconds} 秒前`, `${seconds} s ago`);
  }
  const minutes = Math.round(seconds / 60);
  return bi(`${minutes} 分钟前`, `${minutes} min ago`);
}

// ------------------------------------------------------------------ signed out

function signedOut(error) {
  if (!(error instanceof HttpError) || (error.status !== 401 && error.status !== 403)) {
    return false;
  }
  const box = document.getElementById("signed-out");
  box.hidden = false;
  box.replaceChildren(
    ...bi("请以技术人员身份登录。", "Please sign in as a technician."),
    " ",
    h("a", { href: signInUrl() }, ...bi("登录", "Sign in")),
  );
  return true;
}

// ------------------------------------------------------------------ devices

async function readDevices() {
  try {
    state.devices = await fetchJson("/api/v1/devices");
    state.failures = 0;
    state.updatedAt = new Date();
    document.body.dataset.link = "live";
  } catch (error) {
    state.failures += 1;
    document.body.dataset.link = "reconnecting";
    if (signedOut(error)) {
      return;
    }
  }
  drawDevices();
  drawFreshness();
}

function drawFreshness() {
  const line = document.getElementById("freshness");
  if (state.updatedAt === null) {
    line.dataset.state = "connecting";
    line.replaceChildren(...bi("正在读取", "Loading"));
  } else if (state.failures > 0) {
    line.dataset.state = "stale";
    line.replaceChildren(
      "⚠ ",
      ...bi(`连接中断，显示 ${clock(state.updatedAt)} 的状态`, `Connection lost; as of ${clock(state.updatedAt)}`),
    );
  } else {
    line.dataset.state = "live";
    line.replaceChildren(...bi(`更新于 ${clock(state.updatedAt)}`, `Updated ${clock(state.updatedAt)}`));
  }
}

function sorted(devices) {
  return [...devices].sort(
    (a, b) => (STATES[a.state]?.rank ?? 9) - (STATES[b.state]?.rank ?? 9) || a.id.localeCompare(b.id),
  );
}

function drawDevices() {
  const list = document.getElementById("devices");
  const devices = sorted(state.devices);
  const troubled = devices.filter((d) => d.state === "lost" || d.state === "alert").length;
  document.getElementById("device-summary").replaceChildren(
    ...(troubled
      ? ["⚠ ", ...bi(`${devices.length} 台设备，${troubled} 台需要处理`, `${devices.length} devices, ${troubled} need attention`)]
      : bi(`${devices.length} 台设备，全部正常或连接中`, `${devices.length} devices, none lost or alerting`)),
  );
  const seen = new Set();
  for (const device of devices) {
    seen.add(device.id);
    drawCard(device);
  }
  for (const [id, card] of state.cards) {
    if (!seen.has(id)) {
      card.item.remove();
      state.cards.delete(id);
    }
  }
  const order = devices.map((d) => d.id).join("\n");
  if (order !== state.order) {
    // Moving a focused button would drop its focus: only move when the order changed.
    state.order = order;
    list.replaceChildren(...devices.map((d) => state.cards.get(d.id).item));
  }
}

function cardFor(device) {
  let card = state.cards.get(device.id);
  if (card === undefined) {
    const button = h("button", { type: "button", class: "test" });
    button.addEventListener("click", () => testFire(device.id));
    card = {
      item: h("li", { class: "device", id: `device-${device.id}` }),
      button,
      frames: h("details", { class: "frames" }),
      result: h("p", { class: "result", role: "status", "aria-live": "polite" }),
      busy: false,
      outcome: null, // what the last test-fire did, said again in each language
      drawn: null,
    };
    state.cards.set(device.id, card);
  }
  return card;
}

function drawCard(device) {
  const card = cardFor(device);
  const drawn = JSON.stringify(device) + (card.busy ? "busy" : "") + state.lang;
  if (card.drawn === drawn) {
    return;
  }
  card.drawn = drawn;
  const look = STATES[device.state] ?? { icon: "?", zh: device.state, en: device.state };
  const kind = KINDS[device.kind] ?? [device.kind, device.kind];
  card.item.dataset.state = device.state;
  const place = device.window ? [" · ", ...bi(`${device.window} 号窗口`, `window ${device.window}`)] : [];
  const test = TESTS[device.test];
  card.button.disabled = !test || card.busy;
  card.button.replaceChildren(...(test ? bi(...test) : bi("没有测试", "No test")));
  card.button.setAttribute("aria-describedby", `device-${device.id}-name`);
  const outcome = card.outcome;
  card.result.dataset.outcome = outcome ? outcome.kind : "";
  card.result.replaceChildren(...(outcome ? [outcome.mark, ...bi(outcome.zh, outcome.en), outcome.words] : []));
  card.frames.replaceChildren(
    h("summary", {}, ...bi("最近收发的数据帧", "Recent frames in and out")),
    frameList("收到", "In", device.recent_in),
    frameList("发出", "Out", device.recent_out),
  );
  const parts = [
    h(
      "div",
      { class: "device-head" },
      h("p", { class: "state", "data-state": device.state },
        h("span", { class: "icon", "aria-hidden": "true" }, look.icon), " ", ...bi(look.zh, look.en)),
      h("h3", { id: `device-${device.id}-name` }, device.id),
      h("p", { class: "kind" }, ...bi(...kind), ...place),
    ),
    h(
      "dl",
      { class: "facts" },
      fact(["最近联系", "Last seen"], [h("time", {}, clock(device.last_seen)), " (", ...ago(device.last_seen), ")"]),
      fact(["状态始于", "In this state since"], [h("time", {}, clock(device.since))]),
      fact(["错误", "Errors"], [h("span", { class: "figure" }, String(device.errors))]),
      fact(["重连次数", "Reconnects"], [h("span", { class: "figure" }, String(device.reconnects))]),
      fact(["收 / 发帧数", "Frames in / out"], [h("span", { class: "figure" }, `${device.frames_in} / ${device.frames_out}`)]),
      fact(["位置", "Where"], [device.where]),
      fact(["型号配置", "Profile"], [device.profile]),
    ),
    device.last_error
      ? h("p", { class: "last-error" }, h("span", { "aria-hidden": "true" }, "⚠ "), ...bi("最近错误：", "Last error: "), device.last_error)
      : null,
    h("div", { class: "device-actions" }, card.button, card.result),
    card.frames,
  ];
  card.item.replaceChildren(...parts.filter((part) => part !== null));
}

function fact(label, value) {
  return h("div", {}, h("dt", {}, ...bi(...label)), h("dd", {}, ...value));
}

function frameList(zh, en, frames) {
  const items = (frames ?? []).slice().reverse();
  return h(
    "div",
    { class: "frame-list" },
    h("h4", {}, ...bi(zh, en)),
    items.length
      ? h(
          "ol",
          {},
          ...items.map((f) =>
            h("li", {}, h("time", {}, clock(f.at, true)), " ", h("code", {}, f.frame), f.note ? h("span", { class: "note" }, ` ${f.note}`) : null),
          ),
        )
      : h("p", { class: "note" }, ...bi("还没有", "None yet")),
  );
}

async function testFire(deviceId) {
  const card = state.cards.get(deviceId);
  if (card === undefined || card.busy) {
    return;
  }
  card.busy = true;
  card.drawn = null;
  card.outcome = { kind: "busy", mark: "", zh: "正在测试…", en: "Testing…", words: "" };
  drawCards();
  try {
    const done = await sendJson(`/api/v1/devices/${encodeURIComponent(deviceId)}/test`, "POST", undefined, 45000);
    card.outcome = { kind: "done", mark: "✔ ", zh: "已完成：", en: "Done: ", words: done.done };
  } catch (error) {
    const [zh, en] = (error instanceof HttpError && REFUSED[error.status]) || ["未完成", "Not done"];
    card.outcome = { kind: "refused", mark: "✖ ", zh: `${zh}：`, en: `${en}: `, words: error.message };
  } finally {
    card.busy = false;
    card.drawn = null;
    drawCards();
  }
}

function drawCards() {
  for (const device of state.devices) {
    drawCard(device);
  }
}

// ------------------------------------------------------------------ profiles

async function readProfiles() {
  try {
    state.profiles = await fetchJson("/api/v1/profiles");
  } catch (error) {
    signedOut(error);
    return;
  }
  drawProfiles();
}

function drawProfiles() {
  const listing = state.profiles;
  if (listing === null) {
    return;
  }
  document.getElementById("profiles-folder").replaceChildren(
    ...bi("配置目录：", "Profile folder: "),
    h("code", {}, listing.folder),
    " ",
    ...(listing.writable ? [] : ["⚠ ", ...bi("控制器不能写入此目录", "the controller cannot write here")]),
  );
  const list = document.getElementById("profiles");
  list.replaceChildren(
    ...listing.profiles.map((p) => {
      const kind = KINDS[p.kind] ?? [p.kind ?? "?", p.kind ?? "?"];
      const chosen = state.current === p.name;
      const button = h(
        "button",
        { type: "button", class: "profile", "aria-pressed": chosen ? "true" : "false", "data-profile": p.name },
        h("span", { class: "profile-name" }, p.name),
        h("span", { class: "profile-kind" }, ...bi(...kind)),
        p.valid ? null : h("span", { class: "flag bad" }, "✖ ", ...bi(`${p.problems} 个问题`, `${p.problems} problem(s)`)),
        p.used_by.length ? h("span", { class: "used" }, ...bi(`使用中：${p.used_by.join("、")}`, `used by ${p.used_by.join(", ")}`)) : null,
        p.saved_since_start ? h("span", { class: "flag saved" }, "↻ ", ...bi("已保存，下次启动生效", "saved: in force at the next start")) : null,
      );
      button.addEventListener("click", () => openProfile(p.name));
      return h("li", {}, button);
    }),
  );
}

async function openProfile(name) {
  try {
    const profile = await fetchJson(`/api/v1/profiles/${encodeURIComponent(name)}`);
    state.current = name;
    document.getElementById("profile-name").value = profile.name;
    document.getElementById("profile-text").value = profile.text;
    showCheck(null);
    drawProfiles();
  } catch (error) {
    if (!signedOut(error)) {
      showCheck({ ok: false, problems: [error.message] });
    }
  }
}

function showCheck(check, savedAs = null) {
  const result = document.getElementById("check-result");
  const list = document.getElementById("problems");
  list.replaceChildren();
  if (check === null) {
    result.dataset.outcome = "";
    result.replaceChildren();
    return;
  }
  if (savedAs !== null) {
    result.dataset.outcome = "ok";
    result.replaceChildren("✔ ", ...bi(`已保存 ${savedAs}，控制器下次启动时生效。`, `Saved ${savedAs}; it takes effect at the controller's next start.`));
  } else if (check.ok) {
    result.dataset.outcome = "ok";
    result.replaceChildren("✔ ", ...bi("没有问题，可以保存。", "No problems: ready to save."));
  } else {
    result.dataset.outcome = "bad";
    result.replaceChildren("✖ ", ...bi(`有 ${check.problems.length} 个问题，未保存：`, `${check.problems.length} problem(s); nothing saved:`));
    list.replaceChildren(...check.problems.map((line) => h("li", {}, h("code", {}, line))));
  }
}

function editorValues() {
  return {
    name: document.getElementById("profile-name").value.trim(),
    text: document.getElementById("profile-text").value,
  };
}

async function check() {
  const { name, text } = editorValues();
  try {
    const checked = await sendJson("/api/v1/profiles/validate", "POST", { name, text });
    showCheck(checked);
    return checked;
  } catch (error) {
    showCheck({ ok: false, problems: [error.message] });
    return null;
  }
}

async function save(event) {
  event.preventDefault();
  const saveButton = document.getElementById("save");
  saveButton.disabled = true;
  try {
    const checked = await check();
    if (checked === null || !checked.ok) {
      return; // the problems are shown beside the editor; nothing is sent
    }
    const { name, text } = editorValues();
    const saved = await sendJson(`/api/v1/profiles/${encodeURIComponent(name)}`, "PUT", { text });
    state.current = saved.name;
    showCheck(checked, saved.name);
    await readProfiles();
  } catch (error) {
    showCheck({ ok: false, problems: [error.message] });
  } finally {
    saveButton.disabled = false;
  }
}

// ------------------------------------------------------------------ log

async function readLog() {
  const level = document.getElementById("log-level").value;
  const limit = document.getElementById("log-limit").value;
  try {
    const body = await fetchJson(`/api/v1/log?limit=${limit}&level=${level}`);
    state.log = body.lines;
  } catch (error) {
    signedOut(error);
    return;
  }
  drawLog();
}

const LEVEL_MARK = { debug: "·", info: "ℹ", warning: "⚠", error: "✖", critical: "✖" };

function drawLog() {
  const lines = state.log.slice().reverse();
  document.getElementById("log-count").replaceChildren(
    ...bi(`最近 ${lines.length} 行，最新的在上`, `The latest ${lines.length} lines, newest first`),
  );
  document.getElementById("log").replaceChildren(
    ...lines.map((line) =>
      h(
        "li",
        { class: "line", "data-level": line.level },
        h("time", {}, line.at.slice(11, 19)),
        " ",
        h("span", { class: "level" }, h("span", { "aria-hidden": "true" }, LEVEL_MARK[line.level] ?? ""), ` ${line.level}`),
        " ",
        h("span", { class: "event" }, line.event),
        " ",
        h("span", { class: "fields" }, Object.entries(line.fields).map(([k, v]) => `${k}=${v}`).join(" ")),
      ),
    ),
  );
}

// ------------------------------------------------------------------ tabs

function showTab(name) {
  state.tab = name;
  for (const tab of ["devices", "profiles", "log"]) {
    const button = document.getElementById(`tab-${tab}`);
    const chosen = tab === name;
    button.setAttribute("aria-selected", chosen ? "true" : "false");
    button.tabIndex = chosen ? 0 : -1;
    document.getElementById(`${tab}-panel`).hidden = !chosen;
  }
  if (name === "profiles" && state.profiles === null) {
    readProfiles();
  }
  if (name === "log") {
    readLog();
  }
}

function tabKeys(event) {
  const order = ["devices", "profiles", "log"];
  const at = order.indexOf(state.tab);
  let next = null;
  if (event.key === "ArrowRight") next = order[(at + 1) % order.length];
  if (event.key === "ArrowLeft") next = order[(at + order.length - 1) % order.length];
  if (next !== null) {
    event.preventDefault();
    showTab(next);
    document.getElementById(`tab-${next}`).focus();
  }
}

// ------------------------------------------------------------------ start

async function poll() {
  await readDevices();
  if (state.tab === "log") {
    await readLog();
  }
  setTimeout(poll, POLL_MS);
}

async function start() {
  for (const tab of ["devices", "profiles", "log"]) {
    document.getElementById(`tab-${tab}`).addEventListener("click", () => showTab(tab));
  }
  document.querySelector(".tabs").addEventListener("keydown", tabKeys);
  document.getElementById("language").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    applyLanguage();
  });
  document.getElementById("validate").addEventListener("click", check);
  document.getElementById("editor").addEventListener("submit", save);
  document.getElementById("log-level").addEventListener("change", readLog);
  document.getElementById("log-limit").addEventListener("change", readLog);
  try {
    const hall = await fetchJson("/api/v1/hall");
    state.zone = hall.timezone;
    state.hall = hall;
  } catch {
    // the hall's name and zone are a nicety: times show in the browser's zone without them
  }
  applyLanguage();
  poll();
}

showSignedIn(document.getElementById("signed-in"));
start();
