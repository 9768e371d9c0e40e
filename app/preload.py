"""Every heavy module the pages use, imported once per process by the first script run, before any page runs.

Streamlit runs each session's script on its own thread. When several first visits arrive at once, they used to
import Plotly, pandas and the figure modules side by side, and Plotly looks up pandas lazily (``sys.modules``): a
second thread could see a half-imported pandas ("partially initialized module 'pandas' has no attribute 'Series'") or
a half-imported ``app`` package ("cannot import name 'figures' from 'app'"). Importing this module first makes every
other thread wait on its import lock until all of them, and the figure template (``app.figures.common.TEMPLATE``),
are complete.
"""

import pandas  # noqa: F401  (first: Plotly's validators look it up lazily)
import plotly.graph_objects  # noqa: F401
import plotly.io  # noqa: F401

import app.components.dimensions  # noqa: F401
import app.components.exact  # noqa: F401
import app.components.lab  # noqa: F401
import app.components.large_l  # noqa: F401
import app.components.learned  # noqa: F401
import app.components.loading  # noqa: F401
import app.compute.dimensions  # noqa: F401
import app.compute.exact  # noqa: F401
import app.compute.lab  # noqa: F401
import app.compute.learned  # noqa: F401
import app.compute.loading  # noqa: F401
import app.exports  # noqa: F401
import app.figures.common  # noqa: F401
import app.figures.exact  # noqa: F401
import app.figures.learned  # noqa: F401
import app.ui  # noqa: F401
