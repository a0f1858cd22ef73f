// The manager tablet: the live hall, the alerts, ticket and window actions (each with a reason,
// audited), the calling policy, today's figures and the emergency control. The controller owns
// the truth: every change is sent, and the page shows what the controller answers and tells.

import {
  HALL_EVENTS,
  HttpError,
  LiveStream,
  fetchJson,
  h,
  sendJson,
  sendText,
  showLink,
  showSignedIn,
} from "./live.js";
import { followupAction, readFollowups, renderFollowups } from "./followups.js";
import {
  bookByHand,
  cancelBooking,
  checkAppointmentForms,
  chooseBookingDay,
  importBookings,
  readAppointments,
  renderAppointments,
} from "./appointments.js";

// Events only the manager follows, besides the hall's own.
const MANAGER_EVENTS = ["HelpRequested", "AlertAcknowledged", "EmergencyStarted", "EmergencyEnded"];

// Every text of the page: [Chinese, English].
const T = {
  title: ["大厅管理", "Hall manager"],
  switchLanguage: ["English", "中文"],
  alerts: ["提醒", "Alerts"],
  noAlerts: ["暂无提醒", "No alerts"],
  acknowledge: ["确认", "Acknowledge"],
  acknowledged: ["已确认", "Acknowledged"],
  tabHall: ["大厅实况", "Live hall"],
  tabTickets: ["排队调度", "Tickets"],
  tabPolicy: ["叫号规则", "Policy"],
  tabFigures: ["今日数据", "Today's figures"],
  tabAudit: ["操作记录", "Audit trail"],
  tabFollowups: ["差评整改", "Follow-ups"],
  followupsTitle: ["差评整改", "Follow-ups of poor ratings"],
  followupsNote: [
    "“不满意”“非常不满意”的评价须按期回访和整改；未结案的在前，期限最近的在前。",
    "A rating of dissatisfied or very dissatisfied is called back and put right by its deadlines; open ones first, the nearest deadline first.",
  ],
  noFollowups: ["没有差评整改", "No follow-ups"],
  followupScore: ["申请人的新评价", "The applicant's new rating"],
  followupAskRating: ["请申请人重新评价（满意后才结案）", "Ask the applicant to rate again (closed once it passes)"],
  tabReports: ["报告", "Reports"],
  tabAppointments: ["预约", "Appointments"],
  appointmentsTitle: ["预约", "Appointments"],
  appointmentsNote: [
    "按预约时段排列；已签到的显示其号码。取消预约需说明原因，并记入操作记录。",
    "Earliest slot first; a checked-in booking shows its ticket. Cancelling needs a reason and is audited.",
  ],
  bookingDay: ["日期", "Day"],
  bookingOtherDay: ["其他日期", "Another day"],
  colSlot: ["时段", "Slot"],
  colBookingCode: ["预约码", "Booking code"],
  colPriority: ["优先人群", "Priority group"],
  colChannel: ["渠道", "Channel"],
  noBookings: ["这一天没有预约", "No bookings on this day"],
  bookTime: ["预约时间", "Slot time"],
  bookCodeHint: ["4–32 位字母或数字", "4 to 32 letters and digits"],
  bookSubmit: ["预约", "Book"],
  importTitle: ["导入预约（CSV 文件）", "Import bookings (a CSV file)"],
  importNote: [
    "首行为 theme,slot,code,id_number,priority；全部通过才导入，未通过的行逐一列出。",
    "Header theme,slot,code,id_number,priority; all rows are booked or none, and every refused line is listed.",
  ],
  importFile: ["选择文件", "Choose the file"],
  importSubmit: ["导入", "Import"],
  windows: ["窗口", "Windows"],
  queues: ["各业务排队", "Queues by theme"],
  colTheme: ["业务", "Theme"],
  colWaiting: ["等候", "Waiting"],
  colOldest: ["等候最久", "Longest wait"],
  colTarget: ["等候目标", "Wait target"],
  colState: ["状况", "State"],
  colCapacity: ["今日余量", "Capacity today"],
  colNumber: ["号码", "Number"],
  colStatus: ["状态", "Status"],
  colWaited: ["已等候", "Waited"],
  colActions: ["操作", "Actions"],
  colIssued: ["取号", "Issued"],
  colServed: ["办结", "Served"],
  colNoShow: ["过号", "No-show"],
  colCancelled: ["取消", "Cancelled"],
  colMedian: ["等候中位数", "Median wait"],
  colP90: ["90% 等候", "90th pct. wait"],
  colMax: ["最长等候", "Longest wait"],
  colWithin: ["目标内叫号", "Called within target"],
  colTime: ["时间", "Time"],
  colWhat: ["事项", "What"],
  colWho: ["操作人", "Who"],
  colReason: ["原因", "Reason"],
  ticketsTitle: ["等候与暂挂的号", "Waiting and held tickets"],
  ticketsNote: [
    "按叫号顺序列出。每项操作都需说明原因，并记入操作记录。",
    "In calling order. Every action needs a reason and goes into the audit trail.",
  ],
  noTickets: ["没有等候或暂挂的号", "No tickets waiting or on hold"],
  policyTitle: ["叫号规则设置", "Calling policy"],
  policyNote: [
    "修改即时生效，下一次叫号即按新规则；每次修改需说明原因并记入操作记录。",
    "Changes apply at once, from the next call on; each needs a reason and is audited.",
  ],
  maxWaits: ["各业务最长等候（普通号）", "Maximum wait per theme (regular tickets)"],
  reasonRequired: ["修改原因（必填）", "Reason for the change (required)"],
  policyReset: ["撤销未保存的修改", "Undo unsaved edits"],
  policySave: ["保存规则", "Save the policy"],
  figuresTitle: ["今日数据", "Today's figures"],
  hoursTitle: ["每小时取号与叫号", "Tickets issued and calls per hour"],
  perTheme: ["按业务", "By theme"],
  ratingsTitle: ["评价分布", "Ratings"],
  auditTitle: ["最近的操作记录", "Latest entries of the audit trail"],
  reportsTitle: ["效能评价报告", "Efficiency evaluation report"],
  reportsNote: [
    "按事件日志统计所选期间的办件量、等候与办理时间、过号、各窗口与工作人员的工作量和评价。",
    "Counted from the event log for the chosen period: tickets, waits, service times, no-shows, and each window's and clerk's work and ratings.",
  ],
  reportPeriod: ["统计期间", "Period"],
  reportDay: ["日", "Day"],
  reportWeek: ["周", "Week"],
  reportMonth: ["月", "Month"],
  reportDate: ["日期（所在的周或月）", "Date (or a day of the week or month)"],
  reportOpen: ["打开报告", "Open the report"],
  reportPdf: ["下载 PDF", "Download PDF"],
  reportCsv: ["下载 CSV", "Download CSV"],
  auditNote: ["最新的在上；带原因的为人工操作。", "Newest first; entries with a reason were done by hand."],
  reason: ["原因", "Reason"],
  otherReason: ["其他原因", "Other reason"],
  cancel: ["取消", "Cancel"],
  emergencyButton: ["紧急模式", "Emergency"],
  emergencyStart: ["启动紧急模式", "Start the emergency mode"],
  emergencyNote: [
    "所有屏幕和窗口屏显示以下信息，广播反复播报，暂停取号，直到结束。",
    "Every screen and window board shows this message, the speakers repeat it, and no tickets are issued until it ends.",
  ],
  emergencyMessage: ["显示并播报的信息", "Message to show and announce"],
  emergencyDrill: ["这是演练", "This is a drill"],
  emergencyGo: ["启动", "Start"],
  emergencyEnd: ["结束紧急模式", "End the emergency"],
  emergencyActive: ["紧急模式进行中", "Emergency in progress"],
  drillActive: ["紧急演练进行中", "Emergency drill in progress"],
  emergencyMissing: ["本控制器不提供紧急模式", "This controller has no emergency mode"],
};

const STATUS = {
  closed: ["未开放", "Closed", "closed"],
  open: ["空闲", "Open", "open"],
  paused: ["暂停", "Paused", "paused"],
  calling: ["呼叫中", "Calling", "calling"],
  serving: ["办理中", "Serving", "serving"],
};
const TICKET_STATUS = {
  waiting: ["等候中", "Waiting"],
  held: ["暂挂", "On hold"],
  called: ["呼叫中", "Called"],
  serving: ["办理中", "Being served"],
};
const EVENT_TEXT = {
  TicketIssued: ["取号", "Ticket issued"],
  TicketVoided: ["作废", "Number voided"],
  TicketReprinted: ["补打", "Reprinted"],
  TicketCalled: ["叫号", "Called"],
  TicketRecalled: ["重呼", "Called again"],
  ServiceStarted: ["开始办理", "Service started"],
  ServiceFinished: ["办结", "Service finished"],
  TicketNoShow: ["过号", "No-show"],
  TicketHeld: ["暂挂", "Held"],
  TicketReturned: ["恢复排队", "Back in line"],
  TicketTransferred: ["转移", "Transferred"],
  TicketCancelled: ["取消", "Cancelled"],
  TicketRated: ["评价", "Rated"],
  TicketPrioritised: ["调整优先", "Priority changed"],
  WindowOpened: ["开窗", "Window opened"],
  WindowClosed: ["关窗", "Window closed"],
  WindowPaused: ["暂停", "Window paused"],
  WindowResumed: ["恢复", "Window resumed"],
  PolicyChanged: ["修改规则", "Policy changed"],
  HelpRequested: ["请求帮助", "Help requested"],
  AlertAcknowledged: ["确认提醒", "Alert acknowledged"],
  EmergencyStarted: ["启动紧急模式", "Emergency started"],
  EmergencyEnded: ["结束紧急模式", "Emergency ended"],
  CaseNumberRecorded: ["记录办件编号", "Case number recorded"],
  RatingWaived: ["免于先请求评价", "Rating request waived"],
  FollowUpOpened: ["差评整改开始", "Follow-up opened"],
  FollowUpCalledBack: ["差评回访", "Called back"],
  FollowUpRectified: ["整改完成", "Put right"],
  FollowUpRerated: ["重新评价", "Rated again"],
  AppointmentBooked: ["预约", "Appointment booked"],
  AppointmentCancelled: ["取消预约", "Appointment cancelled"],
  AppointmentCheckedIn: ["预约签到", "Appointment checked in"],
  AppointmentMissed: ["预约未到", "Appointment missed"],
};

// The settings a manager may change, in the order shown, with how the tablet shows them.
// scale: API value = shown value x scale (minutes on the tablet, seconds in the API).
const SETTINGS = [
  { name: "priority_streak_limit", zh: "连续优先呼叫上限", en: "Priority calls in a row, at most", unit: ["次", "calls"], scale: 1 },
  { name: "priority_head_start_s", zh: "优先人群提前量", en: "Priority head start", unit: ["分钟", "min"], scale: 60 },
  { name: "aging_rate", zh: "等候计分速率", en: "Score per second waited", unit: ["分/秒", "points/s"], scale: 1 },
  { name: "priority_max_wait_factor", zh: "优先号最长等候比例", en: "Priority maximum wait, share of the theme's", unit: ["倍", "×"], scale: 1 },
  { name: "preference_bonus_s", zh: "窗口首选业务加分", en: "Window's own theme bonus", unit: ["分钟", "min"], scale: 60 },
  { name: "appointment_early_s", zh: "预约提前生效", en: "Appointment due before its slot", unit: ["分钟", "min"], scale: 60 },
  { name: "appointment_late_s", zh: "预约过时保留", en: "Appointment still due after its slot", unit: ["分钟", "min"], scale: 60 },
  { name: "recall_limit", zh: "重呼次数上限", en: "Recalls before a no-show", unit: ["次", "recalls"], scale: 1 },
];

const REASONS = {
  open: [["排队人数多", "Queue building up"], ["恢复正常排班", "Back to the usual rota"]],
  close: [["人手不足", "Short of staff"], ["业务量少", "Quiet period"], ["设备故障", "Equipment problem"]],
  pause: [["会议", "Meeting"], ["培训", "Training"], ["设备故障", "Equipment problem"], ["休息", "Break"]],
  resume: [["会议结束", "Meeting over"], ["故障已排除", "Problem fixed"]],
  prioritise: [["现场核实属优先人群", "Priority group checked in person"], ["特殊情况", "Special circumstances"], ["误选优先", "Priority chosen by mistake"]],
  transfer: [["业务选错", "Wrong theme chosen"], ["窗口排队过长", "Queue too long there"], ["需个性化服务", "Needs personalised service"]],
  cancel: [["申请人已离开", "Applicant left the hall"], ["重复取号", "Duplicate ticket"], ["无需办理", "Nothing to do here"]],
};

const ICONS = {
  help: "M12 2a7 7 0 0 0-7 7v4l-2 3v1h18v-1l-2-3V9a7 7 0 0 0-7-7zm0 20a3 3 0 0 0 3-3H9a3 3 0 0 0 3 3z",
  wait: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 5v5.4l4 2.4-1 1.7-5-3V7h2z",
  device: "M7 2v5H5v5a7 7 0 0 0 6 6.9V22h2v-3.1A7 7 0 0 0 19 12V7h-2V2h-2v5H9V2H7z",
  ok: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4L9 16.2z",
  warn: "M12 2 1 21h22L12 2zm0 5 1 8h-2l1-8zm-1 10h2v2h-2v-2z",
  followup: "M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zm-7 12h-2v-2h2v2zm0-4h-2V6h2v4z",
};

const S = {
  lang: new URLSearchParams(location.search).get("lang") === "en" ? "en" : "zh",
  tab: "hall",
  hall: null,
  groups: new Map(),
  themes: new Map(),
  overview: null,
  alerts: [],
  policy: null,
  policyDirty: false,
  figures: null,
  tickets: [],
  audit: [],
  followups: [], // poor ratings' follow-ups, open ones first
  emergency: null, // null: not read yet; {missing: true}: this controller has none
  busy: false,
  helpSeen: null, // the help pages already announced
};

// ------------------------------------------------------------------ words

function pair(zh, en) {
  const [first, firstLang, second, secondLang] =
    S.lang === "zh" ? [zh, "zh-CN", en, "en"] : [en, "en", zh, "zh-CN"];
  return [
    h("span", { class: "first", lang: firstLang }, first),
    " ",
    h("span", { class: "second", lang: secondLang }, second),
  ];
}

function said(key) {
  const [zh, en] = T[key];
  return pair(zh, en);
}

/** One of a pair, in the language shown first (for attributes and short labels). */
function one(zh, en) {
  return S.lang === "zh" ? zh : en;
}

function minutes(seconds) {
  return seconds === null || seconds === undefined ? "—" : String(Math.round(seconds / 60));
}

function clockOf(iso) {
  return iso ? iso.slice(11, 16) : "—";
}

function themeNames(id) {
  const theme = S.themes.get(id);
  return theme ? [theme.name_zh, theme.name_en] : [id, id];
}

function groupNames(id) {
  const group = S.groups.get(id);
  return group ? [group.name_zh, group.name_en] : [id, id];
}

function windowNames(id) {
  const found = S.overview?.windows.find((w) => w.window.id === id);
  return found ? [found.window.name_zh, found.window.name_en] : [`${id}号窗口`, `Window ${id}`];
}

function icon(name, label = null) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon-${name}`);
  svg.setAttribute("focusable", "false");
  if (label === null) {
    svg.setAttribute("aria-hidden", "true");
  } else {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  }
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

// ------------------------------------------------------------------ reading

async function readAll() {
  const [hall, themes] = await Promise.all([fetchJson("/api/v1/hall"), fetchJson("/api/v1/themes")]);
  S.hall = hall;
  S.groups = new Map(hall.priority_groups.map((g) => [g.id, g]));
  S.themes = new Map(themes.map((t) => [t.id, t]));
  await Promise.all([readLive(), readPolicy(), readEmergency(), readTab()]);
  renderAll();
  return true;
}

async function readLive() {
  const [overview, alerts] = await Promise.all([fetchJson("/api/v1/overview"), fetchJson("/api/v1/alerts")]);
  S.overview = overview;
  announceHelp(alerts);
  S.alerts = alerts;
}

async function readPolicy() {
  S.policy = await fetchJson("/api/v1/policy");
}

async function readEmergency() {
  try {
    S.emergency = await fetchJson("/api/v1/emergency");
  } catch (error) {
    if (error instanceof HttpError && (error.status === 404 || error.status === 405)) {
      S.emergency = { missing: true };
    } else {
      throw error;
    }
  }
}

async function readTickets() {
  const [waiting, held] = await Promise.all([
    fetchJson("/api/v1/tickets?status=waiting"),
    fetchJson("/api/v1/tickets?status=held"),
  ]);
  S.tickets = [...waiting, ...held];
}

async function readFigures() {
  S.figures = await fetchJson("/api/v1/figures");
}

async function readAudit() {
  // The latest entries: the trail is paged oldest first, so start near its end.
  let after = 0;
  let page = await fetchJson(`/api/v1/audit?limit=1000&after=${after}`);
  let entries = page.events;
  while (page.next_after !== null) {
    after = page.next_after;
    page = await fetchJson(`/api/v1/audit?limit=1000&after=${after}`);
    entries = entries.concat(page.events).slice(-200);
  }
  S.audit = entries.slice(-60).reverse();
}

// ------------------------------------------------------------------ reports

/** A date as YYYY-MM-DD (the date's own calendar day, whatever the tablet's time zone). */
function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

/** The first and last day of the period of this kind around the chosen day (ISO weeks). */
function reportPeriod(kind, day) {
  const date = new Date(`${day}T00:00:00Z`);
  if (kind === "week") {
    const monday = new Date(date);
    monday.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
    const sunday = new Date(monday);
    sunday.setUTCDate(monday.getUTCDate() + 6);
    return [isoDay(monday), isoDay(sunday)];
  }
  if (kind === "month") {
    const first = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
    const last = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0));
    return [isoDay(first), isoDay(last)];
  }
  return [day, day];
}

/** The report's three links for the chosen period (GETs: the browser opens or downloads them). */
function renderReports() {
  const input = document.getElementById("report-date");
  if (!input.value && S.overview) {
    input.value = S.overview.day; // the hall's business day, not the tablet's
  }
  const valid = /^\d{4}-\d{2}-\d{2}$/.test(input.value);
  const kind = document.querySelector('input[name="report-kind"]:checked')?.value ?? "day";
  const [from, to] = valid ? reportPeriod(kind, input.value) : [null, null];
  document.getElementById("report-range").replaceChildren(
    ...(valid ? pair(`${from} 至 ${to}`, `${from} to ${to}`) : pair("请选择日期", "Choose a date")),
  );
  for (const link of document.querySelectorAll(".report-links a")) {
    if (valid) {
      link.href = `/api/v1/reports/efficiency?from=${from}&to=${to}&format=${link.dataset.format}`;
      link.removeAttribute("aria-disabled");
    } else {
      link.removeAttribute("href");
      link.setAttribute("aria-disabled", "true");
    }
  }
}

function readTab() {
  const reads = { tickets: readTickets, appointments: readAppointments, figures: readFigures, audit: readAudit };
  const tab = reads[S.tab]?.() ?? Promise.resolve();
  // The open follow-ups are counted on their tab's button: read whichever tab is open.
  return Promise.all([tab, readFollowups().then((list) => (S.followups = list))]);
}

/** A new help page makes a sound and a vibration (where the tablet allows them). */
function announceHelp(alerts) {
  const pages = alerts.filter((a) => a.kind === "help" && a.acknowledged === null).map((a) => a.id);
  const fresh = S.helpSeen !== null && pages.some((id) => !S.helpSeen.has(id));
  S.helpSeen = new Set(pages);
  if (!fresh) {
    return;
  }
  document.getElementById("alerts").dataset.flash = "on";
  setTimeout(() => delete document.getElementById("alerts").dataset.flash, 4000);
  try {
    navigator.vibrate?.([200, 100, 200]);
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.2;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch {
    // No sound before the first touch (browser autoplay rules): the alert is on screen anyway.
  }
}

let refreshTimer = null;
let refreshRunning = false;
let refreshAgain = false;
let refreshPolicy = false;

/** Read the live hall (and the open tab) again soon; reads never overlap. */
function scheduleRefresh(policyToo = false) {
  refreshPolicy ||= policyToo;
  if (refreshRunning) {
    refreshAgain = true;
    return;
  }
  if (refreshTimer === null) {
    refreshTimer = setTimeout(runRefresh, 150); // a burst of events is one read
  }
}

async function runRefresh() {
  refreshTimer = null;
  refreshRunning = true;
  const policy = refreshPolicy;
  refreshPolicy = false;
  try {
    await Promise.all([readLive(), readTab(), readEmergency(), policy ? readPolicy() : null]);
    renderAll();
  } catch {
    // The stream notices a lost controller by itself and reads everything again.
  } finally {
    refreshRunning = false;
    if (refreshAgain) {
      refreshAgain = false;
      scheduleRefresh();
    }
  }
}

// ------------------------------------------------------------------ sending

function say(zh, en, tone = "done") {
  const message = document.getElementById("message");
  message.dataset.tone = tone;
  message.replaceChildren(...pair(zh, en));
  message.hidden = false;
}

/**
 * Send one change; show what came of it; the page waits until the answer is in. `text`: a
 * text body (a CSV file) instead of JSON; `refused(error)` sees a refusal's details; `done(reply)`
 * words the answer.
 */
async function send(url, method, body, [doneZh, doneEn], { text = null, refused = null, done = null } = {}) {
  if (S.busy) {
    return null;
  }
  S.busy = true;
  renderBusy();
  try {
    const reply = text === null ? await sendJson(url, method, body) : await sendText(url, text);
    say(...(done === null ? [doneZh, doneEn] : done(reply)));
    return reply;
  } catch (error) {
    if (error instanceof HttpError) {
      refused?.(error);
      say(`未执行：${error.message}`, `Not done: ${error.message}`, "refused");
    } else {
      say("无法连接控制器，操作未执行", "Cannot reach the controller: nothing was done", "refused");
    }
    return null;
  } finally {
    S.busy = false;
    renderBusy();
    scheduleRefresh();
  }
}

// ------------------------------------------------------------------ the action dialog

/**
 * Ask for a reason (ready-made or typed) and any extra choices; resolves with
 * {reason, ...fields} on submit, null when cancelled.
 */
function askAction({ title, presets, submit, fields = [], check = () => null }) {
  const dialog = document.getElementById("action-dialog");
  const form = document.getElementById("action-form");
  const fieldset = document.getElementById("action-presets");
  const other = document.getElementById("action-other");
  const button = document.getElementById("action-submit");
  const hint = document.getElementById("action-hint");
  document.getElementById("action-title").replaceChildren(...pair(...title));
  button.replaceChildren(...pair(...submit));
  document.getElementById("action-fields").replaceChildren(...fields.map((f) => f.element));
  const legend = fieldset.querySelector("legend");
  fieldset.replaceChildren(
    legend,
    ...presets.map(([zh, en], i) =>
      h(
        "label",
        { class: "preset", for: `preset-${i}` },
        h("input", { type: "radio", name: "preset", id: `preset-${i}`, value: `${zh} ${en}` }),
        h("span", {}, ...pair(zh, en)),
      ),
    ),
  );
  other.value = "";
  const reason = () => other.value.trim() || fieldset.querySelector("input:checked")?.value || "";
  const update = () => {
    const problem = check() ?? (reason() === "" ? ["请选择或填写原因", "Choose or type a reason"] : null);
    button.disabled = problem !== null;
    hint.replaceChildren(...(problem ? pair(...problem) : []));
  };
  form.oninput = update;
  form.onchange = update;
  update();
  return new Promise((resolve) => {
    let result = null;
    form.onsubmit = () => {
      result = { reason: reason(), ...Object.fromEntries(fields.map((f) => [f.name, f.value()])) };
    };
    document.getElementById("action-cancel").onclick = () => dialog.close();
    dialog.addEventListener("close", () => resolve(result), { once: true });
    dialog.showModal();
  });
}

function selectField(name, [zh, en], options, chosen) {
  const id = `field-${name}`;
  const select = h(
    "select",
    { id, name },
    options.map(([value, optionZh, optionEn]) =>
      h("option", { value, selected: value === chosen }, `${one(optionZh, optionEn)} · ${one(optionEn, optionZh)}`),
    ),
  );
  return {
    name,
    element: h("div", { class: "field" }, h("label", { for: id }, ...pair(zh, en)), select),
    value: () => select.value,
    select,
  };
}

// ------------------------------------------------------------------ window actions

const WINDOW_ACTIONS = {
  open: { title: ["开窗", "Open"], done: ["已开窗", "Opened"] },
  pause: { title: ["暂停", "Pause"], done: ["已暂停", "Paused"] },
  resume: { title: ["恢复服务", "Resume"], done: ["已恢复服务", "Resumed"] },
  close: { title: ["关窗", "Close"], done: ["已关窗", "Closed"] },
};
const WINDOW_ALLOWED = {
  closed: ["open"],
  open: ["pause", "close"],
  paused: ["resume", "close"],
  calling: [],
  serving: [],
};

async function windowAction(windowId, action) {
  const spec = WINDOW_ACTIONS[action];
  const [nameZh, nameEn] = windowNames(windowId);
  const answer = await askAction({
    title: [`${spec.title[0]} · ${nameZh}`, `${spec.title[1]} · ${nameEn}`],
    presets: REASONS[action],
    submit: spec.title,
  });
  if (answer !== null) {
    await send(`/api/v1/windows/${encodeURIComponent(windowId)}/${action}`, "POST", { reason: answer.reason }, [
      `${nameZh} ${spec.done[0]}`,
      `${nameEn}: ${spec.done[1].toLowerCase()}`,
    ]);
  }
}

// ------------------------------------------------------------------ ticket actions

async function prioritise(ticket) {
  const groups = [["", "普通号（不优先）", "Regular (no priority)"], ...[...S.groups.values()].map((g) => [g.id, g.name_zh, g.name_en])];
  const field = selectField("priority", ["优先人群", "Priority group"], groups, ticket.priority ?? "");
  const answer = await askAction({
    title: [`调整优先 ${ticket.number}`, `Priority of ${ticket.number}`],
    presets: REASONS.prioritise,
    submit: ["确定", "Apply"],
    fields: [field],
    check: () => ((field.value() || null) === ticket.priority ? ["请选择另一个优先人群", "Choose another group"] : null),
  });
  if (answer !== null) {
    const priority = answer.priority || null;
    const [zh, en] = priority ? groupNames(priority) : ["普通号", "regular"];
    await send(`/api/v1/tickets/${encodeURIComponent(ticket.id)}/prioritise`, "POST", { priority, reason: answer.reason }, [
      `${ticket.number} 已调整为 ${zh}`,
      `${ticket.number} is now ${en}`,
    ]);
  }
}

async function transfer(ticket) {
  const themes = [...S.themes.values()].map((t) => [t.id, t.name_zh, t.name_en]);
  const themeField = selectField("theme", ["转到业务", "To the theme"], themes, ticket.theme);
  const windowField = selectField("window", ["转到窗口", "To the window"], [], "");
  const fillWindows = () => {
    const theme = themeField.value();
    const kept = windowField.value();
    windowField.select.replaceChildren(
      h("option", { value: "" }, `${one("该业务的任一窗口", "Any window of the theme")} · ${one("Any window of the theme", "该业务的任一窗口")}`),
      ...(S.overview?.windows ?? [])
        .filter((w) => w.window.themes.includes(theme))
        .map((w) => h("option", { value: w.window.id, selected: w.window.id === kept }, `${one(w.window.name_zh, w.window.name_en)} · ${one(w.window.name_en, w.window.name_zh)}`)),
    );
  };
  fillWindows();
  themeField.select.addEventListener("change", fillWindows);
  const answer = await askAction({
    title: [`转移 ${ticket.number}`, `Move ${ticket.number}`],
    presets: REASONS.transfer,
    submit: ["转移", "Move"],
    fields: [themeField, windowField],
    check: () =>
      themeField.value() === ticket.theme && windowField.value() === (ticket.target_window ?? "")
        ? ["请选择另一项业务或一个窗口", "Choose another theme or a window"]
        : null,
  });
  if (answer !== null) {
    const body = { theme: answer.theme, reason: answer.reason };
    if (answer.window) {
      body.window = answer.window;
    }
    const [zh, en] = themeNames(answer.theme);
    await send(`/api/v1/tickets/${encodeURIComponent(ticket.id)}/transfer`, "POST", body, [
      `${ticket.number} 已转到 ${zh}`,
      `${ticket.number} moved to ${en}`,
    ]);
  }
}

async function cancelTicket(ticket) {
  const answer = await askAction({
    title: [`取消 ${ticket.number}`, `Cancel ${ticket.number}`],
    presets: REASONS.cancel,
    submit: ["取消此号", "Cancel the ticket"],
  });
  if (answer !== null) {
    await send(`/api/v1/tickets/${encodeURIComponent(ticket.id)}/cancel`, "POST", { reason: answer.reason }, [
      `${ticket.number} 已取消`,
      `${ticket.number} cancelled`,
    ]);
  }
}

async function acknowledge(alert) {
  await send(`/api/v1/alerts/${encodeURIComponent(alert.id)}/ack`, "POST", {}, ["已确认提醒", "Alert acknowledged"]);
}

// ------------------------------------------------------------------ the policy

function policyInputs() {
  return document.querySelectorAll("#policy-form input[data-setting]");
}

function shownValue(apiValue, scale) {
  return scale === 1 ? String(apiValue) : String(Math.round((apiValue / scale) * 100) / 100);
}

function renderPolicy(force = false) {
  const policy = S.policy;
  if (policy === null || (S.policyDirty && !force)) {
    return;
  }
  const kept = new Map([...policyInputs()].map((input) => [input.dataset.setting, input.value]));
  const field = (key, zh, en, unit, scale, range, value) => {
    const id = `setting-${key.replace(".", "-")}`;
    const low = range.min / scale;
    const high = range.max / scale;
    const hintId = `${id}-range`;
    const step = range.integer && scale === 1 ? "1" : "any";
    return h(
      "div",
      { class: "setting" },
      h("label", { for: id }, ...pair(zh, en)),
      h(
        "span",
        { class: "entry" },
        h("input", {
          id,
          type: "number",
          inputmode: "decimal",
          min: low,
          max: high,
          step,
          value: force || !kept.has(key) ? shownValue(value, scale) : kept.get(key),
          "data-setting": key,
          "data-scale": scale,
          "data-current": value,
          "aria-describedby": hintId,
        }),
        h("span", { class: "unit" }, ...pair(...unit)),
      ),
      h("span", { id: hintId, class: "range" }, `${one("范围", "Range")} ${low}–${high}`),
    );
  };
  document.getElementById("policy-fields").replaceChildren(
    ...SETTINGS.map((s) => field(s.name, s.zh, s.en, s.unit, s.scale, policy.ranges[s.name], policy[s.name])),
  );
  document.getElementById("policy-themes").replaceChildren(
    ...[...S.themes.values()].map((t) =>
      field(`max_wait_s.${t.id}`, t.name_zh, t.name_en, ["分钟", "min"], 60, policy.ranges.max_wait_s, policy.max_wait_s[t.id]),
    ),
  );
  const changed = document.getElementById("policy-changed");
  changed.replaceChildren(
    ...(policy.changed_at
      ? pair(`最近修改：${clockOf(policy.changed_at)} · ${policy.changed_by}`, `Last changed ${clockOf(policy.changed_at)} by ${policy.changed_by}`)
      : pair("今日未修改，为配置文件中的规则", "Not changed today: the hall config's rules")),
  );
  if (force) {
    S.policyDirty = false;
    document.getElementById("policy-reason").value = "";
  }
  checkPolicy();
}

/** The edited settings as the API takes them, or the first problem in words. */
function policyChanges() {
  const changes = {};
  for (const input of policyInputs()) {
    const key = input.dataset.setting;
    const scale = Number(input.dataset.scale);
    const shown = Number(input.value);
    const [low, high] = [Number(input.min), Number(input.max)];
    if (input.value.trim() === "" || !Number.isFinite(shown) || shown < low || shown > high) {
      return { problem: [`${input.labels[0].textContent}：应在 ${low}–${high} 之间`, `${input.labels[0].textContent}: must be from ${low} to ${high}`], input };
    }
    const integer = key.startsWith("max_wait_s.") || S.policy.ranges[key]?.integer;
    const value = integer ? Math.round(shown * scale) : shown * scale;
    if (value !== Number(input.dataset.current)) {
      if (key.startsWith("max_wait_s.")) {
        changes.max_wait_s ??= {};
        changes.max_wait_s[key.slice("max_wait_s.".length)] = value;
      } else {
        changes[key] = value;
      }
    }
  }
  return { changes };
}

function checkPolicy() {
  const { problem, input, changes } = policyChanges();
  const reason = document.getElementById("policy-reason").value.trim();
  for (const each of policyInputs()) {
    each.setAttribute("aria-invalid", each === input ? "true" : "false");
  }
  const note = document.getElementById("policy-problem");
  let words = null;
  if (problem) {
    words = problem;
  } else if (Object.keys(changes).length === 0) {
    words = S.policyDirty ? ["与当前规则相同", "Same as the current policy"] : null;
  } else if (reason === "") {
    words = ["请填写修改原因", "Give a reason for the change"];
  }
  note.replaceChildren(...(words ? pair(...words) : []));
  document.getElementById("policy-save").disabled =
    S.busy || Boolean(problem) || Object.keys(changes ?? {}).length === 0 || reason === "";
}

async function savePolicy(event) {
  event.preventDefault();
  const { changes, problem } = policyChanges();
  const reason = document.getElementById("policy-reason").value.trim();
  if (problem || Object.keys(changes).length === 0 || reason === "") {
    checkPolicy();
    return;
  }
  const reply = await send("/api/v1/policy", "PUT", { ...changes, reason }, ["叫号规则已更新，下一次叫号起生效", "Policy saved: it applies from the next call"]);
  if (reply !== null) {
    S.policy = reply;
    renderPolicy(true);
  }
}

// ------------------------------------------------------------------ the emergency

async function startEmergency() {
  const dialog = document.getElementById("emergency-dialog");
  const form = document.getElementById("emergency-form");
  const text = document.getElementById("emergency-text");
  const drill = document.getElementById("emergency-drill");
  const submit = document.getElementById("emergency-submit");
  text.value = "";
  drill.checked = false;
  submit.disabled = true;
  text.oninput = () => {
    submit.disabled = text.value.trim() === "";
  };
  const body = await new Promise((resolve) => {
    let result = null;
    form.onsubmit = () => {
      result = { message: text.value.trim(), drill: drill.checked };
    };
    document.getElementById("emergency-cancel").onclick = () => dialog.close();
    dialog.addEventListener("close", () => resolve(result), { once: true });
    dialog.showModal();
  });
  if (body !== null && body.message !== "") {
    await send("/api/v1/emergency", "POST", body, body.drill ? ["紧急演练已启动", "Emergency drill started"] : ["紧急模式已启动", "Emergency mode started"]);
  }
}

async function endEmergency() {
  const answer = await askAction({
    title: T.emergencyEnd,
    presets: [["险情已排除", "All clear"], ["演练结束", "Drill over"]],
    submit: T.emergencyEnd,
  });
  if (answer !== null) {
    await send("/api/v1/emergency", "DELETE", undefined, ["紧急模式已结束", "The emergency has ended"]);
  }
}

// ------------------------------------------------------------------ drawing

function renderWords() {
  document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
  for (const element of document.querySelectorAll("[data-t]")) {
    element.replaceChildren(...said(element.dataset.t));
  }
  const connection = document.getElementById("connection");
  connection.replaceChildren(...pair("重新连接中…", "Reconnecting…"));
  document.getElementById("lang").setAttribute("lang", S.lang === "zh" ? "en" : "zh-CN");
  document.getElementById("lang").replaceChildren(S.lang === "zh" ? "English" : "中文");
  document.title = `${one("大厅管理", "Hall manager")} · ${one("Hall manager", "大厅管理")}`;
  if (S.hall) {
    document.getElementById("hall-name").replaceChildren(...pair(S.hall.name_zh, S.hall.name_en));
  }
}

function renderAll() {
  renderWords();
  renderClock();
  renderEmergency();
  renderAlerts();
  renderHall();
  renderTickets();
  renderPolicy();
  renderFigures();
  renderAudit();
  renderFollowups(S.followups, { pair, one });
  renderAppointments(appointmentContext());
  renderReports();
  renderBusy();
}

/** What the appointments tab needs of the page: its words, the hall, and how it sends. */
function appointmentContext() {
  return {
    pair,
    one,
    lang: S.lang,
    today: S.overview?.day ?? null,
    themes: S.themes,
    groups: S.groups,
    busy: S.busy,
    send,
    say,
    askAction,
  };
}

/** Show the bookings of another day (read at once). */
function showBookingDay(day) {
  chooseBookingDay(day, S.overview?.day ?? null);
  renderAppointments(appointmentContext());
  scheduleRefresh();
}

function renderClock() {
  document.getElementById("clock").textContent = clockOf(S.overview?.at);
}

function renderBusy() {
  for (const button of document.querySelectorAll("main button, #alert-list button, #emergency-banner button, #emergency-open")) {
    if (button.id === "emergency-open" && S.emergency?.missing) {
      continue;
    }
    button.disabled = S.busy || button.dataset.off === "true";
  }
  document.body.setAttribute("aria-busy", S.busy ? "true" : "false");
  checkPolicy();
  checkAppointmentForms(appointmentContext());
}

function renderEmergency() {
  const banner = document.getElementById("emergency-banner");
  const opener = document.getElementById("emergency-open");
  const state = S.emergency;
  if (state?.missing) {
    opener.disabled = true;
    opener.replaceChildren(...said("emergencyMissing"));
    banner.hidden = true;
    return;
  }
  const active = Boolean(state?.active);
  opener.hidden = active;
  banner.hidden = !active;
  banner.dataset.drill = active && state.drill ? "true" : "false";
  if (active) {
    document.getElementById("emergency-title").replaceChildren(...said(state.drill ? "drillActive" : "emergencyActive"));
    document.getElementById("emergency-message").textContent = state.message;
    document.getElementById("emergency-since").replaceChildren(
      ...pair(`${clockOf(state.since)} 起 · ${state.by}`, `since ${clockOf(state.since)} · ${state.by}`),
    );
  }
}

function renderAlerts() {
  const open = S.alerts.filter((a) => a.acknowledged === null);
  document.getElementById("alert-count").textContent = String(open.length);
  document.getElementById("alerts").dataset.state = open.some((a) => a.level === "critical") ? "critical" : open.length ? "warning" : "calm";
  document.getElementById("alerts-none").hidden = S.alerts.length > 0;
  document.getElementById("alert-list").replaceChildren(
    ...S.alerts.map((alert) =>
      h(
        "li",
        { class: "alert", "data-alert": alert.id, "data-kind": alert.kind, "data-level": alert.level, "data-acknowledged": alert.acknowledged ? "true" : "false" },
        icon(ICONS[alert.kind] ? alert.kind : "device"),
        h(
          "span",
          { class: "level" },
          ...(alert.level === "critical" ? pair("紧急", "Urgent") : pair("注意", "Warning")),
        ),
        h("span", { class: "text" }, ...pair(alert.text_zh, alert.text_en)),
        h("time", { class: "since" }, clockOf(alert.since)),
        alert.acknowledged
          ? h("span", { class: "done" }, icon("ok"), ...pair(`已确认 · ${alert.acknowledged.by}`, `Acknowledged · ${alert.acknowledged.by}`))
          : h(
              "button",
              { type: "button", class: "ack", "data-ack": alert.id },
              ...said("acknowledge"),
            ),
      ),
    ),
  );
}

function renderHall() {
  const overview = S.overview;
  if (overview === null) {
    return;
  }
  document.getElementById("window-list").replaceChildren(
    ...overview.windows.map(({ window: w, ticket }) => {
      const [zh, en, glyph] = STATUS[w.status] ?? [w.status, w.status, "closed"];
      const allowed = WINDOW_ALLOWED[w.status] ?? [];
      return h(
        "li",
        { class: "window", "data-window": w.id, "data-status": w.status },
        h("h3", {}, ...pair(w.name_zh, w.name_en)),
        h("p", { class: "status" }, h("span", { class: `mark mark-${glyph}`, "aria-hidden": "true" }), ...pair(zh, en)),
        w.pause_reason && w.status === "paused" ? h("p", { class: "pause-reason" }, `${one("原因", "Reason")}：${w.pause_reason}`) : null,
        ticket
          ? h(
              "div",
              { class: "current", "data-ticket": ticket.number },
              h("p", { class: "number figure" }, ticket.number),
              h("p", { class: "ticket-theme" }, one(ticket.theme_name_zh, ticket.theme_name_en)),
              ticket.priority ? h("p", { class: "tag priority" }, `${one("优先", "Priority")} · ${one(...groupNames(ticket.priority))}`) : null,
              h(
                "p",
                { class: "since" },
                `${clockOf(ticket.since)} · ${minutes(ticket.for_s)} ${one("分钟", "min")}`,
              ),
            )
          : h("p", { class: "idle" }, ...pair("无当前号", "No current ticket")),
        h("p", { class: "clerk" }, `${one("工作人员", "Clerk")}：${w.clerk ?? one("未登录", "not signed in")}`),
        h(
          "div",
          { class: "window-actions" },
          ...allowed.map((action) =>
            h(
              "button",
              { type: "button", "data-window-action": action, "data-window": w.id, class: action === "close" ? "stop" : "" },
              ...pair(...WINDOW_ACTIONS[action].title),
            ),
          ),
          ticket
            ? h(
                "button",
                { type: "button", "data-ticket-action": "transfer", "data-ticket": ticket.id },
                ...pair("转移此号", "Move ticket"),
              )
            : null,
        ),
      );
    }),
  );
  document.getElementById("theme-rows").replaceChildren(
    ...overview.themes.map((t) => {
      const oldest = t.oldest;
      const share = oldest ? oldest.waited_s / t.max_wait_s : 0;
      const state = t.over_target > 0 ? "over" : t.near_target > 0 ? "near" : "ok";
      const words = {
        over: [`${t.over_target} 人超过目标`, `${t.over_target} past target`],
        near: [`${t.near_target} 人接近目标`, `${t.near_target} close to target`],
        ok: ["正常", "Within target"],
      }[state];
      return h(
        "tr",
        { "data-theme": t.id, "data-state": state },
        h("th", { scope: "row" }, ...pair(t.name_zh, t.name_en)),
        h("td", { class: "figure" }, String(t.waiting), t.waiting_priority ? h("span", { class: "sub" }, ` (${one("优先", "priority")} ${t.waiting_priority})`) : null),
        h(
          "td",
          {},
          oldest ? `${oldest.number} · ${minutes(oldest.waited_s)} ${one("分钟", "min")}` : "—",
          oldest
            ? h(
                "span",
                { class: "bar", role: "img", "aria-label": `${Math.round(share * 100)}%` },
                h("span", { class: "fill", style: `width: ${Math.min(100, Math.round(share * 100))}%` }),
              )
            : null,
        ),
        h("td", { class: "figure" }, `${minutes(t.max_wait_s)} ${one("分钟", "min")}`),
        h("td", { class: "state" }, icon(state === "ok" ? "ok" : "warn"), ...pair(...words)),
        capacityCell(t.capacity),
      );
    }),
  );
}

const FULL_WORDS = {
  daily_cap: ["已满：今日号已取完", "Full: today's cap reached"],
  quota: ["已满：本时段配额已用完", "Full: this window's quota used"],
  workload: ["已满：闭厅前办不完", "Full: no time left today"],
};

/** What a theme can still take today (10.3.4): the cap and quota left, the waiting work. */
function capacityCell(capacity) {
  if (!capacity) {
    return h("td", {}, "—");
  }
  const lines = [];
  if (capacity.full) {
    lines.push(h("p", { class: "tag stop", "data-full": capacity.reason }, icon("warn"), ...pair(...FULL_WORDS[capacity.reason])));
  }
  if (capacity.cap_left !== null) {
    lines.push(h("p", { "data-figure": "cap" }, ...pair(`日上限余 ${capacity.cap_left}`, `${capacity.cap_left} left of the daily cap`)));
  }
  const quota = capacity.quota;
  if (quota) {
    lines.push(
      h("p", { "data-figure": "quota" }, ...pair(`${quota.window} 配额余 ${quota.left}/${quota.tickets}`, `${quota.window}: ${quota.left} of ${quota.tickets} left`)),
    );
  }
  const load = capacity.workload;
  if (load) {
    lines.push(
      h(
        "p",
        { "data-figure": "workload" },
        ...pair(
          `待办 ${load.work_min} 分钟 / 距停止取号 ${load.left_min} 分钟（另加 ${load.margin_min}）`,
          `${load.work_min} min of work / ${load.left_min} min left (+${load.margin_min})`,
        ),
      ),
    );
  }
  if (lines.length === 0) {
    lines.push(h("p", {}, ...pair("不限", "No limit")));
  }
  return h("td", { class: "capacity" }, ...lines);
}

function renderTickets() {
  const rows = S.tickets.map((t) => {
    const [zh, en] = TICKET_STATUS[t.status] ?? [t.status, t.status];
    const waited = t.issued_at && S.overview ? (Date.parse(S.overview.at) - Date.parse(t.issued_at)) / 1000 : null;
    return h(
      "tr",
      { "data-ticket": t.number },
      h("th", { scope: "row", class: "number" }, t.number),
      h(
        "td",
        {},
        one(...themeNames(t.theme)),
        t.priority ? h("span", { class: "tag priority" }, `${one("优先", "Priority")} · ${one(...groupNames(t.priority))}`) : null,
        t.target_window ? h("span", { class: "tag" }, `→ ${one(...windowNames(t.target_window))}`) : null,
      ),
      h("td", {}, ...pair(zh, en)),
      h("td", { class: "figure" }, `${minutes(waited)} ${one("分钟", "min")}`),
      h(
        "td",
        { class: "row-actions" },
        t.status === "waiting"
          ? h("button", { type: "button", "data-ticket-action": "prioritise", "data-ticket": t.id }, ...pair("优先", "Priority"), h("span", { class: "visually-hidden" }, ` ${t.number}`))
          : null,
        h("button", { type: "button", "data-ticket-action": "transfer", "data-ticket": t.id }, ...pair("转移", "Move"), h("span", { class: "visually-hidden" }, ` ${t.number}`)),
        h("button", { type: "button", class: "stop", "data-ticket-action": "cancel", "data-ticket": t.id }, ...pair("取消", "Cancel"), h("span", { class: "visually-hidden" }, ` ${t.number}`)),
      ),
    );
  });
  document.getElementById("ticket-rows").replaceChildren(...rows);
  document.getElementById("tickets-none").hidden = S.tickets.length > 0;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return element;
}

/** Arrivals and calls per hour as grouped bars, each bar with its figure written on it. */
function hoursChart(hours) {
  const width = 960;
  const height = 280;
  const left = 44;
  const bottom = 40;
  const top = 24;
  const most = Math.max(1, ...hours.flatMap((h_) => [h_.arrivals, h_.calls]));
  const scale = (height - top - bottom) / most;
  const slot = (width - left - 8) / Math.max(1, hours.length);
  const bar = Math.min(36, slot / 2 - 4);
  const ticks = [0, Math.ceil(most / 2), most];
  const title = one("每小时取号与叫号", "Tickets issued and calls per hour");
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "hours-title", class: "bars", "data-chart": "hours" },
    svg("title", {}, title),
    svg(
      "defs",
      {},
      svg("pattern", { id: "hatch", width: 8, height: 8, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
        svg("rect", { width: 8, height: 8, fill: "#e8f0fb" }),
        svg("rect", { width: 4, height: 8, fill: "#0b5394" })),
    ),
    ...ticks.map((value) =>
      svg("g", { class: "tick" },
        svg("line", { x1: left, x2: width - 4, y1: height - bottom - value * scale, y2: height - bottom - value * scale }),
        svg("text", { x: left - 8, y: height - bottom - value * scale + 5, "text-anchor": "end" }, value)),
    ),
    ...hours.map((hour, i) => {
      const x = left + i * slot + slot / 2;
      const arrivals = hour.arrivals * scale;
      const calls = hour.calls * scale;
      return svg(
        "g",
        { class: "hour", "data-hour": hour.hour },
        svg("rect", { class: "arrivals", x: x - bar - 2, y: height - bottom - arrivals, width: bar, height: arrivals, fill: "url(#hatch)" }),
        svg("rect", { class: "calls", x: x + 2, y: height - bottom - calls, width: bar, height: calls }),
        hour.arrivals ? svg("text", { class: "value", x: x - bar / 2 - 2, y: height - bottom - arrivals - 6, "text-anchor": "middle" }, hour.arrivals) : null,
        hour.calls ? svg("text", { class: "value", x: x + bar / 2 + 2, y: height - bottom - calls - 6, "text-anchor": "middle" }, hour.calls) : null,
        svg("text", { class: "hour-label", x, y: height - bottom + 22, "text-anchor": "middle" }, `${hour.hour}:00`),
      );
    }),
  );
}

/** The ratings, five to one, as horizontal bars with their counts. */
function ratingsChart(ratings) {
  const words = { 5: ["非常满意", "Very satisfied"], 4: ["满意", "Satisfied"], 3: ["基本满意", "Fairly satisfied"], 2: ["不满意", "Dissatisfied"], 1: ["非常不满意", "Very dissatisfied"] };
  const width = 960;
  const row = 40;
  const label = 260;
  const most = Math.max(1, ...ratings.scores.map((s) => s.count));
  const scale = (width - label - 80) / most;
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${row * 5 + 8}`, role: "img", "aria-labelledby": "ratings-title", class: "bars", "data-chart": "ratings" },
    svg("title", {}, one("评价分布", "Ratings")),
    ...ratings.scores.map((s, i) =>
      svg(
        "g",
        { class: `rating rating-${s.score}`, "data-score": s.score },
        svg("text", { x: label - 12, y: i * row + 27, "text-anchor": "end" }, `${s.score} · ${one(...words[s.score])}`),
        svg("rect", { x: label, y: i * row + 8, width: Math.max(2, s.count * scale), height: row - 14 }),
        svg("text", { class: "value", x: label + Math.max(2, s.count * scale) + 10, y: i * row + 27 }, s.count),
      ),
    ),
  );
}

function renderFigures() {
  const figures = S.figures;
  if (figures === null) {
    return;
  }
  const total = figures.total;
  const share = total.within_share === null ? "—" : `${Math.round(total.within_share * 100)}%`;
  const items = [
    ["issued", ["取号", "Issued"], total.issued],
    ["served", ["办结", "Served"], total.served],
    ["waiting", ["等候中", "Waiting"], total.waiting],
    ["no_show", ["过号", "No-show"], total.no_show],
    ["cancelled", ["取消", "Cancelled"], total.cancelled],
    ["within", ["目标内叫号", "Called within target"], share],
    ["median", ["等候中位数（分钟）", "Median wait (min)"], minutes(total.median_s)],
    ["rating", ["平均评价", "Average rating"], figures.ratings.mean ?? "—"],
  ];
  document.getElementById("figure-totals").replaceChildren(
    ...items.map(([key, words, value]) => h("div", { class: "total", "data-total": key }, h("dt", {}, ...pair(...words)), h("dd", { class: "figure" }, String(value)))),
  );
  document.getElementById("hours-chart").replaceChildren(hoursChart(figures.hours));
  document.getElementById("hours-legend").replaceChildren(
    h("span", { class: "key arrivals" }, h("span", { class: "swatch", "aria-hidden": "true" }), ...pair("取号（斜纹）", "Issued (hatched)")),
    h("span", { class: "key calls" }, h("span", { class: "swatch", "aria-hidden": "true" }), ...pair("叫号（实心）", "Calls (solid)")),
  );
  document.getElementById("figure-rows").replaceChildren(
    ...figures.themes.map((t) =>
      h(
        "tr",
        { "data-theme": t.id },
        h("th", { scope: "row" }, ...pair(t.name_zh, t.name_en)),
        ...[t.issued, t.served, t.waiting, t.no_show, t.cancelled].map((n) => h("td", { class: "figure" }, String(n))),
        ...[t.median_s, t.p90_s, t.max_s].map((s) => h("td", { class: "figure" }, s === null ? "—" : `${minutes(s)} ${one("分钟", "min")}`)),
        h("td", { class: "figure" }, t.within_share === null ? "—" : `${Math.round(t.within_share * 100)}% (${t.within_target}/${t.called})`),
      ),
    ),
  );
  document.getElementById("ratings-chart").replaceChildren(ratingsChart(figures.ratings));
}

function auditReason(entry) {
  const data = entry.data;
  if (entry.type === "PolicyChanged") {
    return `${data.reason} · ${Object.keys(data.changes).join(", ")}`;
  }
  if (entry.type === "AlertAcknowledged") {
    return data.note || "";
  }
  return data.reason ?? data.note ?? "";
}

function auditSubject(entry) {
  const data = entry.data;
  if (data.window) return one(...windowNames(data.window));
  if (data.ticket_id) return data.ticket_id.split("-").pop();
  if (data.kiosk) return data.kiosk;
  if (data.alert) return data.alert;
  if (data.followup) return data.followup.split("-").pop();
  if (data.booking_id) return data.booking_id.split("-").pop();
  return "";
}

function renderAudit() {
  document.getElementById("audit-rows").replaceChildren(
    ...S.audit.map((entry) => {
      const [zh, en] = EVENT_TEXT[entry.type] ?? [entry.type, entry.type];
      const reason = auditReason(entry);
      return h(
        "tr",
        { "data-seq": entry.seq, "data-type": entry.type, "data-manual": reason ? "true" : "false" },
        h("td", { class: "figure" }, entry.at.slice(11, 19)),
        h("td", {}, ...pair(zh, en), " ", h("span", { class: "subject" }, auditSubject(entry))),
        h("td", { class: "who" }, entry.actor),
        h("td", { class: "reason" }, reason),
      );
    }),
  );
}

// ------------------------------------------------------------------ tabs and clicks

async function showTab(tab) {
  S.tab = tab;
  document.body.dataset.tab = tab;
  for (const button of document.querySelectorAll('[role="tab"]')) {
    const selected = button.dataset.tab === tab;
    button.setAttribute("aria-selected", selected ? "true" : "false");
    button.tabIndex = selected ? 0 : -1;
  }
  for (const panel of document.querySelectorAll('[role="tabpanel"]')) {
    panel.hidden = panel.id !== `panel-${tab}`;
  }
  try {
    await readTab();
    renderAll();
  } catch {
    say("暂时无法读取，稍后自动重试", "Cannot read this now; it is read again shortly", "refused");
  }
}

function findTicket(id) {
  const listed = S.tickets.find((t) => t.id === id);
  if (listed) {
    return listed;
  }
  for (const { ticket } of S.overview?.windows ?? []) {
    if (ticket?.id === id) {
      return { ...ticket, target_window: null };
    }
  }
  return null;
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (target === null || target.disabled || S.busy) {
    return;
  }
  if (target.dataset.tab) {
    showTab(target.dataset.tab);
  } else if (target.dataset.windowAction) {
    windowAction(target.dataset.window, target.dataset.windowAction);
  } else if (target.dataset.ticketAction) {
    const ticket = findTicket(target.dataset.ticket);
    if (ticket !== null) {
      ({ prioritise, transfer, cancel: cancelTicket })[target.dataset.ticketAction](ticket);
    }
  } else if (target.dataset.bookingAction === "cancel") {
    cancelBooking(target.dataset.booking, appointmentContext());
  } else if (target.dataset.followupAction) {
    const followup = S.followups.find((f) => f.id === target.dataset.followup);
    if (followup) {
      followupAction(followup, target.dataset.followupAction, { pair, one }, send);
    }
  } else if (target.dataset.ack) {
    const alert = S.alerts.find((a) => a.id === target.dataset.ack);
    if (alert) {
      acknowledge(alert);
    }
  } else if (target.id === "lang") {
    S.lang = S.lang === "zh" ? "en" : "zh";
    const edits = new Map([...policyInputs()].map((input) => [input.dataset.setting, input.value]));
    renderAll();
    renderPolicy(false);
    for (const input of policyInputs()) {
      if (edits.has(input.dataset.setting)) input.value = edits.get(input.dataset.setting);
    }
  } else if (target.id === "emergency-open") {
    startEmergency();
  } else if (target.id === "emergency-end") {
    endEmergency();
  } else if (target.id === "policy-reset") {
    renderPolicy(true);
  }
});

document.querySelector('[role="tablist"]').addEventListener("keydown", (event) => {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const at = tabs.findIndex((t) => t.dataset.tab === S.tab);
  const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
  if (step !== undefined) {
    const next = tabs[(at + step + tabs.length) % tabs.length];
    next.focus();
    showTab(next.dataset.tab);
  }
});

document.getElementById("policy-form").addEventListener("input", () => {
  S.policyDirty = true;
  checkPolicy();
});
document.getElementById("policy-form").addEventListener("submit", savePolicy);
document.getElementById("report-form").addEventListener("input", renderReports);
document.getElementById("booking-days").addEventListener("change", (event) => showBookingDay(event.target.value));
document.getElementById("booking-day-other").addEventListener("change", (event) => {
  if (/^\d{4}-\d{2}-\d{2}$/.test(event.target.value)) showBookingDay(event.target.value);
});
for (const id of ["book-form", "import-form"]) {
  document.getElementById(id).addEventListener("input", () => checkAppointmentForms(appointmentContext()));
  document.getElementById(id).addEventListener("change", () => checkAppointmentForms(appointmentContext()));
}
document.getElementById("book-form").addEventListener("submit", (event) => {
  event.preventDefault();
  bookByHand(appointmentContext());
});
document.getElementById("import-form").addEventListener("submit", (event) => {
  event.preventDefault();
  importBookings(appointmentContext());
});
document.getElementById("report-form").addEventListener("submit", (event) => event.preventDefault());

// ------------------------------------------------------------------ start

const handlers = {
  state: () => scheduleRefresh(),
  PolicyChanged: () => scheduleRefresh(true),
};
for (const name of [...HALL_EVENTS, ...MANAGER_EVENTS]) {
  handlers[name] ??= () => scheduleRefresh();
}

renderWords();
showSignedIn(document.getElementById("signed-in"));
new LiveStream("/api/v1/events", handlers, {
  prepare: readAll,
  onLive: () => showLink("live"),
  onLost: () => showLink("reconnecting"),
}).start();
