"""The screens' pages: HTML files from kiosk_ui/, served as they are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from hall_controller.core.errors import NotFound

UI_DIR_KEY: web.AppKey[Path] = web.AppKey("ui_dir", Path)
# The screens (HTML, CSS, JS) beside the package: kiosk_ui/ at the top of the repository.
UI_DIR = Path(__file__).resolve().parents[2] / "kiosk_ui"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(name: str) -> Handler:
    """A handler serving kiosk_ui/`name` (404 with a clear message when it is missing)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        ui_dir = request.app[UI_DIR_KEY]
        path = ui_dir / name
        if not path.is_file():
            raise NotFound(f"the screens are not installed: no {name} in {ui_dir}")
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    serve.__doc__ = f"The page {name} from the screens' folder."
    return serve
