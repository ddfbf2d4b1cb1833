"""``python -m session_service``: the same command line as the ``session-service`` script.

Useful where the console script is not on ``PATH`` (a container's venv, ``pipx run``).
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
