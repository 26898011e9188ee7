"""Plotly figures of the checkpoint-series view: metric heatmap, averages and training curve,
ESDs of one matrix at two steps, per-matrix change between two steps.

As in :mod:`.figures`, each ``*_figure`` function builds an empty
:class:`plotly.graph_objects.FigureWidget` with named traces and each ``draw_*`` function
fills them in one batch update; what a figure shows is in its ``layout.meta``
(:data:`.figures.About`, with a ``"step"`` or ``"steps"`` key) and in its subtitle.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...paper.figures import EIGENVALUE_LABEL, histogram_edges
from .figures import HEIGHT, WIDTH, About, clear, power_law_counts, set_heading

#: Per-matrix metrics the heatmap offers, in this order where the run has them: column -> label.
MATRIX_METRICS = {
    "alpha": "α (power-law exponent, CSN fit)",
    "alpha_hill": "α (Hill estimator)",
    "lambda_max": "λ_max (largest eigenvalue)",
    "log_norm": "log norm (log10 of the Frobenius norm)",
    "alpha_weighted": "α log10 λ_max (weighted α)",
}
#: Labels of per-model averages (other columns are shown by name).
AVERAGE_LABELS = {
    "alpha_hat": "α̂ (mean of α log10 λ_max)",
    "alpha_hat_star": "α̂* (α̂ without the last layer)",
    "alpha_mean": "mean α (CSN fit)",
    "alpha_hill_mean": "mean α (Hill estimator)",
    "log_norm": "mean log norm",
    "log_spectral_norm": "mean log10 λ_max",
    "log_alpha_norm": "mean log10 Σ λ^α",
}
STEP_LABEL = "training step (optimizer steps)"
#: Left margin (pixels) of the figures labelled by matrix name.
LABEL_MARGIN = 140
#: Pixels per heatmap row, and the heatmap's largest height.
ROW_PIXELS, MAX_HEIGHT = 16, 900
_BLUE, _ORANGE, _RED, _GREEN, _GREY = "#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#7f7f7f"
_CURVE_COLORS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def metric_label(column: str) -> str:
    """Axis label of a per-matrix metric or a per-model average."""
    return MATRIX_METRICS.get(column) or AVERAGE_LABELS.get(column) or column


def _layout(fig: go.FigureWidget, xtitle: str, ytitle: str, **layout) -> go.FigureWidget:
    fig.update_layout({"title": dict(text="", font_size=14, subtitle_font_size=11), "width": WIDTH,
                       "height": HEIGHT, "margin": dict(l=60, r=20, t=60, b=40),
                       "legend": dict(font_size=10, orientation="h", yanchor="top", y=-0.17, x=0)} | layout)
    fig.update_xaxes(title_text=xtitle)
    fig.update_yaxes(title_text=ytitle)
    return fig


# --------------------------------------------------------------------------- heatmap


def heatmap_figure() -> go.FigureWidget:
    """Matrices (rows, in model order from the top) against steps (columns); the selected cell ringed."""
    fig = go.FigureWidget(data=[
        go.Heatmap(name="metric", colorscale="Viridis", hoverongaps=False, xgap=1, ygap=1,
                   colorbar=dict(title=dict(side="right"), thickness=12)),
        go.Scatter(name="selected", mode="markers", showlegend=False, hoverinfo="skip",
                   marker=dict(symbol="square-open", size=14, color=_RED, line_width=2)),
    ])
    return _layout(fig, STEP_LABEL, "", width=WIDTH + 60, margin=dict(l=LABEL_MARGIN, r=20, t=60, b=50),
                   xaxis=dict(type="category"), yaxis=dict(type="category", autorange="reversed", tickfont_size=9),
                   clickmode="event")


def draw_heatmap(fig: go.FigureWidget, table: pd.DataFrame, status: pd.DataFrame, metric: str,
                 about: About) -> None:
    """Fill the heatmap with ``table`` (matrices x steps) of ``metric``; ``status`` (same shape)
    names each cell's fit status in its hover.  A cell without a value (a matrix not fitted at
    that step) stays blank; its hover is the status."""
    steps = [str(s) for s in table.columns]
    z = table.to_numpy(dtype=float)
    # Blank cells as None: plotly sends a 2-D array as JSON, where NaN is not valid.
    cells = [[float(v) if np.isfinite(v) else None for v in z_row] for z_row in z]
    names = [html.escape(str(m), quote=False) for m in table.index]
    text = [[f"{name}<br>step {step}<br>{metric} = {value:.4g}" if np.isfinite(value) else
             f"{name}<br>step {step}<br>no {metric} ({status_cell})"
             for step, value, status_cell in zip(steps, z_row, s_row)]
            for name, z_row, s_row in zip(names, z, status.to_numpy())]
    height = min(MAX_HEIGHT, max(HEIGHT, 130 + ROW_PIXELS * len(names)))
    with fig.batch_update():
        fig.data[0].update(z=cells, x=steps, y=list(table.index), text=text, hoverinfo="text", visible=True,
                           colorbar_title_text=metric_label(metric), meta={"metric": metric})
        fig.layout.height = height
        fig.layout.meta = about


def mark_cell(fig: go.FigureWidget, step: int, matrix: str, metric: str, about: About) -> None:
    """Ring the cell of ``matrix`` at ``step``; the title names both."""
    with fig.batch_update():
        fig.data[1].update(x=[str(step)], y=[matrix], visible=True)
        set_heading(fig, f"{metric_label(metric)}; selected: {matrix} at step {step}", about)


# --------------------------------------------------------------------------- averages and curve


def averages_figure() -> go.FigureWidget:
    """Top: a per-model average against step.  Bottom: the recorded training curve (losses on
    the left axis, other scalars such as accuracies on the right axis)."""
    fig = go.FigureWidget(make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                                        specs=[[{}], [{"secondary_y": True}]], row_heights=[0.55, 0.45]))
    fig.add_scatter(name="average", mode="lines+markers", marker=dict(color=_BLUE, size=6), row=1, col=1)
    fig.update_layout(title=dict(text="", font_size=14, subtitle_font_size=11), width=WIDTH, height=HEIGHT + 60,
                      margin=dict(l=60, r=70, t=60, b=40),
                      legend=dict(font_size=10, orientation="h", yanchor="top", y=-0.12, x=0))
    fig.update_xaxes(title_text=STEP_LABEL, row=2, col=1)
    return fig


def _is_loss(column: str) -> bool:
    return "loss" in column.lower()


def draw_averages(fig: go.FigureWidget, averages: pd.DataFrame, average: str, curve_columns: list[str],
                  steps: tuple[int, int | None], about: About) -> None:
    """Draw ``average`` and every column of ``curve_columns`` of ``averages`` (one row per step);
    the shown steps (selected, compared) as vertical lines.  Without a curve the bottom panel says so."""
    x = averages["step"].to_numpy()
    losses = [c for c in curve_columns if _is_loss(c)]
    others = [c for c in curve_columns if not _is_loss(c)]
    with fig.batch_update():
        fig.data = fig.data[:1]
        fig.data[0].update(x=x, y=averages[average].to_numpy(dtype=float), name=metric_label(average),
                           meta={"column": average}, visible=True)
        for i, column in enumerate(losses + others):
            fig.add_scatter(x=x, y=averages[column].to_numpy(dtype=float), name=column, mode="lines+markers",
                            marker=dict(size=5, color=_CURVE_COLORS[i % len(_CURVE_COLORS)]),
                            meta={"column": column}, row=2, col=1, secondary_y=column in others)
        fig.update_yaxes(title_text=metric_label(average), row=1, col=1)
        fig.update_yaxes(title_text=", ".join(losses) if losses else "", row=2, col=1, secondary_y=False)
        fig.update_yaxes(title_text=", ".join(others) if others else "", row=2, col=1, secondary_y=True)
        fig.layout.annotations = [] if curve_columns else [dict(
            text="no training curve recorded", xref="x2 domain", yref="y2 domain", x=0.5, y=0.5,
            showarrow=False, font=dict(color=_GREY, size=13))]
        mark_steps(fig, steps)
        set_heading(fig, f"per-model {metric_label(average)}"
                    + (" and training curve" if curve_columns else "") + " against step", about)


def mark_steps(fig: go.FigureWidget, steps: tuple[int, int | None]) -> None:
    """Vertical lines over both panels at the selected step (solid) and the compared one (dashed)."""
    shown, compared = steps
    fig.layout.shapes = [dict(type="line", xref="x", yref="paper", x0=step, x1=step, y0=0, y1=1,
                              line=dict(color=color, width=1.5, dash=dash))
                         for step, color, dash in ((shown, _RED, "solid"), (compared, _ORANGE, "dash"))
                         if step is not None]


# --------------------------------------------------------------------------- two steps


def overlay_figure() -> go.FigureWidget:
    """One matrix's ESD at two steps on the same bins, each with its fitted power law."""
    fig = go.FigureWidget(data=[
        go.Bar(name="step A", marker=dict(color=_BLUE, line_width=0), opacity=0.55, visible=False),
        go.Bar(name="step B", marker=dict(color=_ORANGE, line_width=0), opacity=0.55, visible=False),
        go.Scatter(name="power law A", mode="lines", line=dict(color=_BLUE, width=2), visible=False),
        go.Scatter(name="power law B", mode="lines", line=dict(color=_ORANGE, width=2, dash="dash"), visible=False),
    ])
    return _layout(fig, EIGENVALUE_LABEL, "number of eigenvalues per bin", barmode="overlay", bargap=0)


def draw_overlay(fig: go.FigureWidget, title: str, shown: list[tuple[int, np.ndarray, pd.Series]],
                 about: About) -> None:
    """Histograms of ``(step, fitted eigenvalues, analyze row)`` (one or two) on shared log bins,
    each with its power law from its ``xmin`` where it was fitted.  Each bar trace's ``meta``
    holds its step and number of eigenvalues; a power law's, its alpha and xmin."""
    values = [fitted for _, fitted, _ in shown if fitted.size]
    if not values:
        clear_figure(fig, f"{title}: no eigenvalue to show", about)
        return
    edges = histogram_edges(min(float(v.min()) for v in values), max(float(v.max()) for v in values), log=True)
    centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    top = 1
    with fig.batch_update():
        for i in range(2):
            bars, law = fig.data[i], fig.data[2 + i]
            if i >= len(shown):
                bars.update(x=[], y=[], visible=False)
                law.update(x=[], y=[], visible=False)
                continue
            step, fitted, row = shown[i]
            counts = np.histogram(fitted, edges)[0]
            top = max(top, int(counts.max()) if counts.size else 1)
            bars.update(x=centers, y=counts, width=widths, visible=True,
                        name=f"step {step} ({fitted.size} eigenvalues)",
                        meta={"step": int(step), "n": int(fitted.size)},
                        customdata=np.column_stack([edges[:-1], edges[1:]]),
                        hovertemplate=f"step {step}: [%{{customdata[0]:.4g}}, %{{customdata[1]:.4g}}]: "
                                      "%{y}<extra></extra>")
            if row["status"] == "ok":
                pl = power_law_counts(edges, row.to_dict())
                law.update(x=centers[pl > 0], y=pl[pl > 0], visible=True,
                           name=f"step {step}: α = {row['alpha']:.3f} from xmin = {row['xmin']:.4g}",
                           meta={"step": int(step), "alpha": float(row["alpha"]), "xmin": float(row["xmin"])})
            else:
                law.update(x=[], y=[], visible=False)
        fig.update_xaxes(type="log", autorange=True)
        fig.update_yaxes(type="log", range=[np.log10(0.5), np.log10(top * 3.0)])
        set_heading(fig, title, about)


def change_figure() -> go.FigureWidget:
    """Per-matrix change of a metric between two steps (horizontal bars, matrices in model order)."""
    fig = go.FigureWidget(data=[go.Bar(name="change", orientation="h", marker=dict(color=_BLUE))])
    return _layout(fig, "", "", width=WIDTH + 60, margin=dict(l=LABEL_MARGIN, r=20, t=60, b=50), showlegend=False,
                   yaxis=dict(type="category", autorange="reversed", tickfont_size=9))


def draw_change(fig: go.FigureWidget, table: pd.DataFrame, metric: str, steps: tuple[int, int],
                about: About) -> None:
    """Bars ``table[b] - table[a]`` per matrix (``steps = (a, b)``); a matrix without the metric
    at one of the steps has no bar, and the title counts them."""
    a, b = steps
    change = (table[b] - table[a]).to_numpy(dtype=float)
    missing = int(np.count_nonzero(~np.isfinite(change)))
    names = list(table.index)
    colors = [_RED if value < 0 else _BLUE for value in np.nan_to_num(change)]
    with fig.batch_update():
        fig.data[0].update(x=change, y=names, marker_color=colors, meta={"metric": metric, "steps": [a, b]},
                           visible=True,
                           hovertext=[f"{html.escape(str(n), quote=False)}: {metric} {table.at[n, a]:.4g} → "
                                      f"{table.at[n, b]:.4g}" for n in names], hoverinfo="text")
        fig.layout.height = min(MAX_HEIGHT, max(HEIGHT, 130 + ROW_PIXELS * len(names)))
        fig.update_xaxes(title_text=f"change of {metric_label(metric)}, step {b} minus step {a}")
        note = f" ({missing} without a value at one of the steps)" if missing else ""
        set_heading(fig, f"{metric} at step {b} minus step {a}, per matrix{note}", about)


def clear_figure(fig: go.FigureWidget, title: str, about: About = None) -> None:
    """:func:`.figures.clear`, and no step lines."""
    clear(fig, title, about)
    fig.layout.shapes = []
