"""`python -m services.<name>`: run one service deployment (or some of its components)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import socket

import uvicorn
import uvloop

import shared.contracts  # noqa: F401  (every event type known before any decoding)
from shared.http_client import SERVER_KEEP_ALIVE_S
from shared.logging import configure
from shared.runtime import Runtime, ServiceDefinition
from shared.settings import Settings


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket several processes bind at once (SO_REUSEPORT): the kernel hands
    each new connection to one of them, so N API processes serve one port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def settle_heap() -> None:
    """Move what the imports and the app's construction left alive (modules, classes, routes,
    models: about 110,000 objects in selection) out of the cyclic collector's reach. Each
    full collection otherwise walks all of them while every request of the process waits:
    about 200 ms a time on this machine under load, in the slowest 1 % of commands
    (docs/benchmarks.md, "The slowest 1 %"). What the service creates afterwards (its
    caches, its read index) is collected as before."""
    gc.collect()
    gc.freeze()


def set_collector(defn: ServiceDefinition) -> None:
    """The process's cyclic collector at its service's thresholds (`gc_thresholds`), where it
    names them: set here, at the process's start, not where the handlers are composed (a test
    or a province's in-process runtimes compose them too, and the setting is the process's)."""
    if defn.gc_thresholds is not None:
        gc.set_threshold(*defn.gc_thresholds)


# uvicorn's "auto" would fall back to asyncio's loop and h11 without a word if these were missing.
# The servers state how long an idle connection lives; the project's own clients drop one
# sooner (shared/http_client.py).
FAST = {"loop": "uvloop", "http": "httptools", "timeout_keep_alive": SERVER_KEEP_ALIVE_S}


def run(main) -> None:
    """Run a process's main coroutine on uvloop's event loop: its sockets (HTTP, the store,
    Kafka) cost less CPU per call than asyncio's own loop (docs/benchmarks.md, "The event
    loop, the HTTP parser and the token")."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def settings_for(name: str, **overrides) -> Settings:
    return Settings(service=name, **{k: v for k, v in overrides.items() if v is not None})


async def _headless(defn: ServiceDefinition, settings: Settings, components: tuple[str, ...]) -> None:
    rt = Runtime(defn, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await rt.start(components)
    await stop.wait()
    await rt.stop()


def main(defn: ServiceDefinition, argv: list[str] | None = None) -> None:
    """Run the service `defn` (its `__main__` passes its own definition: the kernel imports no service)."""
    name = defn.name
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    parser.add_argument(
        "--components",
        default=",".join(defn.components),
        help=f"comma-separated subset of: {', '.join(defn.components)}",
    )
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with the service's other API processes (deploy/local/layout.py)",
    )
    args = parser.parse_args(argv)
    components = tuple(c for c in args.components.split(",") if c)
    bad = set(components) - set(defn.components)
    if bad:
        parser.error(f"unknown components: {', '.join(sorted(bad))}")
    configure()
    set_collector(defn)
    settings = settings_for(name, http_port=args.port)
    if "api" in components:
        from shared.auth import verifier_for

        verifier_for(settings)  # exits with what to set when tokens could not be checked
        from shared.api import create_app

        app = create_app(defn, settings, components)
        settle_heap()
        if args.reuse_port:
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, **FAST))
            run(server.serve(sockets=[shared_socket(settings.http_host, settings.port)]))
        else:
            uvicorn.run(
                app,
                host=settings.http_host,
                port=settings.port,
                log_level="warning",
                access_log=False,
                **FAST,
            )
    else:
        settle_heap()
        run(_headless(defn, settings, components))
