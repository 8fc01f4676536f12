"""Start the Dagster UI for workspace.yaml (`make ui`), on the warehouse's own run history
(DAGSTER_HOME, by default beside the warehouse: nextsale.config).

A shell that starts `dagster dev` in the background passes on ignored SIGINT/SIGTERM, and the
server then never stops; restoring the default handlers before exec makes one TERM stop it.
"""

import os
import signal
import sys
from pathlib import Path

from nextsale.config import Settings


def main(argv: list[str]) -> None:
    port = argv[0] if argv else "3000"
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    Settings.from_env().export_dagster_home()
    dagster = str(Path(sys.executable).parent / "dagster")
    os.execv(dagster, [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main(sys.argv[1:])
