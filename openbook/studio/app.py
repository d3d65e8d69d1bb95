"""The web studio (SPEC §13): server-rendered pages under /studio/ on the API port.

`create_studio()` builds a sub-application that the API mounts at /studio.
Its one middleware does, for every studio request:

1. security headers: a strict Content-Security-Policy (scripts and styles
   from /studio/static/ only, no inline script, no framing by other pages),
   nosniff, no referrer leaving the studio, no caching of pages;
2. the session: every page but sign-in and the static files needs a live
   session cookie; without one, the "signed out" page (401);
3. CSRF: every request that is not a GET carries the session's token (form
   field `csrf` or header X-CSRF-Token) and, when the browser sends Origin,
   comes from this origin; otherwise 403 and nothing changes;
4. errors as pages: OpenBook errors become an HTML page with the same status
   the API would answer (or JSON for the studio's own fetches).

Handlers are thin and call `openbook.db` with the session's workspace and
role exactly as the API does with a token's, so another workspace's anything
is 404 and a reader's write is 403, whatever the page showed.
"""

from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path

from aiohttp import web

from openbook import errors
from openbook.api.auth import PRINCIPAL
from openbook.api.errors import RETRY_AFTER_S, Handler, status_for
from openbook.api.keys import DATABASE
from openbook.studio import changes, content, editing, publishing, signin
from openbook.studio.credentials import CSRF_FIELD, CSRF_HEADER, csrf_matches, same_origin
from openbook.studio.pages import API_APP, render, see_other, setup_templates, wants_json

log = logging.getLogger("openbook.studio")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'")
PUBLIC_PREFIXES = ("/studio/signin/", "/studio/static/")


def _secure(response: web.StreamResponse, csp: str = CSP) -> None:
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")


def _error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    if wants_json(request):
        return web.json_response({"error": {"status": status, "message": message}}, status=status)
    return render(request, "error.html", {"title": title, "message": message, "status": status}, status=status)


TITLES = {400: "That did not work", 401: "Signed out", 403: "Not allowed", 404: "Not found",
          409: "Someone else changed this", 413: "Too large", 503: "Try again shortly"}


@web.middleware
async def studio_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await _guarded(request, handler)
    except errors.OpenBookError as exc:
        status = status_for(exc)
        if status >= 500:
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.path, exc.message)
        message = exc.message if status < 500 else "Something went wrong on our side; try again."
        response = _error_page(request, status, TITLES.get(status, "Something went wrong"), message)
        if isinstance(exc, errors.Unavailable):
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
    except web.HTTPNotFound:
        response = _error_page(request, 404, "Not found", "There is no page at this address.")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error_page(request, exc.status, TITLES.get(exc.status, "That did not work"), exc.reason)
    if request.path.startswith("/studio/signin/"):
        # The link's secret is in this URL, whatever the answer: never send it on as a Referer.
        response.headers["Referrer-Policy"] = "no-referrer"
    _secure(response)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    session = await signin.current_session(request.config_dict[DATABASE], request)
    if session is None:
        response = _error_page(request, 401, "Signed out", "Your session has ended or you have not signed in yet.")
        signin.clear_cookie(response)
        return response
    request[signin.SESSION] = session
    request[PRINCIPAL] = session.principal()
    if request.method not in ("GET", "HEAD"):
        if not same_origin(request.headers.get("Origin"), request.scheme, request.host):
            raise errors.Forbidden("this form was sent from another site; nothing was changed")
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            field = (await request.post()).get(CSRF_FIELD)
            sent = field if isinstance(field, str) else None
        if not csrf_matches(session.credential, sent):
            raise errors.Forbidden("this form is out of date or was not sent by the studio (missing or wrong "
                                   "CSRF token); reload the page and try again; nothing was changed")
    return await handler(request)


def _static_dir() -> Path:
    return Path(str(importlib.resources.files("openbook.studio") / "static"))


def create_studio(api: web.Application) -> web.Application:
    """The studio sub-application of `api`, which mounts it with `api.add_subapp("/studio", ...)`."""
    studio = web.Application(middlewares=[studio_middleware])
    studio[API_APP] = api
    setup_templates(studio)
    studio.router.add_get("/signin/{credential}", signin_page)
    studio.router.add_post("/signout", signout)
    studio.router.add_static("/static/", _static_dir())
    content.setup(studio)
    editing.setup(studio)
    changes.setup(studio)
    publishing.setup(studio)
    return studio


async def signin_page(request: web.Request) -> web.StreamResponse:
    session = await signin.sign_in(request.config_dict[DATABASE], request.match_info["credential"])
    response = see_other("/studio/")
    signin.set_cookie(response, request, session)
    return response


async def signout(request: web.Request) -> web.StreamResponse:
    await signin.sign_out(request.config_dict[DATABASE], request.pop(signin.SESSION))
    response = render(request, "signed_out.html")
    signin.clear_cookie(response)
    return response
