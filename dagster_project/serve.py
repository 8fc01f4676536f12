"""Start the Dagster UI for workspace.yaml (`make ui`), on the warehouse's own run history
(DAGSTER_HOME, by default beside the warehouse: nextsale.config).

`dg dev` reads the project from pyproject.toml ([tool.dg]) and loads the code location with
this interpreter. A shell that starts it in the background passes on ignored SIGINT/SIGTERM, and the
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
    # dg warns when the venv it finds beside pyproject.toml is not the active one: it is.
    os.environ["VIRTUAL_ENV"] = sys.prefix
    dg = str(Path(sys.executable).parent / "dg")
    os.execv(dg, [dg, "dev", "--host", "127.0.0.1", "--port", port])


if __name__ == "__main__":
    main(sys.argv[1:])
