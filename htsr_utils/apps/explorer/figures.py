"""Plotly figures of the explorer and the numbers they draw (histogram edges, model curves).

Each ``*_figure`` function builds an empty :class:`plotly.graph_objects.FigureWidget` with
named traces; each ``draw_*`` function fills them in one batch update.  Machine-readable
values of a trace (e.g. the power law's alpha and xmin) are in its ``meta``; what a figure
shows (model, convention, matrix: an :data:`About`) is in its ``layout.meta`` and, for the
reader, in its subtitle.
"""

from __future__ import annotations

import copy
import html
from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ...engine.powerlaw_fit import PowerLawFit
from ...engine.random_matrix import marchenko_pastur_pdf, mp_edge
from ...paper.figures import EIGENVALUE_LABEL, histogram_edges

#: Figure size in pixels (two side by side fit a JupyterLab notebook on a 1600-pixel-wide screen).
WIDTH, HEIGHT = 540, 440
_BLUE, _ORANGE, _GREEN, _RED, _PURPLE, _GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#7f7f7f"

#: What a figure shows, kept in its ``layout.meta``: ``{"source": model label, "convention":
#: name, "matrix": matrix name}`` (keys left out where they do not apply), or None for nothing.
About = dict | None


def power_law_counts(edges: np.ndarray, fit: PowerLawFit | dict) -> np.ndarray:
    """Expected count per bin of the fitted power law (``n_tail`` values from ``xmin`` to ``xmax``).

    ``fit`` has ``alpha``, ``xmin``, ``xmax`` and ``n_tail``.  Bins below ``xmin`` get 0;
    the CDF is the power law's, truncated to ``[xmin, xmax]`` when ``xmax`` is finite.
    """
    get = fit.get if isinstance(fit, dict) else lambda k: getattr(fit, k)
    alpha, xmin, xmax, n_tail = float(get("alpha")), float(get("xmin")), float(get("xmax")), int(get("n_tail"))
    x = np.clip(edges, xmin, xmax)
    survival = (x / xmin) ** (1.0 - alpha)  # P(X > x) of the untruncated law
    if np.isfinite(xmax):
        floor = (xmax / xmin) ** (1.0 - alpha)
        survival = (survival - floor) / (1.0 - floor)
    return n_tail * (survival[:-1] - survival[1:])


def mp_counts(edges: np.ndarray, n: int, rows: int, cols: int, entry_variance: float) -> np.ndarray:
    """Expected count per bin of ``n`` eigenvalues of ``W^T W`` for an i.i.d. ``rows x cols`` matrix."""
    sub = np.linspace(edges[:-1], edges[1:], 17)  # 16 trapezoids per bin
    pdf = marchenko_pastur_pdf(sub, cols / rows, entry_variance * rows)
    return n * np.trapezoid(pdf, sub, axis=0)


def _figure(title: str, xtitle: str, ytitle: str, traces: list, **layout) -> go.FigureWidget:
    fig = go.FigureWidget(data=traces)
    fig.update_layout(title=dict(text=title, font_size=14, subtitle_font_size=11), width=WIDTH, height=HEIGHT,
                      margin=dict(l=60, r=20, t=60, b=40),
                      legend=dict(font_size=10, orientation="h", yanchor="top", y=-0.17, x=0),
                      xaxis_title=xtitle, yaxis_title=ytitle, **layout)
    return fig


def set_heading(fig: go.FigureWidget, title: str, about: About) -> None:
    """Title ``title``; subtitle the model and convention of ``about``, which goes to ``layout.meta``.

    Plotly reads titles as HTML: names are escaped (a matrix named ``<root>`` shows as such).
    """
    fig.layout.title.text = html.escape(title, quote=False)
    parts = [about[key] for key in ("source", "convention") if about and about.get(key)]
    fig.layout.title.subtitle.text = html.escape(", ".join(parts), quote=False)
    fig.layout.meta = about


def sync_for_display(figs: Iterable[go.FigureWidget]) -> None:
    """Make what each figure holds now the state its browser views start from.

    A FigureWidget's browser model applies edits only once its code has loaded, which takes
    a moment after the figure is made; plotly puts the figure's current data and layout into
    that state (``_widget_data``, ``_widget_layout``) only when the figure itself is displayed.
    An app displaying figures inside a box calls this when it is displayed, so that figures
    drawn right after they were made (an app opened from memory) do not show up empty.
    """
    for fig in figs:
        fig._widget_layout = copy.deepcopy(fig._layout_obj._props)
        fig._widget_data = copy.deepcopy(fig._data)


# --------------------------------------------------------------------------- model overview


def overview_figure() -> go.FigureWidget:
    """alpha (left axis) and lambda_max (right axis, log) of each matrix against layer depth."""
    return _figure(
        "", "layer depth (index of the analyzed layer)", "fitted exponent α",
        [go.Scatter(name="α", mode="markers", marker=dict(color=_BLUE, size=7)),
         go.Scatter(name="λ_max", mode="markers", yaxis="y2", marker=dict(color=_ORANGE, size=5, symbol="diamond")),
         go.Scatter(name="selected", mode="markers", showlegend=False, hoverinfo="skip",
                    marker=dict(size=15, color="rgba(0,0,0,0)", line=dict(color=_RED, width=2)))],
        yaxis2=dict(title="λ_max (largest eigenvalue)", overlaying="y", side="right", type="log",
                    tickformat=".3g"),
        clickmode="event")


def _hover(details: pd.DataFrame, names: list[str]) -> list[str]:
    return [f"{html.escape(name, quote=False)}<br>α={r.alpha:.3f} D={r.D:.3f} λ_max={r.lambda_max:.4g} {r.status}"
            for name, r in zip(names, details.itertuples())]


def draw_overview(fig: go.FigureWidget, details: pd.DataFrame, names: list[str], selected: int,
                  about: About) -> None:
    """Fill the overview with one point per matrix (``customdata`` = row number, ``names`` in the hover)."""
    rows = np.arange(len(details))
    depth = details["layer_index"].to_numpy()
    with fig.batch_update():
        fig.data[0].update(x=depth, y=details["alpha"].to_numpy(), customdata=rows,
                           text=_hover(details, names), hoverinfo="text", visible=True)
        fig.data[1].update(x=depth, y=details["lambda_max"].to_numpy(), customdata=rows,
                           text=_hover(details, names), hoverinfo="text", visible=True)
        mark_selected(fig, details, selected, about)


def mark_selected(fig: go.FigureWidget, details: pd.DataFrame, row: int, about: About) -> None:
    """Ring the selected matrix's α point; where it has no α, its λ_max point; with neither, none."""
    alpha, lambda_max = float(details.at[row, "alpha"]), float(details.at[row, "lambda_max"])
    x = [details.at[row, "layer_index"]]
    ring = fig.data[2]
    if np.isfinite(alpha):
        ring.update(x=x, y=[alpha], yaxis="y", visible=True)
    elif lambda_max > 0:
        ring.update(x=x, y=[lambda_max], yaxis="y2", visible=True)
    else:
        ring.update(x=[], y=[], visible=False)
    set_heading(fig, f"{len(details)} matrices; selected: {about['matrix']}", about)


# --------------------------------------------------------------------------- ESD


def esd_figure() -> go.FigureWidget:
    """Histogram of the fitted eigenvalues, overlays, fitted power law and vertical markers."""
    def bars(name: str, color: str, opacity: float) -> go.Bar:
        return go.Bar(name=name, marker=dict(color=color, line_width=0), opacity=opacity, visible=False)

    def line(name: str, color: str, dash: str = "solid", width: float = 2) -> go.Scatter:
        return go.Scatter(name=name, mode="lines", line=dict(color=color, dash=dash, width=width),
                          visible=False)

    return _figure("", EIGENVALUE_LABEL, "number of eigenvalues per bin", [
        bars("ESD", _BLUE, 0.75),
        bars("entries permuted", _GREY, 0.45),
        bars("random init", _GREEN, 0.45),
        line("power law", _RED),
        line("Marchenko-Pastur", _PURPLE, "dot"),
        line("xmin", _RED, "dash", 1.5),
        line("λ_max", "black", "dash", 1.5),
        line("MP edge", _PURPLE, "dash", 1.5),
        line("power law, xmin by hand", _ORANGE, "dashdot"),
    ], barmode="overlay", bargap=0)


#: Key of each trace of :func:`esd_figure`, in order.
ESD_TRACES = ("esd", "permuted", "random_init", "power_law", "mp", "xmin", "lambda_max", "mp_edge", "hand")


def trace(fig: go.FigureWidget, key: str):
    """The ESD figure's trace ``key`` (one of :data:`ESD_TRACES`)."""
    return fig.data[ESD_TRACES.index(key)]


def draw_esd(fig: go.FigureWidget, title: str, fitted: np.ndarray, row: pd.Series, *, log: bool,
             overlays: dict[str, np.ndarray], mp: tuple[int, int, float] | None,
             hand_fit: dict | None, about: About) -> None:
    """Draw one matrix's ESD (bin edges in the ESD trace's ``customdata``).

    Parameters
    ----------
    title : str
        Figure title; ``about`` (model, convention, matrix) gives its subtitle and ``layout.meta``.
    fitted : ndarray
        The eigenvalues the fit saw (every one is counted).
    row : Series
        Its :func:`htsr_utils.analyze` row (alpha, xmin, xmax, n_tail, lambda_max, status).
    log : bool
        Log-log axes and log-spaced bins; else linear.
    overlays : dict
        ``{"permuted": evals, "random_init": evals}`` (trace key: eigenvalues), those to show.
    mp : (N, M, entry variance) or None
        Draw the Marchenko-Pastur density and edge of an i.i.d. matrix of that shape and variance.
    hand_fit : dict or None
        ``alpha, xmin, xmax, n_tail`` of a fit with ``xmin`` chosen by hand.
    """
    shown = [fitted, *overlays.values()]
    lo = min(float(v.min()) for v in shown if v.size)
    hi = max(float(v.max()) for v in shown if v.size)
    edges = histogram_edges(lo, hi, log=log)
    centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    counts, _ = np.histogram(fitted, edges)
    top = max(counts.max(), 1)
    ok = row["status"] == "ok"
    updates: dict[str, dict] = {"esd": dict(
        x=centers, y=counts, width=widths, name=f"ESD ({fitted.size} eigenvalues)", meta={"n": int(fitted.size)},
        hovertemplate="[%{customdata[0]:.4g}, %{customdata[1]:.4g}]: %{y}<extra>ESD</extra>",
        customdata=np.column_stack([edges[:-1], edges[1:]]))}
    for key, evals in overlays.items():
        updates[key] = dict(x=centers, y=np.histogram(evals, edges)[0], width=widths)
    if ok:
        pl = power_law_counts(edges, row.to_dict())
        updates["power_law"] = dict(x=centers[pl > 0], y=pl[pl > 0],
                                    name=f"power law α = {row['alpha']:.3f} from xmin = {row['xmin']:.4g}",
                                    meta={"alpha": float(row["alpha"]), "xmin": float(row["xmin"])})
        updates["xmin"] = _vline(row["xmin"], top, f"xmin = {row['xmin']:.4g}", log)
    updates["lambda_max"] = _vline(row["lambda_max"], top, f"λ_max = {row['lambda_max']:.4g}", log)
    if mp is not None:
        n_rows, n_cols, variance = mp
        expected = mp_counts(edges, fitted.size, n_rows, n_cols, variance)
        if (expected > 1e-3).any():
            updates["mp"] = dict(x=centers[expected > 1e-3], y=expected[expected > 1e-3],
                                 name="Marchenko-Pastur (i.i.d., same shape and variance)")
        edge = mp_edge(n_rows, n_cols, variance)
        updates["mp_edge"] = _vline(edge, top, f"MP edge = {edge:.4g}", log)
    if hand_fit is not None and ok:
        pl = power_law_counts(edges, hand_fit)
        updates["hand"] = dict(x=centers[pl > 0], y=pl[pl > 0],
                               name=f"xmin by hand = {hand_fit['xmin']:.4g}: α = {hand_fit['alpha']:.3f}",
                               meta={"alpha": float(hand_fit["alpha"]), "xmin": float(hand_fit["xmin"])})
    kind = "log" if log else "linear"
    # One assignment per property and trace: plotly's batch_update drops a property set twice.
    with fig.batch_update():
        for key in ESD_TRACES:
            trace(fig, key).update(visible=key in updates, **updates.get(key, {}))
        fig.update_xaxes(type=kind, autorange=True)
        # Log axis ranges are in decades; from half a count to above the tallest bar.
        fig.update_yaxes(type=kind, range=[np.log10(0.5), np.log10(top * 3.0)] if log else [0, top * 1.1])
        set_heading(fig, title, about)


def clear(fig: go.FigureWidget, title: str, about: About = None) -> None:
    """Empty and hide every trace of a figure (so the legend names none) and set its heading,
    e.g. to say why nothing is drawn."""
    with fig.batch_update():
        for t in fig.data:
            t.update(x=[], y=[], visible=False)
        set_heading(fig, title, about)


def _vline(x: float, top: float, name: str, log: bool) -> dict:
    """Trace properties of a vertical segment at ``x`` from the axis bottom to above the tallest bar."""
    return dict(x=[x, x], y=[0.5, top * 2.0] if log else [0, top * 1.05], name=name, meta={"x": float(x)})


# --------------------------------------------------------------------------- fit diagnostics


def diagnostics_figure() -> go.FigureWidget:
    """KS distance D (left) and alpha (right) against the candidate xmin."""
    return _figure(
        "", f"candidate xmin ({EIGENVALUE_LABEL})", "KS distance D",
        [go.Scatter(name="D", mode="lines+markers", marker_size=3, line=dict(color=_BLUE)),
         go.Scatter(name="α", mode="lines", yaxis="y2", line=dict(color=_GREEN)),
         go.Scatter(name="chosen xmin", mode="markers", marker=dict(color=_RED, size=11, symbol="x")),
         go.Scatter(name="xmin by hand", mode="markers", marker=dict(color=_ORANGE, size=11, symbol="circle-open",
                                                                     line_width=2))],
        xaxis_type="log", yaxis2=dict(title="fitted exponent α", overlaying="y", side="right"))


def draw_diagnostics(fig: go.FigureWidget, title: str, fit: PowerLawFit, about: About) -> None:
    """Every candidate's D and alpha; the chosen xmin marked."""
    c = fit.candidates
    finite = c["alpha"][np.isfinite(c["alpha"])]
    top = min(float(np.percentile(finite, 95)) + 1.0, 20.0) if finite.size else 10.0
    with fig.batch_update():
        fig.data[0].update(x=c["xmin"], y=c["D"], visible=True)
        fig.data[1].update(x=c["xmin"], y=c["alpha"], visible=True)
        fig.data[2].update(x=[fit.xmin], y=[fit.D], meta={"xmin": fit.xmin, "alpha": fit.alpha, "D": fit.D},
                           visible=True)
        fig.layout.yaxis2.range = [max(0.0, float(finite.min()) - 0.5) if finite.size else 0, top]
        set_heading(fig, title, about)


def mark_hand_xmin(fig: go.FigureWidget, xmin: float, D: float) -> None:
    """Mark the xmin chosen with the slider."""
    fig.data[3].update(x=[xmin], y=[D], visible=True)


# --------------------------------------------------------------------------- compare


def compare_figure() -> go.FigureWidget:
    """alpha against relative depth for two models."""
    return _figure("", "relative depth (layer index / last layer index)", "fitted exponent α",
                   [go.Scatter(mode="markers", marker=dict(color=_BLUE, size=7)),
                    go.Scatter(mode="markers", marker=dict(color=_ORANGE, size=7, symbol="diamond"))])


def draw_compare(fig: go.FigureWidget, labeled: list[tuple[str, pd.DataFrame, list[str]]], convention: str) -> None:
    """One trace per model, ``(label, details, matrix names)`` each (at most two); the trace name is the label."""
    with fig.batch_update():
        for i, t in enumerate(fig.data):
            if i >= len(labeled):
                t.update(x=[], y=[], visible=False)
                continue
            label, details, names = labeled[i]
            depth = details["layer_index"].to_numpy(dtype=float)
            t.update(x=depth / max(depth.max(), 1.0), y=details["alpha"].to_numpy(), name=label,
                     text=_hover(details, names), hoverinfo="text", visible=True)
        set_heading(fig, " vs ".join(label for label, _, _ in labeled),
                    {"sources": [label for label, _, _ in labeled], "convention": convention})
