"""The demo hall's simulated applicants and clerks, so that screens and queues move."""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog

from hall_controller.core.errors import DomainError
from hall_controller.core.model import WindowStatus
from hall_controller.services import HallService, ServiceError

log = structlog.get_logger(__name__)

ACTOR = "demo:simulator"


class HallSimulation:
    """Applicants arrive; clerks open windows, call, serve, sometimes pause: a compressed day."""

    def __init__(
        self,
        service: HallService,
        *,
        speed: float = 10.0,
        seed: int | None = None,
        pad_windows: frozenset[str] = frozenset(),
    ):
        self.service = service
        self.speed = speed
        self.random = random.Random(seed)
        # Windows whose simulated clerks press call-pad keys instead of using the API.
        self.pad_windows = pad_windows
        # Some intakes end with the result handed out on the spot: the applicant goes on to
        # the pick-up queue with the same ticket (受审分离), when the hall has one.
        themes = {t.id for t in service.config.themes}
        self.next_stage = "pickup" if "pickup" in themes else None

    def start(self) -> list[asyncio.Task[None]]:
        """Start the simulation's named tasks (the caller cancels them on stop)."""
        return [
            asyncio.create_task(self._arrivals(), name="demo-arrivals"),
            asyncio.create_task(self._clerks(), name="demo-clerks"),
        ]

    async def _sleep(self, hall_seconds: float) -> None:
        await asyncio.sleep(hall_seconds / self.speed)

    async def _arrivals(self) -> None:
        groups = [g.id for g in self.service.config.priority_groups]
        themes = [t.id for t in self.service.config.themes]
        weights = [5, 3, 3, 2, 1, 3][: len(themes)] + [1] * max(0, len(themes) - 6)
        while True:
            await self._sleep(self.random.expovariate(1 / 45))
            theme = self.random.choices(themes, weights=weights)[0]
            priority = (
                self.random.choice(groups) if groups and self.random.random() < 0.15 else None
            )
            with contextlib.suppress(DomainError, ServiceError):
                await self.service.issue_ticket(
                    theme=theme, priority=priority, id_number=None, channel="kiosk", actor=ACTOR
                )

    async def _clerks(self) -> None:
        service = self.service
        for spec in service.config.windows:
            if spec.id in self.pad_windows:
                continue
            if service.current().windows[spec.id].status is WindowStatus.CLOSED:
                with contextlib.suppress(DomainError, ServiceError):
                    await service.window_action(spec.id, "open", actor=ACTOR)
        busy_until: dict[str, float] = {}
        while True:
            await self._sleep(5)
            now = service.now()
            for window in list(service.current().windows.values()):
                if window.id in self.pad_windows or busy_until.get(window.id, 0) > now:
                    continue
                with contextlib.suppress(DomainError, ServiceError):
                    await self._clerk_step(window.id, window.status)
                # Clerks act at their own pace: each window decides again in 10-60 hall seconds.
                busy_until[window.id] = now + self.random.uniform(10, 60) / self.speed

    async def _clerk_step(self, window_id: str, status: WindowStatus) -> None:
        service = self.service
        roll = self.random.random()
        if status is WindowStatus.OPEN:
            if roll < 0.03:
                await service.window_action(window_id, "pause", actor=ACTOR, reason="休息 break")
            else:
                await service.call(window_id, ticket=None, actor=ACTOR)
        elif status is WindowStatus.PAUSED:
            if roll < 0.3:
                await service.window_action(window_id, "resume", actor=ACTOR)
        elif status is WindowStatus.CALLING:
            action = "no-show" if roll < 0.05 else "recall" if roll < 0.1 else "start"
            await service.window_action(window_id, action, actor=ACTOR)
        elif status is WindowStatus.SERVING and roll < 0.35:
            current = service.current().current_ticket(window_id)
            if (
                self.next_stage is not None
                and current is not None
                and current.theme != self.next_stage
                and current.stage == 1
                and self.random.random() < 0.1
            ):
                await service.continue_visit(
                    window_id,
                    to_theme=self.next_stage,
                    to_window=None,
                    reason="当场出证 result ready",
                    actor=ACTOR,
                )
                return
            reply = await service.window_action(window_id, "finish", actor=ACTOR)
            if service.config.ratings.require_before_next:
                # In a hall that wants it, the clerk asks for the rating before calling again.
                await service.request_rating(window_id, actor=ACTOR)
            ticket = reply.body.get("ticket") if isinstance(reply.body, dict) else None
            if ticket and self.random.random() < 0.6:
                score = self.random.choices([5, 4, 3, 2, 1], weights=[60, 25, 10, 3, 2])[0]
                await service.ticket_action(ticket["id"], "rate", actor=ACTOR, score=score)
