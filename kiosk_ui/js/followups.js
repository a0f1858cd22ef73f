// The manager tablet's follow-ups of poor ratings (差评整改, DB44/T 2138 12.2): each one with its
// ticket, window, clerk, the score in words, the case number and its two deadlines (time left,
// or overdue in words and colour), and the manager's actions: callback, close (put right,
// optionally asking for a new rating) and the applicant's new rating. The controller owns the
// truth: the list is read again on every follow-up event.

import { fetchJson, h } from "./live.js";

// Every follow-up event: the tablet reads the list again on each.
export const FOLLOWUP_EVENTS = ["FollowUpOpened", "FollowUpCalledBack", "FollowUpRectified", "FollowUpRerated"];

const SHOWN = 200;
const NOTE_MAX = 500;

const STATUS = {
  open: ["待回访", "To call back"],
  called_back: ["已回访，待整改", "Called back, to put right"],
  awaiting_rating: ["已整改，待重新评价", "Put right, awaiting a new rating"],
  closed: ["已结案", "Closed"],
};

const SCORES = [
  [5, "非常满意", "Very satisfied"],
  [4, "满意", "Satisfied"],
  [3, "基本满意", "Fairly satisfied"],
  [2, "不满意", "Dissatisfied"],
  [1, "非常不满意", "Very dissatisfied"],
];

const ACTIONS = {
  callback: {
    title: ["记录回访", "Record the callback"],
    note: ["回访情况（必填）", "What was said (required)"],
    submit: ["记录回访", "Record"],
    done: ["已记录回访", "Callback recorded"],
  },
  close: {
    title: ["整改完成", "Put right"],
    note: ["整改情况（必填）", "What was put right (required)"],
    submit: ["提交", "Submit"],
    done: ["已提交整改", "Rectification recorded"],
  },
  rating: {
    title: ["记录新评价", "Record a new rating"],
    note: ["备注", "Note"],
    submit: ["记录评价", "Record the rating"],
    done: ["已记录新评价", "New rating recorded"],
  },
};

/** The follow-ups, open ones first (the controller's order). */
export async function readFollowups() {
  return fetchJson(`/api/v1/followups?limit=${SHOWN}`);
}

/** "2 天 3 小时" / "2 d 3 h": a span of time as a person reads it. */
function span(seconds, one) {
  const s = Math.abs(seconds);
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.max(1, Math.floor((s % 3600) / 60));
  if (days > 0) {
    return one(`${days} 天 ${hours} 小时`, `${days} d ${hours} h`);
  }
  if (hours > 0) {
    return one(`${hours} 小时 ${Math.floor((s % 3600) / 60)} 分`, `${hours} h ${Math.floor((s % 3600) / 60)} min`);
  }
  return one(`${minutes} 分钟`, `${minutes} min`);
}

function when(iso) {
  return iso ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : "—";
}

/** One deadline: when it is due and how it stands (done, time left, or overdue). */
function deadline(kind, [zh, en], d, { pair, one }) {
  let state;
  let words;
  if (d.done_at !== null) {
    state = d.state === "met" ? "met" : "late";
    words = d.state === "met"
      ? pair(`已完成 ${when(d.done_at)}`, `Done ${when(d.done_at)}`)
      : pair(`逾期完成 ${when(d.done_at)}`, `Done late ${when(d.done_at)}`);
  } else if (d.overdue) {
    state = "overdue";
    words = pair(`已超期 ${span(d.left_s, (a) => a)}`, `Overdue by ${span(d.left_s, (_a, b) => b)}`);
  } else {
    state = "due";
    words = pair(`还剩 ${span(d.left_s, (a) => a)}`, `${span(d.left_s, (_a, b) => b)} left`);
  }
  return h(
    "p",
    { class: "deadline", "data-deadline": kind, "data-state": state },
    h("span", { class: "what" }, ...pair(zh, en)),
    h("span", { class: "due" }, `${one("期限", "due")} ${when(d.due)}`),
    h("span", { class: "left" }, ...words),
  );
}

/** Draw the follow-ups into the tab's list. */
export function renderFollowups(followups, words) {
  const { pair, one } = words;
  const list = document.getElementById("followup-list");
  if (list === null) {
    return;
  }
  const open = followups.filter((f) => f.status !== "closed");
  document.getElementById("followup-count").textContent = String(open.length);
  document.getElementById("followups-none").hidden = followups.length > 0;
  list.replaceChildren(
    ...followups.map((f) => {
      const [statusZh, statusEn] = STATUS[f.status] ?? [f.status, f.status];
      const closed = f.status === "closed";
      const button = (action, [zh, en], extra = {}) =>
        h(
          "button",
          { type: "button", "data-followup-action": action, "data-followup": f.id, ...extra },
          ...pair(zh, en),
          h("span", { class: "visually-hidden" }, ` ${f.number}`),
        );
      return h(
        "li",
        {
          class: "followup",
          "data-followup": f.id,
          "data-status": f.status,
          "data-overdue": f.overdue ? "true" : "false",
        },
        h(
          "div",
          { class: "followup-head" },
          h("p", { class: "number figure" }, f.number),
          h(
            "div",
            { class: "facts" },
            h("p", {}, `${f.day} · ${one(f.window_name_zh ?? "—", f.window_name_en ?? "—")} · ${one(f.theme_name_zh, f.theme_name_en)}`),
            h("p", { class: "score", "data-score": f.score }, ...pair(`评价：${f.score_zh}`, `Rated: ${f.score_en}`)),
            h("p", {}, `${one("工作人员：", "Clerk: ")}${f.clerk ?? one("未登录", "not signed in")}`),
            h("p", { class: "case" }, `${one("办件编号：", "Case number: ")}${f.case_number ?? one("未记录", "not recorded")}`),
          ),
          h("p", { class: "followup-status" }, ...pair(statusZh, statusEn)),
        ),
        deadline("callback", ["回访", "Callback"], f.callback, words),
        deadline("rectification", ["整改", "Rectification"], f.rectification, words),
        f.latest_score !== null
          ? h("p", { class: "note" }, ...pair(`最近一次重新评价：${f.latest_score} 分`, `Latest new rating: ${f.latest_score}`))
          : null,
        closed
          ? null
          : h(
              "div",
              { class: "row-actions" },
              button("callback", ["回访", "Callback"]),
              button("close", ["整改完成", "Put right"]),
              button("rating", ["新评价", "New rating"]),
            ),
      );
    }),
  );
}

/** Ask for what one action needs (a note, a score, whether to ask for a new rating); null
 * when cancelled. */
function ask(followup, action, { pair }) {
  const spec = ACTIONS[action];
  const dialog = document.getElementById("followup-dialog");
  const form = document.getElementById("followup-form");
  const note = document.getElementById("followup-note");
  const submit = document.getElementById("followup-submit");
  const scores = document.getElementById("followup-scores");
  const askRating = document.getElementById("followup-ask-rating");
  const hint = document.getElementById("followup-hint");
  document.getElementById("followup-title").replaceChildren(...pair(`${spec.title[0]} · ${followup.number}`, `${spec.title[1]} · ${followup.number}`));
  document.getElementById("followup-note-label").replaceChildren(...pair(...spec.note));
  submit.replaceChildren(...pair(...spec.submit));
  const legend = scores.querySelector("legend");
  scores.replaceChildren(
    legend,
    ...SCORES.map(([score, zh, en]) =>
      h(
        "label",
        { class: "preset", for: `followup-score-${score}` },
        h("input", { type: "radio", name: "followup-score", id: `followup-score-${score}`, value: String(score) }),
        h("span", {}, `${score} · `, ...pair(zh, en)),
      ),
    ),
  );
  scores.hidden = action !== "rating";
  document.getElementById("followup-ask").hidden = action !== "close";
  askRating.checked = false;
  note.value = "";
  note.maxLength = NOTE_MAX;
  const chosen = () => Number(scores.querySelector("input:checked")?.value ?? 0);
  const update = () => {
    let problem = null;
    if (action === "rating" && chosen() === 0) {
      problem = ["请选择申请人的评价", "Choose the applicant's rating"];
    } else if (action !== "rating" && note.value.trim() === "") {
      problem = ["请填写情况", "Write what was done"];
    }
    submit.disabled = problem !== null;
    hint.replaceChildren(...(problem ? pair(...problem) : []));
  };
  form.oninput = update;
  form.onchange = update;
  update();
  return new Promise((resolve) => {
    let result = null;
    form.onsubmit = () => {
      const text = note.value.trim();
      if (action === "rating") {
        result = { score: chosen(), note: text };
      } else if (action === "close") {
        result = { note: text, ask_rating: askRating.checked };
      } else {
        result = { note: text };
      }
    };
    document.getElementById("followup-cancel").onclick = () => dialog.close();
    dialog.addEventListener("close", () => resolve(result), { once: true });
    dialog.showModal();
  });
}

/** Carry out one action on a follow-up, after asking for what it needs. */
export async function followupAction(followup, action, words, send) {
  const body = await ask(followup, action, words);
  if (body === null) {
    return;
  }
  const path = { callback: "callback", close: "close", rating: "rating" }[action];
  const [zh, en] = ACTIONS[action].done;
  await send(`/api/v1/followups/${encodeURIComponent(followup.id)}/${path}`, "POST", body, [
    `${followup.number} ${zh}`,
    `${followup.number}: ${en}`,
  ]);
}
