"""Notebook pages (``htsr reproduce``'s ``build/html/*.html``) show their formulas without network.

A notebook written here holds inline, display and environment math in markdown, a formula in
a ``text/latex`` output and a dollar sign in code; its page must carry each formula as MathML
and load no script from the network.  A formula that cannot be converted shows as its source,
in red.  Every formula of the compendium's notebooks must convert.  Last (slow), headless Chromium, with every host name unresolvable, lays the page's
MathML out as math and fetches nothing over http(s).
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from htsr_utils.apps.pages import (
    UNRENDERED_CLASS,
    MathConversionError,
    latex_to_mathml,
    notebook_page,
)

ROOT = Path(__file__).resolve().parents[1]

MARKDOWN = r"""# Sample

Inline $\hat\alpha = \frac{1}{N_\alpha}\sum_i \alpha_i \log_{10} \lambda^{max}_i$ and $\tau < 0$.

$$\log \lVert W \rVert_F^2 \approx \alpha \log \lambda_{\max}$$

\begin{align}
a &= b \\
c &= d
\end{align}
"""


class _Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the page's text outside <script>/<style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.append((tag, dict(attrs)))
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pages") / "sample.ipynb"
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    code = nbformat.v4.new_code_cell("price = '$5 and $6'  # not math\nshow_formula()")
    code.outputs = [nbformat.v4.new_output("execute_result", execution_count=1, data={
        "text/plain": "<IPython.core.display.Math object>",
        "text/latex": r"$\displaystyle \sqrt{b(\alpha - 1)}$"})]
    nb.cells = [nbformat.v4.new_markdown_cell(MARKDOWN), code]
    nbformat.write(nb, path)
    return path


def test_formulas_become_mathml_and_no_script_comes_from_the_network(sample):
    page = notebook_page(sample)
    elements = _parse(page)
    maths = [attrs for tag, attrs in elements.tags if tag == "math"]
    assert [m.get("display") for m in maths] == ["inline", "inline", "block", "block", "inline"]
    tags = {tag for tag, _ in elements.tags}
    assert {"mfrac", "msqrt", "mtable", "mover"} <= tags, tags
    remote = [attrs["src"] for tag, attrs in elements.tags
              if tag == "script" and re.match(r"(https?:)?//", attrs.get("src", ""))]
    assert remote == [], "a page loads no script from the network"
    assert "mathjax" not in page.lower()
    text = "".join(elements.text)
    assert "\\hat" not in text and "\\frac" not in text and "\\sqrt" not in text, "no formula left as LaTeX"
    assert "$5 and $6" in text, "a dollar in code is not math"


def test_a_formula_that_cannot_be_converted_is_shown_as_its_source_in_red(tmp_path):
    path = tmp_path / "bad.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(r"Good $\tau$, bad $x = \notacommand{y}$.")]
    nbformat.write(nb, path)
    elements = _parse(notebook_page(path))
    (bad,) = [attrs for tag, attrs in elements.tags if attrs.get("class") == UNRENDERED_CLASS]
    assert "\\notacommand" in bad["title"] and "color: #c00" in bad["style"]
    assert r"$x = \notacommand{y}$" in "".join(elements.text)
    assert [tag for tag, _ in elements.tags].count("math") == 1


def test_a_formula_that_cannot_be_converted_is_named():
    assert latex_to_mathml(r"\tau") == ('<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">'
                                        "<mrow><mi>&#x003C4;</mi></mrow></math>")
    assert 'display="block"' in latex_to_mathml(r"\tau", display=True)
    with pytest.raises(MathConversionError, match=r"\\notacommand"):
        latex_to_mathml(r"x = \notacommand{y}")
    with pytest.raises(MathConversionError, match=r"'\\\\frac\{1\}\{'"):
        latex_to_mathml(r"\frac{1}{")


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_formula_of_the_notebooks_converts(notebook):
    elements = _parse(notebook_page(notebook))
    unrendered = [attrs["title"] for _, attrs in elements.tags if attrs.get("class") == UNRENDERED_CLASS]
    assert unrendered == [], "formulas latex2mathml cannot write"
    assert not re.search(r"\$\$|\\begin\{", "".join(elements.text)), "a formula left as LaTeX"


@pytest.mark.slow
def test_chromium_lays_out_the_math_offline(sample, tmp_path):
    """Headless Chromium, every host name unresolvable, opens the page from disk: each <math>
    is laid out as math (CSS display ``math`` / ``block math``: MathML Core), with a size, and
    the page requested nothing over http(s)."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("chromium and chromedriver are not on PATH: run `make setup` "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    page = tmp_path / "sample.html"
    page.write_text(notebook_page(sample))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--host-resolver-rules=MAP * ~NOTFOUND"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.get(page.as_uri())
        laid_out = driver.execute_script(
            "return [...document.querySelectorAll('math')].map(m => {"
            "  const box = m.getBoundingClientRect();"
            "  return [getComputedStyle(m).display, box.width > 0 && box.height > 0]; });")
        numerator, denominator = driver.execute_script(
            "const [n, d] = document.querySelector('mfrac').children;"
            "return [n.getBoundingClientRect().bottom, d.getBoundingClientRect().top];")
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name);")
    finally:
        driver.quit()
    assert laid_out == [["math", True]] * 2 + [["block math", True]] * 2 + [["math", True]]
    assert numerator <= denominator + 0.5, "a fraction stacks its numerator over its denominator"
    assert [url for url in fetched if url.startswith(("http:", "https:"))] == []
