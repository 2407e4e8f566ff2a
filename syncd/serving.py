"""Serving Starlette apps with uvicorn inside a process that owns its signals: the address
bound first (a ``ListenError`` naming it and why, not a uvicorn traceback), then served."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from .config import split_listen
from .errors import ListenError

__all__ = ["Served", "start_server", "stop_servers"]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the process owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


Served = tuple[_Server, "asyncio.Task[None]"]


async def start_server(app: Any, listen: str) -> Served:
    """Bind ``listen`` here (a ``ListenError`` saying why not), then serve ``app`` on it."""
    host, port = split_listen(listen)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ListenError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                    access_log=False, log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
            raise RuntimeError(f"HTTP endpoint {listen} did not start")
        await asyncio.sleep(0.02)
    return server, task


async def stop_servers(servers: list[Served]) -> None:
    for server, _ in servers:
        server.should_exit = True
    for _, task in servers:
        await task
