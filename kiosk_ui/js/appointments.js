// The manager tablet's appointments (预约, DB44/T 2138 9.5): a business day's bookings, earliest
// slot first, with their state in words and the counts per state; cancelling one with a reason,
// booking one by hand, and importing a CSV file of bookings (all or nothing). The controller
// owns the truth: the day is read again after every change and on every appointment event.
// A booking made with an ID number shows only that it was: the page never sees the number.

import { fetchJson, h } from "./live.js";

// Days offered as one tap besides today (the demo hall books slots 7 days ahead); the date
// field reaches any other day.
const DAYS_AHEAD = 7;
const CSV_MAX_BYTES = 256 * 1024; // the controller's own limit for one import
const CODE_SHAPE = /^[A-Za-z0-9]{4,32}$/;

// Each state: [Chinese, English, a sign of its own so that colour is never the only cue].
const STATE = {
  booked: ["已预约", "Booked", "○"],
  checked_in: ["已签到", "Checked in", "✔"],
  late: ["迟到签到", "Late", "△"],
  missed: ["未到", "Missed", "✖"],
  cancelled: ["已取消", "Cancelled", "⊘"],
};
const COUNTED = ["booked", "checked_in", "late", "missed", "cancelled"];

const CHANNEL = {
  api: ["预约接口", "Booking API"],
  kiosk: ["自助机", "Kiosk"],
  "kiosk-screen": ["自助机", "Kiosk"],
  demo: ["演示", "Demo"],
};

const CANCEL_REASONS = [
  ["申请人改约", "Applicant rebooked"],
  ["申请人来电取消", "Applicant called to cancel"],
  ["录入有误", "Entered by mistake"],
];

const WEEKDAYS = [
  ["周日", "Sun"],
  ["周一", "Mon"],
  ["周二", "Tue"],
  ["周三", "Wed"],
  ["周四", "Thu"],
  ["周五", "Fri"],
  ["周六", "Sat"],
];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// What the tab shows: the chosen day (null: the hall's business day, whichever it is now), the
// last view read, the last import's outcome, and what the day picker was drawn for.
const A = { day: null, view: null, imported: null, pickerDrawn: "" };

/** The day `days` after the ISO day `day` (calendar arithmetic, whatever the tablet's zone). */
function dayAfter(day, days) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

/** The chosen day as YYYY-MM-DD once the hall's day is known. */
function shownDay(today) {
  return A.day ?? today;
}

/** Read the chosen day's bookings; a read overtaken by another day's choice is dropped. */
export async function readAppointments() {
  const day = A.day;
  const view = await fetchJson(`/api/v1/appointments${day === null ? "" : `?day=${day}`}`);
  if (day === A.day) {
    A.view = view;
  }
}

/** Show another day (null or today: the hall's business day). */
export function chooseBookingDay(day, today) {
  A.day = day === null || day === "" || day === today ? null : day;
  A.view = null;
  A.imported = null;
}

function dayWords(day, today) {
  const date = new Date(`${day}T00:00:00Z`);
  const [weekZh, weekEn] = WEEKDAYS[date.getUTCDay()];
  const dateEn = `${weekEn} ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}`;
  if (day === today) return [`今天 ${day.slice(5)} ${weekZh}`, `Today, ${dateEn}`];
  if (day === dayAfter(today, 1)) return [`明天 ${day.slice(5)} ${weekZh}`, `Tomorrow, ${dateEn}`];
  return [`${day.slice(5)} ${weekZh}`, dateEn];
}

function renderPicker(today, { pair, lang }) {
  const drawn = `${today}|${A.day}|${lang}`;
  if (A.pickerDrawn === drawn) {
    return; // drawn again only when something changed: a refresh keeps the focus where it is
  }
  A.pickerDrawn = drawn;
  const fieldset = document.getElementById("booking-days");
  const legend = fieldset.querySelector("legend");
  const chosen = shownDay(today);
  fieldset.replaceChildren(
    legend,
    ...Array.from({ length: DAYS_AHEAD + 1 }, (_, i) => {
      const day = dayAfter(today, i);
      return h(
        "label",
        { class: "preset", for: `booking-day-${i}` },
        h("input", { type: "radio", name: "booking-day", id: `booking-day-${i}`, value: day, checked: day === chosen }),
        h("span", {}, ...pair(...dayWords(day, today))),
      );
    }),
  );
  const other = document.getElementById("booking-day-other");
  other.min = today;
  other.value = chosen;
}

function clock(iso) {
  return iso ? iso.slice(11, 16) : "—";
}

function stateCell(b, { pair }) {
  const [zh, en, sign] = STATE[b.status] ?? [b.status, b.status, "?"];
  let words = [zh, en];
  if ((b.status === "checked_in" || b.status === "late") && b.ticket) {
    words =
      b.status === "late"
        ? [`迟到签到 · ${b.ticket}（按普通号）`, `Late · ${b.ticket} (as a walk-in)`]
        : [`已签到 · ${b.ticket}`, `Checked in · ${b.ticket}`];
  }
  const when = b.checked_in_at ?? b.closed_at;
  return h(
    "td",
    { class: "booking-state" },
    h("span", { class: "sign", "aria-hidden": "true" }, sign),
    " ",
    h("span", { class: "words" }, ...pair(...words)),
    when ? h("span", { class: "sub figure" }, ` ${clock(when)}`) : null,
  );
}

function row(b, editable, ctx) {
  const { pair, groups } = ctx;
  const group = b.priority ? groups.get(b.priority) : null;
  const [channelZh, channelEn] = CHANNEL[b.channel] ?? [b.channel, b.channel];
  const who = b.code ?? ctx.one("身份证预约", "by ID card");
  return h(
    "tr",
    { "data-booking": b.id, "data-status": b.status },
    h("th", { scope: "row", class: "slot figure" }, clock(b.slot_at)),
    h("td", {}, ...pair(b.theme_name_zh, b.theme_name_en)),
    h(
      "td",
      { class: "booking-code" },
      b.code !== null
        ? h("span", { class: "code figure" }, b.code)
        : h("span", { class: "by-card" }, ...pair("身份证预约", "by ID card")),
    ),
    h(
      "td",
      {},
      b.priority
        ? h("span", { class: "tag priority" }, ...pair(group?.name_zh ?? b.priority, group?.name_en ?? b.priority))
        : h("span", { class: "sub" }, ...pair("无", "None")),
    ),
    h("td", {}, ...pair(channelZh, channelEn)),
    stateCell(b, ctx),
    h(
      "td",
      {},
      editable && b.status === "booked"
        ? h(
            "button",
            { type: "button", class: "stop", "data-booking-action": "cancel", "data-booking": b.id },
            ...pair("取消预约", "Cancel"),
            h("span", { class: "visually-hidden" }, ` ${clock(b.slot_at)} ${who}`),
          )
        : null,
    ),
  );
}

function renderCounts(bookings, { pair }) {
  const count = (status) => bookings.filter((b) => b.status === status).length;
  const items = [["all", ["共计", "All"], bookings.length], ...COUNTED.map((s) => [s, STATE[s], count(s)])];
  document.getElementById("booking-counts").replaceChildren(
    ...items.map(([key, [zh, en, sign], value]) =>
      h(
        "div",
        { class: "total", "data-count": key },
        h("dt", {}, sign ? h("span", { class: "sign", "aria-hidden": "true" }, `${sign} `) : null, ...pair(zh, en)),
        h("dd", { class: "figure" }, String(value)),
      ),
    ),
  );
}

function fillSelect(select, options) {
  const drawn = options.map((o) => o.join("|")).join("\n");
  if (select.dataset.drawn === drawn) {
    return; // unchanged: an open list is not closed by a refresh
  }
  select.dataset.drawn = drawn;
  const kept = select.value;
  select.replaceChildren(
    ...options.map(([value, first, second]) =>
      h("option", { value, selected: value === kept }, `${first} · ${second}`),
    ),
  );
}

function renderImport({ pair }) {
  const result = document.getElementById("import-result");
  const outcome = A.imported;
  result.hidden = outcome === null;
  if (outcome === null) {
    return;
  }
  result.dataset.outcome = outcome.problems ? "refused" : "imported";
  const summary = outcome.problems
    ? [`${outcome.problems.length} 行未通过，未导入任何预约：`, `${outcome.problems.length} row(s) refused; nothing was imported:`]
    : [`已导入 ${outcome.imported} 个预约`, `${outcome.imported} booking(s) imported`];
  document.getElementById("import-summary").replaceChildren(
    h("span", { class: "sign", "aria-hidden": "true" }, outcome.problems ? "✖ " : "✔ "),
    ...pair(...summary),
  );
  document.getElementById("import-problems").replaceChildren(
    ...(outcome.problems ?? []).map((text) => {
      const line = /^line (\d+):/.exec(text)?.[1] ?? "";
      return h("li", { "data-line": line }, text);
    }),
  );
}

/** The hand-made booking's problem in words, or null when it can be sent. */
function bookingProblem() {
  const time = document.getElementById("book-time").value;
  const code = document.getElementById("book-code").value.trim();
  if (!document.getElementById("book-theme").value) return ["请选择业务", "Choose a theme"];
  if (!/^\d{2}:\d{2}/.test(time)) return ["请填写预约时间", "Enter the slot's time"];
  if (!CODE_SHAPE.test(code)) return ["预约码为 4–32 位字母或数字", "A booking code is 4 to 32 letters and digits"];
  return null;
}

/** Enable the forms' buttons only when there is something to send (and show why not). */
export function checkAppointmentForms({ pair, busy }) {
  const problem = bookingProblem();
  const edited = document.getElementById("book-time").value || document.getElementById("book-code").value;
  document.getElementById("book-problem").replaceChildren(...(problem && edited ? pair(...problem) : []));
  const book = document.getElementById("book-submit");
  book.dataset.off = problem ? "true" : "false";
  book.disabled = busy || problem !== null;
  const importButton = document.getElementById("import-submit");
  const none = document.getElementById("import-file").files.length === 0;
  importButton.dataset.off = none ? "true" : "false";
  importButton.disabled = busy || none;
}

/** Draw the tab: the day picker, the counts, the bookings and the forms. */
export function renderAppointments(ctx) {
  const { pair, one, today, themes, groups } = ctx;
  const both = (zh, en) => [one(zh, en), one(en, zh)]; // an option's text, shown language first
  if (!today) {
    return;
  }
  renderPicker(today, ctx);
  const day = shownDay(today);
  const view = A.view !== null && A.view.day === day ? A.view : null;
  const bookings = view?.appointments ?? [];
  const editable = day >= today;
  document.getElementById("booking-day-title").replaceChildren(
    ...pair(`${day} 的预约`, `Bookings on ${day}`),
  );
  renderCounts(bookings, ctx);
  document.getElementById("booking-rows").replaceChildren(...bookings.map((b) => row(b, editable, ctx)));
  document.getElementById("bookings-none").hidden = view === null || bookings.length > 0;
  document.getElementById("book-title").replaceChildren(...pair(`为 ${day} 手工预约`, `Book by hand on ${day}`));
  document.getElementById("book-form").hidden = !editable;
  fillSelect(document.getElementById("book-theme"), [...themes.values()].map((t) => [t.id, ...both(t.name_zh, t.name_en)]));
  fillSelect(document.getElementById("book-priority"), [
    ["", ...both("无（普通号）", "None (regular)")],
    ...[...groups.values()].map((g) => [g.id, ...both(g.name_zh, g.name_en)]),
  ]);
  renderImport(ctx);
  checkAppointmentForms(ctx);
}

/** Cancel one booking after asking for the reason (the tablet's reason dialog). */
export async function cancelBooking(id, { askAction, send, one }) {
  const booking = A.view?.appointments.find((b) => b.id === id);
  if (!booking) {
    return;
  }
  const who = booking.code ?? one("身份证预约", "by ID card");
  const slot = clock(booking.slot_at);
  const answer = await askAction({
    title: [`取消预约 ${slot} ${who}`, `Cancel the booking ${slot} ${who}`],
    presets: CANCEL_REASONS,
    submit: ["取消预约", "Cancel the booking"],
  });
  if (answer !== null) {
    await send(`/api/v1/appointments/${encodeURIComponent(id)}`, "DELETE", { reason: answer.reason }, [
      `已取消预约 ${slot} ${who}`,
      `Booking ${slot} ${who} cancelled`,
    ]);
  }
}

/** Book the hand-filled booking on the chosen day. */
export async function bookByHand({ send, today }) {
  if (bookingProblem() !== null || !today) {
    return;
  }
  const day = shownDay(today);
  const time = document.getElementById("book-time").value.slice(0, 5);
  const code = document.getElementById("book-code").value.trim().toUpperCase();
  const body = { theme: document.getElementById("book-theme").value, slot: `${day}T${time}`, code };
  const priority = document.getElementById("book-priority").value;
  if (priority) {
    body.priority = priority;
  }
  const reply = await send("/api/v1/appointments", "POST", body, [
    `已预约 ${day.slice(5)} ${time} ${code}`,
    `Booked ${day.slice(5)} ${time} ${code}`,
  ]);
  if (reply !== null) {
    document.getElementById("book-time").value = "";
    document.getElementById("book-code").value = "";
  }
}

/** Send the chosen CSV file; the outcome (rows booked, or every refused line) stays shown. */
export async function importBookings({ send, say }) {
  const input = document.getElementById("import-file");
  const file = input.files[0];
  if (!file) {
    return;
  }
  if (file.size > CSV_MAX_BYTES) {
    say(`文件超过 ${CSV_MAX_BYTES / 1024} KB，请分批导入`, `The file is over ${CSV_MAX_BYTES / 1024} KB: import it in parts`, "refused");
    return;
  }
  const text = await file.text();
  let problems = null;
  const reply = await send("/api/v1/appointments/import", "POST", null, ["", ""], {
    text,
    refused: (error) => {
      problems = error.details?.problems ?? null;
    },
    done: (body) => [`已导入 ${body.imported} 个预约`, `${body.imported} booking(s) imported`],
  });
  if (reply !== null) {
    A.imported = { imported: reply.imported, problems: null };
    input.value = "";
  } else if (problems !== null) {
    A.imported = { imported: 0, problems };
  }
}
