"""Tools to look at runs: learning curves (:mod:`~apexrl.viz.curves`), aggregate scores
(:mod:`~apexrl.viz.scores`), videos (:mod:`~apexrl.viz.video`) and network views
(:mod:`~apexrl.viz.inspect`), behind the commands ``apexrl plot``, ``score``, ``video`` and
``inspect``.

Their libraries (matplotlib, rliable, imageio with ffmpeg, scikit-learn) are the ``viz`` extra,
``pip install -e '.[viz]'``; they are imported only when a tool runs (:func:`require`), so the core
install works without them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = "pip install -e '.[viz]'"
"""How to install the viz extra, quoted in the error of :func:`require`."""


class MissingVizDependency(ImportError):
    """A library of the ``viz`` extra is not installed; the message says what needs it and how to
    install it."""


def require(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` (``"matplotlib"``, ``"rliable.library"``, ``"imageio"``, ``"sklearn.manifold"``).

    Raises:
        MissingVizDependency: it cannot be imported; the message names ``needed_for`` (for
            example ``"apexrl plot"``) and :data:`INSTALL_HINT`.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingVizDependency(f"{needed_for} needs {module.split('.')[0]}, which is not installed ({exc}); "
                                   f"install the viz extra: {INSTALL_HINT}") from exc


def pyplot(needed_for: str) -> ModuleType:
    """``matplotlib.pyplot`` with the non-interactive Agg backend (files only, no display).

    Raises:
        MissingVizDependency: matplotlib is not installed.
    """
    matplotlib = require("matplotlib", needed_for)
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")
