"""Start the Dagster UI for workspace.yaml (`make ui`).

A shell that starts `dagster dev` in the background passes on ignored SIGINT/SIGTERM, and the
server then never stops; restoring the default handlers before exec makes one TERM stop it.
"""

import os
import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    port = argv[0] if argv else "3000"
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    dagster = str(Path(sys.executable).parent / "dagster")
    os.execv(dagster, [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main(sys.argv[1:])
