"""`python -m services.workbench [--port N]`: the web workbench (工作台)."""

import argparse

import uvicorn

from services.workbench.service import create_app
from services.workbench.settings import WorkbenchSettings
from shared.http_client import SERVER_KEEP_ALIVE_S
from shared.logging import configure

parser = argparse.ArgumentParser(prog="python -m services.workbench")
parser.add_argument("--port", type=int, default=None)
args = parser.parse_args()
configure()
settings = WorkbenchSettings(**({"http_port": args.port} if args.port else {}))
uvicorn.run(
    create_app(settings),
    host=settings.http_host,
    port=settings.http_port,
    log_level="warning",
    access_log=False,
    timeout_keep_alive=SERVER_KEEP_ALIVE_S,
)
