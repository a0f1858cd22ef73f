// A ticket's own status page, opened from the QR code on the ticket. It reads that ticket's
// signed link from the address and asks about that ticket only: nothing on this page (or in
// what it fetches) tells anything about anyone else in the hall.

import { HttpError, LiveStream, fetchJson, h, showLink } from "./live.js";

// What each status asks of the applicant: [Chinese, English, tone], window names filled in.
const NOW = {
  waiting: () => ["请耐心等候叫号", "Please wait to be called", "wait"],
  called: (v) => [
    ["请到 ", h("span", { class: "window" }, v.window_name_zh), " 办理"],
    ["Please go to ", h("span", { class: "window" }, v.window_name_en)],
    "go",
  ],
  serving: (v) => [`正在 ${v.window_name_zh} 办理`, `Being served at ${v.window_name_en}`, "done"],
  finished: () => ["办理完毕，感谢您的耐心", "Finished. Thank you for waiting.", "done"],
  no_show: () => ["已过号，请到导服台咨询", "Your number was missed. Please ask at the desk.", "stop"],
  held: () => ["暂缓办理，请留意再次叫号", "On hold: you will be called again", "wait"],
  cancelled: () => ["此号已取消", "This ticket was cancelled", "stop"],
  printing: () => ["正在出票…", "Your ticket is being printed…", "wait"],
  voided: () => ["此号已作废，请重新取号", "This ticket was voided. Please take a new one.", "stop"],
};

function linkOfPage() {
  const path = window.location.pathname;
  const at = path.indexOf("/t/");
  if (at < 0) {
    return "";
  }
  try {
    return decodeURIComponent(path.slice(at + 3)).replace(/\/+$/, "");
  } catch {
    return ""; // a mangled address is just a wrong link
  }
}

const link = linkOfPage();
const statusUrl = `/api/v1/status/${encodeURIComponent(link)}`;

function render(view) {
  const ticket = document.getElementById("ticket");
  ticket.dataset.status = view.status;
  document.getElementById("number").textContent = view.number;
  document.getElementById("theme-zh").textContent = view.theme_name_zh;
  document.getElementById("theme-en").textContent = view.theme_name_en;
  document.getElementById("priority").hidden = !view.priority;

  const [zh, en, tone] = (NOW[view.status] ?? (() => [view.status, view.status, "wait"]))(view);
  const now = document.getElementById("now");
  now.dataset.tone = tone;
  document.getElementById("now-zh").replaceChildren(...[zh].flat());
  document.getElementById("now-en").replaceChildren(...[en].flat());
  const detail = document.getElementById("now-detail");
  if (view.status === "called" && view.recalls > 0) {
    const times = view.recalls + 1;
    detail.replaceChildren(`已呼叫 ${times} 次 `, h("span", { class: "en", lang: "en" }, `Called ${times} times`));
    detail.hidden = false;
  } else if (view.status === "waiting" && view.ahead === 0) {
    detail.replaceChildren("下一位就是您 ", h("span", { class: "en", lang: "en" }, "You are next"));
    detail.hidden = false;
  } else {
    detail.replaceChildren();
    detail.hidden = true;
  }

  const queue = document.getElementById("queue");
  queue.hidden = view.status !== "waiting";
  document.getElementById("ahead").textContent = view.ahead ?? "—";
  document.getElementById("position").textContent = view.position ?? "—";
  document.getElementById("wait").replaceChildren(...waitText(view.estimated_wait_s));

  const [statusZh, statusEn] = [zh, en].map((part) =>
    [part].flat().map((p) => (typeof p === "string" ? p : p.textContent)).join(""),
  );
  document.title = `${view.number} · ${statusZh} · ${statusEn}`;
}

function waitText(seconds) {
  if (seconds === null || seconds === undefined) {
    return ["—"];
  }
  if (seconds < 60) {
    return ["1 分钟内 ", h("span", { class: "en", lang: "en" }, "under a minute")];
  }
  const minutes = Math.ceil(seconds / 60);
  return [
    "约 ",
    h("span", { class: "figure" }, String(minutes)),
    " 分钟 ",
    h("span", { class: "en", lang: "en" }, `about ${minutes} min`),
  ];
}

function showInvalid() {
  stream.stop();
  showLink("live");
  document.getElementById("ticket").hidden = true;
  document.getElementById("invalid").hidden = false;
  document.title = "链接无效或已过期 · Link invalid or expired";
}

async function readStatus() {
  if (link === "") {
    showInvalid();
    return false;
  }
  try {
    render(await fetchJson(statusUrl));
  } catch (error) {
    if (error instanceof HttpError && error.status >= 400 && error.status < 500) {
      showInvalid();
      return false;
    }
    throw error; // the controller is away: try again
  }
  return true;
}

const stream = new LiveStream(
  `${statusUrl}/events`,
  {
    status: render,
    expired: showInvalid, // the business day rolled over while the page was open
  },
  {
    prepare: readStatus,
    onLive: () => showLink("live"),
    onLost: () => showLink("reconnecting"),
  },
);

stream.start();
