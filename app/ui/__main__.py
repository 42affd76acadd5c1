"""``python -m app.ui [--port P] [--host H]``: run the Streamlit app headless (what ``make app`` calls).

``HOST`` (127.0.0.1) and ``APP_PORT`` (8501) are the defaults; ``API_URL`` makes the app a client of a
running inference API instead of loading the models in its own process.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ENTRY = Path(__file__).resolve().parent / "main.py"


def command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(ENTRY), "--server.headless", "true",
            "--server.address", host, "--server.port", str(port), "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.ui", description="Run the AIaaS Academy Streamlit app.")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("APP_PORT", 8501)))
    args = p.parse_args(argv)
    cmd = command(args.host, args.port)
    print(f"Streamlit app on http://{args.host}:{args.port}"
          + (f" (API {os.environ['API_URL']})" if os.environ.get("API_URL") else " (models in process)"), flush=True)
    os.execv(cmd[0], cmd)      # become streamlit: signals (Ctrl-C, terminate) reach it directly


if __name__ == "__main__":
    sys.exit(main())
