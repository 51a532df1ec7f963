"""How one service of a deployment is laid out in processes on one machine.

One process (the default) runs every component: the API, the outbox relay, the
projectors and the service's workers. With `api_processes` N > 1, N processes run the
API alone, all listening on the service's one port (SO_REUSEPORT: the kernel spreads
the connections over them), and one more runs everything else. Several API processes are
safe because every append is optimistic (shared/commands.py: a conflict is decided again
on the stored stream); the relay stays one process, since two relays could publish a
stream's commits out of order, and the projectors stay with it, one consumer group member
per projection.
"""

from __future__ import annotations

from deploy import registry


def argvs(service: str, port: int, api_processes: int, python: str) -> list[list[str]]:
    """The command lines of the service's processes, the first one serving the API."""
    base = [python, "-m", f"services.{service}"]
    if api_processes <= 1:
        return [[*base, "--port", str(port)]]
    rest = [c for c in registry.definition(service).components if c != "api"]
    api = [*base, "--components", "api", "--port", str(port), "--reuse-port"]
    return [*([api] * api_processes), [*base, "--components", ",".join(rest)]]
