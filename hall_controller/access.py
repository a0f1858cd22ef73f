"""Sign-in, sessions and tokens: who is talking to the controller, and what they may do.

People sign in with an account and a PIN or password (argon2id, checked in one worker thread
so a sign-in never stalls the hall), kiosks with their device token, systems send a bearer
token. A session is a random token in a cookie; only its SHA-256 is kept, in memory and in a
small JSON file in the data directory so that a restart signs nobody out. Every sign-in, every
refusal and every end of a session goes to the audit trail through the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .core.events import SignedIn, SignedOut, SignInRefused
from .services import HallService
from .settings import AccessSettings, Account

log = structlog.get_logger(__name__)

SignInRole = Literal["kiosk", "staff", "manager", "technician"]
SIGN_IN_ROLES: tuple[SignInRole, ...] = ("kiosk", "staff", "manager", "technician")
SESSIONS_FILE = "sessions.json"
# A kiosk stays signed in across reboots until its token changes, up to this long.
KIOSK_SESSION_S = 90 * 24 * 3600.0
SWEEP_EVERY_S = 60.0
# Failed sign-ins allowed per account, and per address, in FAILURE_WINDOW_S before a lock.
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 20
FAILURE_WINDOW_S = 15 * 60.0
FIRST_LOCK_S = 30.0
LONGEST_LOCK_S = 15 * 60.0
MAX_SECRET_LEN = 128
# Verified against when the account does not exist, so that a wrong name costs the same time
# as a wrong PIN and does not reveal which accounts exist. Its secret is unknown to anyone.
_DECOY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$dVqY1fgHmshoquTUEpdv9g$"
    "pVS4EI4VHFxzyDpDvWGhD2G8fDpRJgmRFQRLjDk0QlA"
)


class AccessRefused(Exception):
    """A request or a sign-in is refused; `status` is the HTTP status that says why."""

    status = 403
    code = "forbidden"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class NotSignedIn(AccessRefused):
    """No valid session or token came with a request that needs one."""

    status = 401
    code = "not_signed_in"


class SignInFailed(AccessRefused):
    """The account, the secret or the place of a sign-in is wrong (one message for all)."""

    status = 401
    code = "sign_in_failed"


class TooManyAttempts(AccessRefused):
    """Too many failed sign-ins from this account or address: wait `retry_after_s`."""

    status = 429
    code = "too_many_attempts"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: an account (or kiosk), its roles, and where a clerk or kiosk is."""

    account: str
    roles: frozenset[str]
    window: str | None = None
    kiosk: str | None = None
    via: Literal["session", "token"] = "session"
    name_zh: str = ""
    name_en: str = ""

    @property
    def actor(self) -> str:
        """How the audit trail names this principal, e.g. "staff:zhang.min"."""
        if self.kiosk is not None and "kiosk" in self.roles:
            return f"kiosk:{self.kiosk}"
        role = "token" if self.via == "token" else min(self.roles)
        return f"{role}:{self.account}"


@dataclass(slots=True)
class Session:
    """One signed-in browser, stored by the hash of its token."""

    token_hash: str
    account: str
    role: SignInRole
    window: str | None
    kiosk: str | None
    signed_in_at: float
    expires_at: float  # the absolute end, whatever the activity
    idle_s: float | None  # None: never idles out (kiosks)
    # A fingerprint of the secret signed in with: a changed PIN or token ends the session.
    secret_tag: str
    last_seen: float = field(default=0.0)


@dataclass(slots=True)
class _Failures:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    locks: int = 0


class LoginThrottle:
    """Counts failed sign-ins per account and per address and locks them out for a while."""

    def __init__(self) -> None:
        self._by_key: dict[str, _Failures] = {}

    def wait_s(self, keys: Iterable[str], now: float) -> float:
        """Seconds until these keys may try again (0 when they may now)."""
        return max(
            (self._by_key[k].locked_until - now for k in keys if k in self._by_key), default=0.0
        )

    def failed(self, limits: dict[str, int], now: float) -> bool:
        """Count one failure against each key; True when that started a lock."""
        locked = False
        for key, limit in limits.items():
            record = self._by_key.setdefault(key, _Failures())
            record.times.append(now)
            while record.times and record.times[0] < now - FAILURE_WINDOW_S:
                record.times.popleft()
            if len(record.times) >= limit:
                # 30 s, then twice as long for each lock in a row, up to 15 min.
                record.locks += 1
                lock_s = min(FIRST_LOCK_S * 2 ** (record.locks - 1), LONGEST_LOCK_S)
                record.locked_until = now + lock_s
                record.times.clear()
                locked = True
        self._forget_old(now)
        return locked

    def succeeded(self, key: str) -> None:
        """A correct sign-in clears the account's failures."""
        self._by_key.pop(key, None)

    def _forget_old(self, now: float) -> None:
        if len(self._by_key) < 10_000:
            return
        # Bounded memory under a flood of made-up names: keep only what still matters.
        for key in [
            k
            for k, r in self._by_key.items()
            if r.locked_until < now and (not r.times or r.times[-1] < now - FAILURE_WINDOW_S)
        ]:
            del self._by_key[key]


def token_hash(token: str) -> str:
    """The stored form of a high-entropy token: "sha256:<hex>"."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token for a kiosk or a system (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The argon2id hash of a PIN or password, for the hall config (blocking, ~0.2 s)."""
    return PasswordHasher().hash(secret)


class AccessControl:
    """The hall's accounts, kiosk tokens and live sessions; signs in, checks and signs out."""

    def __init__(
        self,
        settings: AccessSettings,
        service: HallService,
        *,
        key: bytes,
        sessions_file: Path | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._service = service
        self._key = key
        self._file = sessions_file
        self._clock = clock
        self._accounts = {a.id: a for a in settings.accounts}
        self._tokens = {a.token_hash: a for a in settings.accounts if a.token_hash}
        self._sessions: dict[str, Session] = {}
        self._throttle = LoginThrottle()
        self._hasher = PasswordHasher()
        # One thread: argon2 takes 64 MiB and ~0.2 s per check; a burst of attempts queues.
        self._verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sign-in")
        self._sweeper: asyncio.Task[None] | None = None
        self._saving = asyncio.Lock()
        # Sign-ins are checked one at a time (the verifier is one thread anyway), so that each
        # attempt meets the lock that the attempts before it set: a burst cannot outrun it.
        self._signing_in = asyncio.Lock()

    @classmethod
    def nobody(cls, service: HallService) -> AccessControl:
        """Access with no accounts and no kiosk tokens: only public routes answer."""
        return cls(AccessSettings(), service, key=secrets.token_bytes(32), sessions_file=None)

    # ----------------------------------------------------------------- lifetime

    async def start(self) -> None:
        """Restore the sessions that are still valid and start ending expired ones."""
        if self._file is not None:
            for session in await asyncio.to_thread(_read_sessions, self._file):
                if self._still_valid(session):
                    session.last_seen = self._clock()
                    self._sessions[session.token_hash] = session
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="access-sweeper")

    async def close(self) -> None:
        """Stop the sweeper and the verifier thread, and keep when each session was last used."""
        self._verifier.shutdown(wait=False, cancel_futures=True)
        if self._sweeper is not None:  # started: the sessions in memory are the whole truth
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
            # The file is written at sign-ins and sign-outs only; without this a session in
            # use but not since the last of those would count as idle after a restart.
            await self._save()

    # ----------------------------------------------------------------- signing in

    async def sign_in(
        self,
        *,
        role: SignInRole | None,
        account: str,
        secret: str,
        window: str | None,
        kiosk: str | None,
        remote: str,
    ) -> tuple[str, Principal]:
        """Check a sign-in and open a session: (the session token, who signed in)."""
        async with self._signing_in:
            return await self._sign_in(role, account, secret, window, kiosk, remote)

    async def _sign_in(
        self,
        role: SignInRole | None,
        account: str,
        secret: str,
        window: str | None,
        kiosk: str | None,
        remote: str,
    ) -> tuple[str, Principal]:
        now = self._clock()
        account_key, address_key = f"account:{account[:64]}", f"address:{remote}"
        wait = self._throttle.wait_s((account_key, address_key), now)
        if wait > 0:
            raise TooManyAttempts(
                f"too many failed sign-ins: try again in {wait:.0f} s", retry_after_s=wait
            )
        secret = secret[:MAX_SECRET_LEN]
        try:
            session, principal = await self._check(role, account, secret, window, kiosk, now)
        except SignInFailed as exc:
            locked = self._throttle.failed(
                {account_key: ACCOUNT_FAILURES, address_key: ADDRESS_FAILURES}, self._clock()
            )
            reason = exc.message + ("; locked for a while" if locked else "")
            log.warning("sign_in_refused", account=account[:64], remote=remote, reason=reason)
            await self._service.record_access(
                lambda at: SignInRefused(
                    at=at,
                    actor=f"address:{remote}",
                    account=account[:64] or "-",
                    role=role,
                    window=window,
                    kiosk=kiosk,
                    reason=reason,
                )
            )
            raise SignInFailed(
                "wrong account, PIN or password, or not allowed here"
                if role != "kiosk"
                else "wrong kiosk token"
            ) from None
        self._throttle.succeeded(account_key)
        previous = self._service.current().windows.get(window or "")
        took_over_from = (
            previous.clerk
            if previous is not None and previous.clerk not in (None, session.account)
            else None
        )
        token = secrets.token_urlsafe(32)
        session.token_hash = _session_hash(token)
        await self._end_replaced(session)
        self._sessions[session.token_hash] = session
        await self._save()
        await self._service.record_access(
            lambda at: SignedIn(
                at=at,
                actor=principal.actor,
                account=session.account,
                role=session.role,
                window=window,
                kiosk=kiosk,
                took_over_from=took_over_from,
            )
        )
        log.info(
            "signed_in",
            actor=principal.actor,
            window=window,
            kiosk=kiosk,
            took_over_from=took_over_from,
            remote=remote,
        )
        return token, principal

    async def _check(
        self,
        role: SignInRole | None,
        account_id: str,
        secret: str,
        window: str | None,
        kiosk: str | None,
        now: float,
    ) -> tuple[Session, Principal]:
        if role == "kiosk":
            return self._check_kiosk(kiosk, secret, now)
        account = self._accounts.get(account_id)
        stored = account.password_hash if account is not None else None
        matched = await self._verify(stored or _DECOY_HASH, secret)
        if account is None or stored is None or not matched:
            raise SignInFailed("no such account" if account is None else "wrong PIN or password")
        chosen = self._role_for(account, role, window)
        return self._open(account, chosen, window if chosen == "staff" else None, now)

    def _check_kiosk(self, kiosk: str | None, secret: str, now: float) -> tuple[Session, Principal]:
        stored = self.settings.kiosk_tokens.get(kiosk or "")
        if not hmac.compare_digest(token_hash(secret), stored or token_hash("")) or not stored:
            raise SignInFailed(f"wrong token for kiosk {kiosk}")
        assert kiosk is not None
        session = Session(
            token_hash="",
            account=kiosk,
            role="kiosk",
            window=None,
            kiosk=kiosk,
            signed_in_at=now,
            expires_at=now + KIOSK_SESSION_S,
            idle_s=None,
            secret_tag=_tag(stored),
            last_seen=now,
        )
        return session, self._principal(session)

    def _role_for(
        self, account: Account, role: SignInRole | None, window: str | None
    ) -> SignInRole:
        if role is None:
            if len(account.roles) != 1:
                raise SignInFailed(
                    f"account has several roles; choose one of {sorted(account.roles)}"
                )
            role = next(iter(account.roles))
        if role == "kiosk" or role not in account.roles:
            raise SignInFailed(f"account has no {role} role")
        if role == "staff":
            if window is None:
                raise SignInFailed("a clerk signs in at a window")
            if account.windows is not None and window not in account.windows:
                raise SignInFailed(f"not allowed at window {window}")
            self._service.current().window(window)  # NotFound for a window the hall lacks
        return role

    def _open(
        self, account: Account, role: SignInRole, window: str | None, now: float
    ) -> tuple[Session, Principal]:
        s = self.settings
        session = Session(
            token_hash="",
            account=account.id,
            role=role,
            window=window,
            kiosk=None,
            signed_in_at=now,
            expires_at=now + s.session_max_s,
            idle_s=float(s.session_idle_s),
            secret_tag=_tag(account.password_hash or ""),
            last_seen=now,
        )
        return session, self._principal(session)

    async def _verify(self, stored: str, secret: str) -> bool:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._verifier, self._hasher.verify, stored, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _end_replaced(self, new: Session) -> None:
        """One clerk per window and one window per clerk: earlier sessions there end."""
        if new.role != "staff":
            return
        replaced = [
            old
            for old in self._sessions.values()
            if old.role == "staff" and (old.window == new.window or old.account == new.account)
        ]
        await self._end(replaced, "replaced")

    # ----------------------------------------------------------------- checking requests

    def session_principal(self, token: str) -> Principal | None:
        """Who holds this session cookie, or None for an unknown or ended session."""
        session = self._sessions.get(_session_hash(token))
        if session is None:
            return None
        now = self._clock()
        if not self._still_valid(session, now):
            return None  # the sweeper records its end
        session.last_seen = now
        return self._principal(session)

    def token_principal(self, token: str) -> Principal | None:
        """The system account a bearer token belongs to, or None."""
        account = self._tokens.get(token_hash(token))
        if account is None:
            return None
        return Principal(
            account=account.id,
            roles=frozenset(account.roles),
            via="token",
            name_zh=account.name_zh,
            name_en=account.name_en,
        )

    def ticket_window(self, ticket: str) -> str | None:
        """The window a ticket is at or was served at (NotFound for no such ticket)."""
        return self._service.current().ticket(ticket).window

    def csrf_token(self, token: str) -> str:
        """The CSRF token that goes with a session token (derived, so nothing to store)."""
        return hmac.new(self._key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_matches(self, token: str, presented: str) -> bool:
        """Whether a request's X-CSRF-Token belongs to its session."""
        # As bytes: compare_digest refuses a str that is not ASCII, and a header may be anything.
        return hmac.compare_digest(
            self.csrf_token(token).encode(), presented.encode("utf-8", "surrogatepass")
        )

    async def sign_out(self, token: str) -> bool:
        """End a session; False when there was none."""
        session = self._sessions.get(_session_hash(token))
        if session is None:
            return False
        await self._end([session], "signed out")
        return True

    # ----------------------------------------------------------------- internals

    def _principal(self, session: Session) -> Principal:
        account = self._accounts.get(session.account)
        return Principal(
            account=session.account,
            roles=frozenset({session.role}),
            window=session.window,
            kiosk=session.kiosk,
            name_zh=account.name_zh if account is not None else "",
            name_en=account.name_en if account is not None else "",
        )

    def _still_valid(self, session: Session, now: float | None = None) -> bool:
        now = self._clock() if now is None else now
        if now >= session.expires_at:
            return False
        if session.idle_s is not None and now - session.last_seen >= session.idle_s:
            return False
        if session.role == "kiosk":
            stored = self.settings.kiosk_tokens.get(session.kiosk or "")
            return stored is not None and _tag(stored) == session.secret_tag
        account = self._accounts.get(session.account)
        return (
            account is not None
            and session.role in account.roles
            and _tag(account.password_hash or "") == session.secret_tag
            # A clerk taken off a window is signed out there.
            and (account.windows is None or session.window in account.windows)
        )

    async def _end(self, sessions: list[Session], reason: str) -> None:
        """End these sessions: the sessions file written once, then each end in the trail."""
        ended = [s for s in sessions if self._sessions.pop(s.token_hash, None) is not None]
        if not ended:
            return
        await self._save()
        for session in ended:
            await self._service.record_access(self._signed_out(session, reason))
            log.info("signed_out", account=session.account, role=session.role, reason=reason)

    def _signed_out(self, session: Session, reason: str) -> Callable[[float], SignedOut]:
        """The audit record of this session's end, for the moment it is recorded."""
        return lambda at: SignedOut(
            at=at,
            actor=self._principal(session).actor,
            account=session.account,
            role=session.role,
            window=session.window,
            kiosk=session.kiosk,
            reason=reason,
        )

    async def sweep(self) -> int:
        """End every expired or idle session in the audit trail; how many ended."""
        now = self._clock()
        ended = [s for s in self._sessions.values() if not self._still_valid(s, now)]
        await self._end(ended, "expired")
        return len(ended)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                await self.sweep()
            except Exception:  # the sweeper must outlive a failed write; the log says why
                log.exception("session_sweep_failed")

    async def _save(self) -> None:
        if self._file is None:
            return
        rows = [asdict(s) for s in self._sessions.values()]
        async with self._saving:  # one writer at a time: the last save wins whole
            try:
                await asyncio.to_thread(_write_sessions, self._file, rows)
            except OSError as exc:
                # Sessions still work; after a restart their holders sign in again.
                log.error("sessions_not_saved", file=str(self._file), error=str(exc))


def _session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _tag(secret_hash: str) -> str:
    return hashlib.sha256(secret_hash.encode()).hexdigest()[:16]


# Each stored field's types: a file that parses but holds anything else is unreadable.
_SESSION_FIELDS: dict[str, tuple[type, ...]] = {
    "token_hash": (str,),
    "account": (str,),
    "role": (str,),
    "window": (str, type(None)),
    "kiosk": (str, type(None)),
    "signed_in_at": (int, float),
    "expires_at": (int, float),
    "idle_s": (int, float, type(None)),
    "secret_tag": (str,),
    "last_seen": (int, float),
}


def _read_sessions(path: Path) -> list[Session]:
    """The stored sessions; none when the file is missing or unreadable (all sign in again)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        sessions = [Session(**row) for row in rows]
        for session in sessions:
            for name, types in _SESSION_FIELDS.items():
                value = getattr(session, name)
                if isinstance(value, bool) or not isinstance(value, types):
                    raise TypeError(f"{name} is {value!r}")
            if session.role not in SIGN_IN_ROLES:
                raise ValueError(f"no role {session.role!r}")
        return sessions
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError) as exc:
        log.warning("sessions_unreadable", file=str(path), error=str(exc))
        return []


def _write_sessions(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace the sessions file atomically, readable by the controller's user only."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(rows, out)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
