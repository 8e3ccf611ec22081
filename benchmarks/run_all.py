"""Run every benchmark in this folder and print its figures (--json: one JSON object per line)."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
rc = 0
for script in sorted(here.glob("*.py")):
    if script.name == "run_all.py":
        continue
    rc |= subprocess.call([sys.executable, str(script)] + sys.argv[1:])
sys.exit(rc)
