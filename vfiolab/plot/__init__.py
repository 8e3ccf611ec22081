"""Plots of vfiolab's views (matplotlib).

The second of three layers (views -> plot -> widgets): every helper takes a
matplotlib ``Axes`` and plain data from :mod:`vfiolab.views`, draws, and
returns its artists in an object with ``update(new_data)`` that changes the
same artists in place.  Nothing here imports pyplot at import time or
touches the global backend; :mod:`vfiolab.plot.style` holds the one style.
"""

from .lanes import AxisMap, LanesArtists, compress_axis, draw_lanes, lanes_figure
from .style import KIND_COLORS, apply_style, hex_formatter, kind_color, new_figure

__all__ = ["AxisMap", "LanesArtists", "compress_axis", "draw_lanes", "lanes_figure",
           "KIND_COLORS", "apply_style", "hex_formatter", "kind_color", "new_figure"]
