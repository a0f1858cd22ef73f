// What the live screens share: JSON reads with a deadline, and a server-sent event stream
// that comes back by itself after the controller restarts or the network drops.

/** A reply other than 2xx; `status` is the HTTP status. */
// Every hall event a screen may follow on /api/v1/events (the controller's event types).
export const HALL_EVENTS = [
  "TicketIssued",
  "TicketVoided",
  "TicketCalled",
  "TicketRecalled",
  "ServiceStarted",
  "ServiceFinished",
  "TicketNoShow",
  "TicketHeld",
  "TicketReturned",
  "TicketTransferred",
  "TicketCancelled",
  "WindowOpened",
  "WindowClosed",
  "WindowPaused",
  "WindowResumed",
  "TicketPrioritised",
  "PolicyChanged",
  "TicketRated",
  "RatingRequested",
  "EmergencyStarted",
  "EmergencyEnded",
  "CaseNumberRecorded",
  "RatingWaived",
  "FollowUpOpened",
  "FollowUpCalledBack",
  "FollowUpRectified",
  "FollowUpRerated",
  "AppointmentBooked",
  "AppointmentCancelled",
  "AppointmentCheckedIn",
  "AppointmentMissed",
];

export class HttpError extends Error {
  constructor(status, message, details = null) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.details = details; // the API error's `details`, when the reply had them
  }
}

/**
 * GET a JSON document; HttpError on a non-2xx reply, and no wait longer than `timeoutMs`.
 * A 401 also takes the user to the sign-in page.
 */
export async function fetchJson(url, timeoutMs = 8000) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await fetch(url, {
      signal: abort.signal,
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    if (response.status === 401) {
      location.assign(signInUrl()); // not signed in, or the session ended
    }
    if (!response.ok) {
      throw new HttpError(response.status, `${url} answered ${response.status}`);
    }
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

/** The CSRF token the server set beside the session cookie ("" before signing in). */
export function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("hc_csrf="));
  return found ? decodeURIComponent(found.slice("hc_csrf=".length)) : "";
}

/** Where a screen sends its user when the server says they are not signed in. */
export function signInUrl() {
  return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/**
 * Send a state-changing request with a JSON body; the reply's JSON (null for 204).
 *
 * It carries the CSRF token, and a 401 (not signed in, or the session ended) takes the user
 * to the sign-in page. Other refusals throw an HttpError with the server's own message.
 */
export async function sendJson(url, method = "POST", body = undefined, timeoutMs = 8000) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return sendBody(url, method, body === undefined ? null : "application/json", payload, timeoutMs);
}

/**
 * Send a state-changing request with a text body (a CSV file) of `contentType`; like
 * `sendJson` in everything else: the CSRF token, the 401, the server's words on a refusal.
 */
export async function sendText(url, text, contentType = "text/csv", method = "POST", timeoutMs = 15000) {
  return sendBody(url, method, `${contentType}; charset=utf-8`, text, timeoutMs);
}

async function sendBody(url, method, contentType, payload, timeoutMs) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
    if (contentType !== null) headers["Content-Type"] = contentType;
    const response = await fetch(url, {
      method,
      signal: abort.signal,
      cache: "no-store",
      headers,
      body: payload,
    });
    if (response.status === 401) {
      location.assign(signInUrl());
      throw new HttpError(401, "not signed in");
    }
    if (!response.ok) {
      let message = `${url} answered ${response.status}`;
      let details = null;
      try {
        const error = (await response.json()).error;
        message = error.message;
        details = error.details ?? null;
      } catch {
        // not the API's JSON error shape: keep the status line
      }
      throw new HttpError(response.status, message, details);
    }
    return response.status === 204 ? null : await response.json();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One server-sent event stream kept open for as long as the screen lives.
 *
 * `prepare()` runs before every connection (the first and each one after a loss) to re-read
 * what the stream does not carry; it returns false to give up for good (a link that has
 * ended), and a throw counts as a failed attempt. `handlers` maps event names to functions
 * of the parsed data. `onLive` runs on the first message after (re)connecting, `onLost` once
 * when a live stream breaks or the first attempt fails. The stream counts as lost when it
 * errors or stays silent for `silenceMs` (the server repeats its state every 10 s, so a
 * half-open connection is noticed too). Retries wait 1 s doubling to 15 s, with jitter so a
 * hall's screens do not all come back in the same instant; the device's network coming back
 * (`online`) or a hidden page shown again retries at once.
 */
export class LiveStream {
  constructor(url, handlers, { prepare = async () => true, onLive, onLost, silenceMs = 25000 }) {
    this.url = url;
    this.handlers = handlers;
    this.prepare = prepare;
    this.onLive = onLive ?? (() => {});
    this.onLost = onLost ?? (() => {});
    this.silenceMs = silenceMs;
    this.source = null;
    this.live = false;
    this.lostReported = false;
    this.failures = 0;
    this.retryTimer = null;
    this.silenceTimer = null;
    this.stopped = false;
  }

  /** Connect now; and again at once when the device's network or the page comes back. */
  start() {
    this.stopped = false;
    window.addEventListener("online", () => this.retryNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") {
        this.retryNow(); // a phone's browser may have held back the timers while hidden
      }
    });
    this.connect();
  }

  /** Skip the rest of the wait before the next attempt (there is news that it may work). */
  retryNow() {
    if (this.stopped || this.live) {
      return;
    }
    this.failures = 0; // an attempt already on its way retries soon if it fails
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  /** Close the stream and make no more attempts. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    this.close();
  }

  async connect() {
    this.retryTimer = null;
    let keepGoing;
    try {
      keepGoing = await this.prepare();
    } catch (error) {
      this.failed(error);
      return;
    }
    if (keepGoing === false) {
      this.stop();
      return;
    }
    if (this.stopped) {
      return;
    }
    const source = new EventSource(this.url);
    this.source = source;
    for (const [name, handle] of Object.entries(this.handlers)) {
      source.addEventListener(name, (event) => {
        if (source !== this.source) {
          return; // a message still queued from a stream already given up
        }
        this.heard();
        handle(JSON.parse(event.data), event);
      });
    }
    // EventSource would retry by itself, but only on some failures and at its own pace:
    // closing it and reconnecting here handles every failure the same way.
    source.addEventListener("error", () => {
      if (source === this.source) {
        this.failed(new Error(`${this.url}: the stream broke`));
      }
    });
    this.watchSilence();
  }

  heard() {
    this.watchSilence();
    if (!this.live) {
      this.live = true;
      this.lostReported = false;
      this.failures = 0;
      this.onLive();
    }
  }

  watchSilence() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(
      () => this.failed(new Error(`${this.url}: silent for ${this.silenceMs} ms`)),
      this.silenceMs,
    );
  }

  failed(error) {
    clearTimeout(this.silenceTimer);
    this.close();
    if (this.stopped || this.retryTimer !== null) {
      return;
    }
    this.live = false;
    if (!this.lostReported) {
      this.lostReported = true;
      this.onLost(error);
    }
    const base = Math.min(15000, 1000 * 2 ** this.failures);
    this.failures += 1;
    const delay = base * (0.8 + 0.4 * Math.random());
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  close() {
    if (this.source !== null) {
      this.source.close();
      this.source = null;
    }
  }
}

/** Show the connection banner while the stream is down (and mark the body for styling). */
export function showLink(state) {
  document.body.dataset.link = state;
  document.getElementById("connection").hidden = state !== "reconnecting";
}

/** A new element with attributes and children (strings become text, never markup). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      element.append(child instanceof Node ? child : String(child));
    }
  }
  return element;
}

/**
 * Show who is signed in on this screen, with a sign-out button, inside `container`.
 *
 * It reads GET /api/v1/session once; signing out ends the session (in the audit trail) and
 * returns to the sign-in page for this screen.
 */
export async function showSignedIn(container) {
  let session;
  try {
    session = await fetchJson("/api/v1/session");
  } catch {
    return; // the screen works without the name
  }
  if (!session.signed_in) return;
  const who = session.name_zh || session.account;
  const whoEn = session.name_en || session.account;
  const button = h(
    "button",
    { type: "button", class: "sign-out" },
    "退出 ",
    h("span", { class: "en", lang: "en" }, "Sign out"),
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await sendJson("/api/v1/session", "DELETE");
    } finally {
      location.assign(signInUrl());
    }
  });
  container.replaceChildren(
    h("span", { class: "signed-in-as" }, who, " ", h("span", { class: "en", lang: "en" }, whoEn)),
    " ",
    button,
  );
}
