"""Interactive ESD explorer for JupyterLab: :func:`explore`, and :func:`explore_run` for a
checkpoint series.

Modules: :mod:`.sources` (where weights come from), :mod:`.analysis` (analyses kept in
memory), :mod:`.figures` (plotly views), :mod:`.app` (the widget); for a series
:mod:`.series_data` (a run in memory), :mod:`.series_figures` and :mod:`.series` (its widget).
They are imported when :func:`explore` is first called, so ``import htsr_utils`` stays as fast
as without them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...experiments.training import TrainConfig
    from .app import Explorer
    from .series import SeriesExplorer
    from .sources import Source

__all__ = ["explore", "explore_run"]


def explore(
    model: "Source | str | os.PathLike | TrainConfig" = "resnet18",
    weights: str = "random",
    convention: str | None = None,
    *,
    compare: "Source | str | os.PathLike | TrainConfig | None" = None,
    compare_weights: str = "random",
) -> "Explorer | SeriesExplorer":
    """Open the interactive ESD explorer on a model, or its series view on a checkpoint series.

    Parameters
    ----------
    model : str, path, TrainConfig or Source, default "resnet18"
        A zoo name (:func:`htsr_utils.models.registry.list_models`, e.g. ``"minilm-l6"``), a ``.pth`` /
        ``.safetensors`` checkpoint or a Hugging Face checkpoint folder, or a
        :class:`~htsr_utils.experiments.training.TrainConfig` (an MLP of notebook 09, a CNN;
        trained now if not cached); see :mod:`htsr_utils.apps.explorer.sources`.  A recorded
        run (a folder with ``run.json``, :mod:`htsr_utils.experiments.recording`) or a folder
        of checkpoints (``checkpoint-N/`` folders or weight files numbered by step, also next
        to a final model) opens the series view instead, as :func:`explore_run`.
    weights : {"random", "pretrained"}
        Weights of a zoo model.
    convention : str, optional
        ``"sdm2020"`` (default), ``"natcomm2021"``, ``"ww"`` or ``"paper_text"``; a recorded
        run is shown under the convention it was recorded under.
    compare, compare_weights : optional
        A second model shown side by side, in the same forms (not for a series: compare two
        of its steps in the series view).

    Returns
    -------
    Explorer or SeriesExplorer
        An ipywidgets VBox; display it (last expression of a cell).  A model that cannot
        be loaded or analyzed gives a message inside the app (and the other model is shown
        without it).
    """
    from ...engine.conventions import get_convention
    from .app import Explorer
    from .series_data import series_kind
    from .sources import Source, as_source

    if convention is not None:
        get_convention(convention)  # ValueError naming the known conventions, before any work
    if not isinstance(model, Source) and isinstance(model, (str, os.PathLike)) and series_kind(model):
        if compare is not None:
            raise ValueError("compare: a series view compares two steps of its run, not a second model")
        return explore_run(model, convention)
    convention = convention or "sdm2020"
    app = Explorer()
    app.convention.value = convention
    app.load_models(lambda: as_source(model, weights),
                    None if compare is None else lambda: as_source(compare, compare_weights))
    return app


def explore_run(path: str | os.PathLike, convention: str | None = None) -> "SeriesExplorer":
    """Open the checkpoint-series view on a recorded run or a folder of checkpoints.

    Parameters
    ----------
    path : str or PathLike
        A run written by :mod:`htsr_utils.experiments.recording` (a folder with ``run.json``),
        or a folder of checkpoints (``checkpoint-N/`` folders as the Hugging Face Trainer
        writes them, or ``.pt`` / ``.safetensors`` files numbered by step), analyzed now by
        :func:`htsr_utils.experiments.checkpoint_series.checkpoint_series` (a progress bar
        shows meanwhile).
    convention : str, optional
        The convention checkpoints are analyzed under (default ``"sdm2020"``); a recorded run
        is shown under its own, and another one gives a message in the app.

    Returns
    -------
    SeriesExplorer
        An ipywidgets VBox; display it.  A folder that is not a series, or a run that cannot
        be read, gives a message inside the app.
    """
    from .series import SeriesExplorer

    app = SeriesExplorer()
    app.open_run(path, convention)
    return app
