"""Settings for ``pytest --nbval notebooks/`` (nbval starts one kernel per notebook).

The kernels inherit this process's environment, so this makes them import
vfiolab from this checkout even where it is not pip-installed, keeps
Jupyter's, IPython's and matplotlib's side files inside the checkout (as the
Makefile does), and drops an inherited ``MPLBACKEND`` (the notebooks use the
inline backend; ``vfiolab.course.helpers.setup()`` also insists on it).
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ.pop("MPLBACKEND", None)
    home = ROOT / ".home"
    for var, sub in (("JUPYTER_CONFIG_DIR", "jupyter_config"), ("JUPYTER_DATA_DIR", "jupyter_data"),
                     ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl")):
        os.environ.setdefault(var, str(home / sub))
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
