"""The proxy's HTTP API: Toxiproxy's routes, JSON shapes and status codes.

    GET    /proxies                          200 {name: proxy}
    POST   /proxies                          201 proxy
    POST   /populate                         201 {"proxies": [...]}
    GET    /proxies/{proxy}                  200 proxy
    POST   /proxies/{proxy}   (or PATCH)     200 proxy (enabled, listen, upstream)
    DELETE /proxies/{proxy}                  204
    GET    /proxies/{proxy}/toxics           200 [toxic]
    POST   /proxies/{proxy}/toxics           200 toxic
    GET    /proxies/{proxy}/toxics/{toxic}   200 toxic
    POST   /proxies/{proxy}/toxics/{toxic}   200 toxic (or PATCH)
    DELETE /proxies/{proxy}/toxics/{toxic}   204
    POST   /reset                            204
    GET    /version                          200 {"version": ...}

A proxy is ``{name, listen, upstream, enabled, toxics}``; a toxic, or a
request that disables a proxy, may carry an ``owner`` (a loadkit extension,
see :mod:`loadkit.proxy.owner`: undone when that process is gone); errors are
``{"error": message, "status": code}``. As Toxiproxy does, requests whose
User-Agent starts with ``Mozilla/`` get 403, so a web page cannot drive the
proxy from a browser.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from loadkit import __version__
from loadkit.proxy.apierror import BAD_REQUEST_BODY, ApiError
from loadkit.proxy.httpserver import Request, Response
from loadkit.proxy.owner import Owner
from loadkit.proxy.proxy import ProxyCollection

#: The Toxiproxy API level this server implements; /version reports it with ours.
TOXIPROXY_API_VERSION = "2.12.0"
VERSION = f"{TOXIPROXY_API_VERSION}+loadkit.{__version__}"

Route = Callable[[Request, list[str]], Awaitable[Response]]


class ProxyApi:
    """Request handler over a :class:`ProxyCollection`."""

    def __init__(self, collection: ProxyCollection) -> None:
        self.collection = collection

    async def handle(self, request: Request) -> Response:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return Response.text(HTTPStatus.FORBIDDEN, "User agent not allowed\n")
        route = self._route(request.segments())
        if route is None:
            return Response.text(HTTPStatus.NOT_FOUND, "404 page not found\n")
        methods, args = route
        handler = methods.get(request.method)
        if handler is None:
            return Response(HTTPStatus.METHOD_NOT_ALLOWED, content_type="text/plain")
        async with self.collection.lock:
            try:
                return await handler(request, args)
            except ApiError as exc:
                return Response.json(exc.status, exc.body())
            except Exception as exc:  # a bug: answer like Toxiproxy does, show the traceback
                traceback.print_exc()
                error = ApiError(str(exc) or type(exc).__name__, HTTPStatus.INTERNAL_SERVER_ERROR)
                return Response.json(error.status, error.body())

    def _route(self, parts: list[str]) -> tuple[dict[str, Route], list[str]] | None:
        match parts:
            case ["reset"]:
                return {"POST": self.reset}, []
            case ["version"]:
                return {"GET": self.version}, []
            case ["populate"]:
                return {"POST": self.populate}, []
            case ["proxies"]:
                return {"GET": self.proxy_index, "POST": self.proxy_create}, []
            case ["proxies", name]:
                update = self.proxy_update
                methods = {"GET": self.proxy_show, "POST": update, "PATCH": update}
                return {**methods, "DELETE": self.proxy_delete}, [name]
            case ["proxies", name, "toxics"]:
                return {"GET": self.toxic_index, "POST": self.toxic_create}, [name]
            case ["proxies", name, "toxics", toxic]:
                update = self.toxic_update
                methods = {"GET": self.toxic_show, "POST": update, "PATCH": update}
                return {**methods, "DELETE": self.toxic_delete}, [name, toxic]
        return None

    # -- proxies ------------------------------------------------------------------
    async def proxy_index(self, request: Request, args: list[str]) -> Response:
        proxies = self.collection.proxies.values()
        return Response.json(HTTPStatus.OK, {p.name: p.to_json() for p in proxies})

    async def proxy_create(self, request: Request, args: list[str]) -> Response:
        proxy, enabled = self.collection.new_proxy(_json_body(request))
        await self.collection.add(proxy, enabled)
        return Response.json(HTTPStatus.CREATED, proxy.to_json())

    async def populate(self, request: Request, args: list[str]) -> Response:
        proxies, error = await self.collection.populate(_json_body(request))
        body: dict[str, Any] = {"proxies": [p.to_json() for p in proxies]}
        if error is not None:
            return Response.json(error.status, {**error.body(), **body})
        return Response.json(HTTPStatus.CREATED, body)

    async def proxy_show(self, request: Request, args: list[str]) -> Response:
        return Response.json(HTTPStatus.OK, self.collection.get(args[0]).to_json())

    async def proxy_update(self, request: Request, args: list[str]) -> Response:
        proxy = self.collection.get(args[0])
        body = _json_body(request)
        if not isinstance(body, dict):
            raise BAD_REQUEST_BODY.caused_by("expected a JSON object")
        fields: dict[str, Any] = {
            "listen": proxy.listen,
            "upstream": proxy.upstream,
            "enabled": proxy.enabled,
        }
        fields.update({key: body[key] for key in fields if key in body})
        for key in ("listen", "upstream"):
            if not isinstance(fields[key], str):
                raise BAD_REQUEST_BODY.caused_by(f"{key} must be a string")
        if not isinstance(fields["enabled"], bool):
            raise BAD_REQUEST_BODY.caused_by("enabled must be true or false")
        owner = Owner.from_json(body.get("owner"))
        await proxy.update(fields["listen"], fields["upstream"], fields["enabled"], owner)
        return Response.json(HTTPStatus.OK, proxy.to_json())

    async def proxy_delete(self, request: Request, args: list[str]) -> Response:
        await self.collection.remove(args[0])
        return Response(HTTPStatus.NO_CONTENT)

    # -- toxics -------------------------------------------------------------------
    async def toxic_index(self, request: Request, args: list[str]) -> Response:
        return Response.json(HTTPStatus.OK, self.collection.get(args[0]).toxics_json())

    async def toxic_create(self, request: Request, args: list[str]) -> Response:
        proxy = self.collection.get(args[0])
        toxic = proxy.add_toxic(_json_body(request))
        return Response.json(HTTPStatus.OK, toxic.to_json())

    async def toxic_show(self, request: Request, args: list[str]) -> Response:
        toxic = self.collection.get(args[0]).get_toxic(args[1])
        return Response.json(HTTPStatus.OK, toxic.to_json())

    async def toxic_update(self, request: Request, args: list[str]) -> Response:
        proxy = self.collection.get(args[0])
        proxy.get_toxic(args[1])  # 404 before a body error, as Toxiproxy
        toxic = proxy.update_toxic(args[1], _json_body(request))
        return Response.json(HTTPStatus.OK, toxic.to_json())

    async def toxic_delete(self, request: Request, args: list[str]) -> Response:
        self.collection.get(args[0]).remove_toxic(args[1])
        return Response(HTTPStatus.NO_CONTENT)

    # -- the rest -------------------------------------------------------------------
    async def reset(self, request: Request, args: list[str]) -> Response:
        await self.collection.reset()
        return Response(HTTPStatus.NO_CONTENT)

    async def version(self, request: Request, args: list[str]) -> Response:
        body = json.dumps({"version": VERSION}) + "\n"
        return Response(HTTPStatus.OK, body.encode(), "application/json;charset=utf-8")


def _json_body(request: Request) -> Any:
    if not request.body.strip():
        raise BAD_REQUEST_BODY.caused_by("EOF")  # what Go's decoder says for no body
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BAD_REQUEST_BODY.caused_by(str(exc)) from None
