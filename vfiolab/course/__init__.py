"""The notebooks' helpers: the course layer, above ``widgets``.

``helpers``    what every chapter uses: set-up, tables, predicting a VM, config-space
               arithmetic, the story's tables; re-exported here, so a notebook writes
               ``from vfiolab import course`` and calls ``course.predict_vm(...)``
``lessons``    the larger worked steps of chapters 04-07
``exercises``  seeded exercises with worked self-checks
``static``     kernel-free views for static HTML (precomputed, switched in the browser)

Nothing below this layer imports it.
"""

from . import helpers
from .helpers import *  # noqa: F401,F403  (the chapter helpers, by their public names)
from .helpers import __all__  # noqa: F401


def __getattr__(name: str):
    # the helpers' constants the chapters read too (course.MAPPING_OPS, ...)
    try:
        return getattr(helpers, name)
    except AttributeError:
        raise AttributeError(f"module 'vfiolab.course' has no attribute {name!r}") from None
