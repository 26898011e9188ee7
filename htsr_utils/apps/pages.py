"""An executed notebook as a web page that needs no network: its formulas as MathML.

nbconvert's HTML pages leave the LaTeX of markdown cells as text and load MathJax from a CDN
to typeset it, so offline a reader sees raw ``$\\hat\\alpha$``.  :class:`PageExporter`
converts every formula while the page is written, with latex2mathml, to MathML, which the
browsers render natively (Chromium since version 109, Firefox, Safari): the page loads no
script at all for its math.  The formulas are those of markdown cells (``$...$``, ``$$...$$``,
``\\(...\\)``, ``\\[...\\]``, ``\\begin{env}...\\end{env}``), of ``text/markdown`` outputs and of
``text/latex`` outputs (``IPython.display.Math``).  It also leaves out the ``require.js``
script nbconvert loads from a CDN, which no output of the compendium's notebooks uses.

A formula latex2mathml cannot convert (a syntax error, a command it does not know) is shown as
its LaTeX source in red, with the reason as its tooltip (what MathJax does with an error), in an
element of class :data:`UNRENDERED_CLASS`: the page is still written, and never shows LaTeX as if
it were rendered.  :func:`latex_to_mathml` itself raises :class:`MathConversionError`.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import jinja2
from latex2mathml.converter import convert
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

__all__ = ["UNRENDERED_CLASS", "MathConversionError", "PageExporter", "latex_to_mathml", "notebook_page"]

#: The page template: nbconvert's ``lab`` page without its CDN scripts, LaTeX outputs as MathML.
PAGE_TEMPLATE = "htsr_page.html.j2"
_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block data_latex scoped -%}
<div class="jp-RenderedLatex jp-OutputArea-output {{ extra_class }}" data-mime-type="text/latex">
{{ output.data['text/latex'] | latex_output_to_html }}
</div>
{%- endblock data_latex -%}
"""

#: Class of the element that shows a formula which could not be written as MathML.
UNRENDERED_CLASS = "htsr-unrendered-math"

# A command latex2mathml does not know comes out as an identifier spelled with its backslash.
_UNCONVERTED = re.compile(r">(\\[A-Za-z]+)<")


class MathConversionError(ValueError):
    """A formula that cannot be written as MathML."""


def latex_to_mathml(latex: str, display: bool = False) -> str:
    """One LaTeX formula as a MathML ``<math>`` element.

    Parameters
    ----------
    latex : str
        The formula, without its delimiters (``\\hat\\alpha``, not ``$\\hat\\alpha$``);
        an environment (``\\begin{align}...\\end{align}``) is one formula.
    display : bool, default False
        Display (block) math, as ``$$...$$``; otherwise inline.

    Returns
    -------
    str
        ``<math xmlns="http://www.w3.org/1998/Math/MathML" display="block|inline">...</math>``.

    Raises
    ------
    MathConversionError
        latex2mathml rejects the formula, or leaves one of its commands unconverted.
    """
    try:
        mathml = convert(latex.strip(), display="block" if display else "inline")
    except Exception as exc:  # latex2mathml's errors share no base class
        raise MathConversionError(f"cannot write the formula {latex!r} as MathML: "
                                  f"{type(exc).__name__} {exc}".rstrip()) from exc
    unknown = _UNCONVERTED.findall(mathml)
    if unknown:
        raise MathConversionError(f"cannot write the formula {latex!r} as MathML: latex2mathml does "
                                  f"not know {', '.join(dict.fromkeys(unknown))}")
    return mathml


class _MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, each formula written as MathML instead of left for MathJax."""

    def block_math(self, body: str) -> str:
        return _formula(body, display=True, source=f"$${body}$$")

    def inline_math(self, body: str) -> str:
        return _formula(body, display=False, source=f"${body}$")

    def latex_environment(self, name: str, body: str) -> str:
        latex = f"\\begin{{{name}}}{body}\\end{{{name}}}"
        return _formula(latex, display=True, source=latex)


def _formula(latex: str, *, display: bool, source: str) -> str:
    """The formula as MathML, or its ``source`` in red with the reason (module docstring)."""
    try:
        return latex_to_mathml(latex, display=display)
    except MathConversionError as exc:
        return (f'<span class="{UNRENDERED_CLASS}" style="color: #c00" title="{html.escape(str(exc))}">'
                f"{html.escape(source)}</span>")


def _latex_output_to_html(latex: str) -> str:
    """A ``text/latex`` output (``$$...$$``, ``$...$``, an environment, text around them) as HTML."""
    return MarkdownWithMath(renderer=_MathMLRenderer(escape=True)).render(latex)


class PageExporter(HTMLExporter):
    """nbconvert's HTML exporter (``lab`` template) writing formulas as MathML and loading no
    script from the network for them (module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("extra_loaders", [jinja2.DictLoader({PAGE_TEMPLATE: _TEMPLATE})])
        kwargs.setdefault("template_file", PAGE_TEMPLATE)
        super().__init__(**kwargs)

    def default_filters(self):
        """nbconvert's filters, and the one that writes ``text/latex`` outputs as MathML."""
        yield from super().default_filters()
        yield ("latex_output_to_html", _latex_output_to_html)

    @jinja2.pass_context
    def markdown2html(self, context, source: str) -> str:
        """Markdown to HTML as nbconvert's filter does, formulas as MathML."""
        cell = context.get("cell", {})
        renderer = _MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)


def notebook_page(notebook: str | Path) -> str:
    """The HTML page of a notebook file, its formulas as MathML (:class:`PageExporter`).

    Parameters
    ----------
    notebook : str or Path
        An ``.ipynb`` file (executed or not: its outputs are shown as they are).

    Returns
    -------
    str
        The page; a formula that cannot be written as MathML is shown as its LaTeX source, in
        red, in an element of class :data:`UNRENDERED_CLASS`.
    """
    body, _ = PageExporter().from_filename(str(notebook))
    return body
