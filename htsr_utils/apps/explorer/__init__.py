"""Interactive ESD explorer for JupyterLab: :func:`explore`.

Modules: :mod:`.sources` (where weights come from), :mod:`.analysis` (analyses kept in
memory), :mod:`.figures` (plotly views), :mod:`.app` (the widget).  They are imported when
:func:`explore` is first called, so ``import htsr_utils`` stays as fast as without them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...experiments.training import TrainConfig
    from .app import Explorer
    from .sources import Source

__all__ = ["explore"]


def explore(
    model: "Source | str | os.PathLike | TrainConfig" = "resnet18",
    weights: str = "random",
    convention: str = "sdm2020",
    *,
    compare: "Source | str | os.PathLike | TrainConfig | None" = None,
    compare_weights: str = "random",
) -> "Explorer":
    """Open the interactive ESD explorer on a model.

    Parameters
    ----------
    model : str, path, TrainConfig or Source, default "resnet18"
        A zoo name (:func:`htsr_utils.models.registry.list_models`, e.g. ``"minilm-l6"``), a ``.pth`` /
        ``.safetensors`` checkpoint or a Hugging Face checkpoint folder, or a
        :class:`~htsr_utils.experiments.training.TrainConfig` (an MLP of notebook 09, a CNN;
        trained now if not cached); see :mod:`htsr_utils.apps.explorer.sources`.
    weights : {"random", "pretrained"}
        Weights of a zoo model.
    convention : str
        ``"sdm2020"``, ``"natcomm2021"``, ``"ww"`` or ``"paper_text"``.
    compare, compare_weights : optional
        A second model shown side by side, in the same forms.

    Returns
    -------
    Explorer
        An ipywidgets VBox; display it (last expression of a cell).  A model that cannot
        be loaded or analyzed gives a message inside the app (and the other model is shown
        without it).
    """
    from ...engine.conventions import get_convention
    from .app import Explorer
    from .sources import as_source

    get_convention(convention)  # ValueError naming the known conventions, before any work
    app = Explorer()
    app.convention.value = convention
    app.load_models(lambda: as_source(model, weights),
                    None if compare is None else lambda: as_source(compare, compare_weights))
    return app
