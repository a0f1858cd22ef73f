// The sign-in page. It reads where to go next from ?next= and asks for what that screen needs:
// a kiosk's token for /kiosk/{id}, a clerk's account and PIN at /window/{id}, an account and
// password for the manager's and technician's screens. The server decides; this page only asks.

import { csrfToken, fetchJson, sendJson } from "./live.js";

/**
 * Only a page of this controller: never send a user elsewhere after signing in. The browser
 * resolves the address itself, as it will when going there ("/\\host" and "/<tab>/host" lead
 * to another host although they start with a single "/").
 */
function pageHere(requested) {
  try {
    const url = new URL(requested, location.origin);
    if (url.origin === location.origin) return url.pathname + url.search + url.hash;
  } catch {
    // not an address at all
  }
  return "/";
}

const next = pageHere(new URLSearchParams(location.search).get("next") || "/");
const byId = (id) => document.getElementById(id);

function placeOf(path) {
  const kiosk = path.match(/^\/kiosk\/([^/?#]+)/);
  if (kiosk) return { role: "kiosk", kiosk: decodeURIComponent(kiosk[1]) };
  const window_ = path.match(/^\/window\/([^/?#]+)/);
  if (window_) return { role: "staff", window: decodeURIComponent(window_[1]) };
  if (path.startsWith("/manager")) return { role: "manager" };
  if (path.startsWith("/technician")) return { role: "technician" };
  return { role: null };
}

const place = placeOf(next);

function setText(id, zh, en) {
  const element = byId(id);
  element.textContent = zh;
  if (en !== undefined) {
    const english = document.createElement("span");
    english.className = "en";
    english.lang = "en";
    english.textContent = ` ${en}`;
    element.append(english);
  }
}

function prepareForm() {
  const placeLine = byId("place");
  if (place.role === "kiosk") {
    byId("account-row").hidden = true;
    byId("account").required = false;
    setText("secret-label", "自助机令牌", "Kiosk token");
    byId("secret").autocomplete = "off";
    setText("place", `自助取号机 ${place.kiosk}`, `Kiosk ${place.kiosk}`);
    placeLine.hidden = false;
  } else if (place.role === "staff") {
    byId("window-row").hidden = false;
    byId("window").value = place.window;
    setText("secret-label", "PIN", "PIN");
    byId("secret").inputMode = "numeric";
    setText("place", `${place.window} 号窗口`, `Window ${place.window}`);
    placeLine.hidden = false;
  } else if (place.role === "manager") {
    setText("place", "大厅经理", "Hall manager");
    placeLine.hidden = false;
  } else if (place.role === "technician") {
    setText("place", "设备技术员", "Technician");
    placeLine.hidden = false;
  }
}

function showProblem(zh, en) {
  const problem = byId("problem");
  setText("problem", zh, en);
  problem.hidden = false;
}

async function signIn(event) {
  event.preventDefault();
  byId("problem").hidden = true;
  const body = { secret: byId("secret").value };
  if (!body.secret) {
    showProblem("请输入密码、PIN 或令牌", "Enter the password, PIN or token");
    return;
  }
  if (place.role) body.role = place.role;
  if (place.role === "kiosk") {
    body.kiosk = place.kiosk;
  } else {
    body.account = byId("account").value.trim();
    if (!body.account) {
      showProblem("请输入工号或账号", "Enter your account");
      return;
    }
  }
  if (place.role === "staff") body.window = byId("window").value.trim();
  byId("submit").disabled = true;
  try {
    const response = await fetch("/api/v1/session", {
      method: "POST",
      // Someone already signed in here (another role, another window) sends their session's
      // CSRF token, as every write with a session must; nobody signed in sends an empty one.
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(body),
      cache: "no-store",
    });
    if (response.ok) {
      location.assign(next);
      return;
    }
    let message = `${response.status}`;
    try {
      message = (await response.json()).error.message;
    } catch {
      // not the API's error shape: keep the status
    }
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After") || "?";
      showProblem(`尝试次数过多，请 ${wait} 秒后再试`, `Too many attempts: try again in ${wait} s`);
    } else if (response.status === 401) {
      showProblem("账号、PIN/密码或令牌不正确，或不能在此登录", message);
    } else {
      showProblem("无法登录", message);
    }
    byId("secret").value = "";
    byId("secret").focus();
  } catch {
    showProblem("无法连接到控制器，请稍后再试", "Cannot reach the controller; try again shortly");
  } finally {
    byId("submit").disabled = false;
  }
}

async function signOut() {
  await sendJson("/api/v1/session", "DELETE");
  location.reload();
}

async function start() {
  prepareForm();
  byId("form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", signOut);
  try {
    const hall = await fetchJson("/api/v1/hall");
    byId("hall").textContent = `${hall.name_zh} · ${hall.name_en}`;
  } catch {
    // the hall's name is a courtesy
  }
  try {
    const session = await fetchJson("/api/v1/session");
    if (session.hint_zh || session.hint_en) {
      byId("hint-zh").textContent = session.hint_zh;
      byId("hint-en").textContent = session.hint_en;
      byId("hint").hidden = false;
    }
    if (session.signed_in) {
      const who = session.name_zh || session.account;
      const where = session.window ? `，${session.window} 号窗口` : "";
      setText("signed-in-text", `已登录：${who}${where}`, `Signed in as ${session.name_en || session.account}`);
      byId("continue").href = next;
      byId("signed-in").hidden = false;
    }
  } catch {
    // the form works without it
  }
  (place.role === "kiosk" ? byId("secret") : byId("account")).focus();
}

start();
