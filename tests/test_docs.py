"""The documentation: it builds, its links resolve, and a real browser renders it.

The site is built once per session, from a copy of ``docs/`` (so the
checkout is left untouched), with the README's command: ``sphinx-build -W``
(warnings are errors; ``nitpicky`` makes a reference to a missing fastgmm
name one), which also runs every gallery example and fails when one
raises. The built HTML is then crawled for internal links that lead
nowhere, and headless Chromium loads three pages from a local HTTP server
that records every request the browser makes, so a missing stylesheet,
script or figure shows up as a 404. Tests that need Sphinx or Chromium are
skipped, with the reason, where those are not installed
(``pip install ".[docs]"``; Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import doctest
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import urlopen

import pytest

import fastgmm

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCS_MODULES = ("sphinx", "numpydoc", "sphinx_gallery", "myst_parser", "pydata_sphinx_theme",
                "matplotlib")
# Sources of the build that are products of an earlier build, not inputs.
BUILD_PRODUCTS = ("_build", "generated", "auto_examples", "sg_execution_times.rst",
                  "__pycache__", ".ipynb_checkpoints")
GALLERY_MIN = 7


def _missing_docs_requirements() -> list[str]:
    missing = []
    for name in DOCS_MODULES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    return missing


needs_sphinx = pytest.mark.skipif(
    bool(_missing_docs_requirements()),
    reason=f"the docs requirements are not installed (missing: "
           f"{', '.join(_missing_docs_requirements())}); pip install \".[docs]\"")


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The built HTML site (built once per session, from a copy of docs/).

    ``FASTGMM_DOCS_HTML=docs/_build/html`` checks a site built beforehand
    with the README's command instead of building one.
    """
    if _missing_docs_requirements():
        pytest.skip("the docs requirements are not installed")
    if os.environ.get("FASTGMM_DOCS_HTML"):
        return Path(os.environ["FASTGMM_DOCS_HTML"]).resolve()
    work = tmp_path_factory.mktemp("docs")
    source = work / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns(*BUILD_PRODUCTS))
    out = work / "html"
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # The examples use fastgmm's own kernel cache, not this session's: kernels
    # the build cached there would be loaded, not compiled, by later tests of
    # this session, which compare compiled kernels bit for bit (conftest.py).
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
         "-d", str(work / "doctrees"), str(source), str(out)],
        capture_output=True, text=True, env=env, cwd=work, timeout=1800)
    assert result.returncode == 0, (
        "sphinx-build -W failed:\n" + result.stdout[-4000:] + "\n" + result.stderr[-8000:])
    return out


# ------------------------------------------------------------------ HTML parsing
class _Page(HTMLParser):
    """Links, image sources, element ids, the <title> and the <h1> text of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.resources: list[str] = []  # what the page loads: scripts, stylesheets, images
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.title = ""
        self.h1 = ""
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "link" and attrs.get("href") and "stylesheet" in (attrs.get("rel") or ""):
            self.links.append(attrs["href"])
            self.resources.append(attrs["href"])
        elif tag == "script" and attrs.get("src"):
            self.links.append(attrs["src"])
            self.resources.append(attrs["src"])
        elif tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
            self.resources.append(attrs["src"])
        if tag in ("title", "h1") and self._in is None:
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "h1" and not self.h1.endswith("#"):
            self.h1 += data


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _internal(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith(("#", "mailto:"))


def _target(page: Path, url: str) -> tuple[Path, str]:
    """The file an internal link of ``page`` points at, and its fragment."""
    parts = urlsplit(url)  # drops the ?digest=... cache-busters of static files
    target = (page.parent / unquote(parts.path)).resolve()
    fragment = parts.fragment
    if target.is_dir():
        target = target / "index.html"
    return target, fragment


def _html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


def _reachable(site: Path) -> set[Path]:
    """Every page reachable from index.html through internal links."""
    seen, todo = set(), [(site / "index.html").resolve()]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != ".html" or not page.exists():
            continue
        seen.add(page)
        for url in _parse(page).links:
            if _internal(url):
                todo.append(_target(page, url)[0])
    return seen


# ------------------------------------------------------------------ the build
@needs_sphinx
def test_every_public_name_has_an_api_entry(site):
    """Each name of ``fastgmm.__all__`` is documented (an anchor ``fastgmm.NAME``
    in the API pages), and the classes list their methods."""
    ids = set()
    for page in [site / "api.html", *(site / "generated").glob("*.html")]:
        ids |= _parse(page).ids
    missing = [name for name in fastgmm.__all__ if f"fastgmm.{name}" not in ids]
    assert not missing, f"public names without an API entry: {missing}"
    for method in ("fit", "predict", "predict_proba", "score_samples", "sample", "save",
                   "partial_fit", "bic"):
        assert f"fastgmm.GaussianMixture.{method}" in ids, method


@needs_sphinx
def test_internal_links_resolve(site):
    """No internal link, stylesheet, script or image of any page leads to a
    missing file or a missing anchor."""
    broken = []
    for page in _html_pages(site):
        parsed = _parse(page)
        for url in parsed.links + parsed.images:
            if not _internal(url):
                continue
            target, fragment = _target(page, url)
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {url} (no such file)")
            elif fragment and target.suffix == ".html" and fragment not in _parse(target).ids:
                broken.append(f"{page.relative_to(site)} -> {url} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:40])


@needs_sphinx
def test_pages_load_nothing_from_the_network(site):
    """Every script, stylesheet and image is part of the site, so it reads the
    same offline (a CDN's MathJax would leave raw TeX on the page)."""
    external = sorted({(page.relative_to(site).as_posix(), url)
                       for page in _html_pages(site)
                       for url in _parse(page).resources if not _internal(url)})
    assert not external, f"pages that load from the network: {external[:20]}"


@needs_sphinx
def test_every_page_is_reachable_from_the_index(site):
    """The user guide, the gallery, the API reference and every page built
    from a source file are reachable from the front page."""
    reachable = _reachable(site)
    sources = [p for p in DOCS.rglob("*") if p.suffix in (".md", ".rst")
               and not set(p.relative_to(DOCS).parts) & {*BUILD_PRODUCTS, "_templates",
                                                          "examples"}]
    assert any(p.parent.name == "user_guide" for p in sources)
    unreachable = []
    for source in sources:
        html = (site / source.relative_to(DOCS)).with_suffix(".html").resolve()
        if html not in reachable:
            unreachable.append(str(source.relative_to(DOCS)))
    assert not unreachable, f"pages not reachable from index.html: {unreachable}"


@needs_sphinx
def test_gallery_examples_ran_and_drew_figures(site):
    """At least seven examples, each page with at least one figure file the
    example drew (sphinx-gallery writes it only when the script ran)."""
    examples = sorted((DOCS / "examples").glob("plot_*.py"))
    assert len(examples) >= GALLERY_MIN
    for example in examples:
        page = site / "auto_examples" / f"{example.stem}.html"
        figures = [src for src in _parse(page).images if f"sphx_glr_{example.stem}_0" in src]
        assert figures, f"{page.name} shows no figure"
        for src in figures:
            assert _target(page, src)[0].stat().st_size > 5000, src


# ------------------------------------------------------------------ doctests
@pytest.mark.parametrize("name", [n for n in fastgmm.__all__ if n != "__version__"])
def test_api_docstring_examples_run(name):
    """The Examples of the public docstrings (shown in the API reference) run
    and print what they say."""
    obj = getattr(fastgmm, name)
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(obj, name, globs={}) if t.examples]
    assert tests, f"fastgmm.{name} has no doctest example"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) of fastgmm.{name} failed"


# ------------------------------------------------------------------ the browser
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


needs_chromium = pytest.mark.skipif(
    _chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium); the browser "
           "check of the built pages is skipped")


class _Recorder(http.server.SimpleHTTPRequestHandler):
    """Serves the site and records (path, status) of every request."""

    log: list[tuple[str, int]]

    def log_request(self, code="-", size="-"):
        self.log.append((urlsplit(self.path).path, int(code)))

    def log_message(self, *args):  # no stderr noise
        pass


@pytest.fixture(scope="module")
def server(site):
    log: list[tuple[str, int]] = []
    handler = type("Handler", (_Recorder,), {"log": log})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    finally:
        httpd.shutdown()
        httpd.server_close()


def _browse(url: str, screenshot: Path) -> str:
    """The DOM of ``url`` after Chromium loaded it (and a screenshot of it)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    flags = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--hide-scrollbars", "--window-size=1280,2000"]
    try:
        shot = subprocess.run([*flags, f"--screenshot={screenshot}", url],
                              capture_output=True, text=True, timeout=120)
        assert shot.returncode == 0, shot.stderr[-2000:]
        dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True,
                             timeout=120)
        assert dom.returncode == 0, dom.stderr[-2000:]
        return dom.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _text(dom: str, tag: str) -> str:
    match = re.search(rf"<{tag}[^>]*>(.*?)</{tag}>", dom, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).replace("#", "").strip() if match else ""


PAGES = [
    ("index.html", "fastgmm", None),
    ("generated/fastgmm.GaussianMixture.html", "GaussianMixture", None),
    ("auto_examples/plot_first_fit.html", "A first fit, with ellipses", "sphx_glr_plot_first_fit_001"),
]


@needs_sphinx
@needs_chromium
@pytest.mark.parametrize("path, title, figure", PAGES)
def test_browser_renders_page(server, tmp_path, path, title, figure):
    """Chromium loads the page over HTTP: the title and heading are there,
    every request the page made (stylesheets, scripts, fonts, figures) was
    served, the gallery figure was fetched, every internal link on the
    rendered page answers, and the screenshot is not blank."""
    from PIL import Image

    base, log = server
    log.clear()
    dom = _browse(f"{base}/{path}", tmp_path / "page.png")
    assert title in _text(dom, "title"), _text(dom, "title")
    assert _text(dom, "h1") == title
    failed = sorted({(p, code) for p, code in log if code >= 400})
    assert not failed, f"requests the browser made that failed: {failed}"
    requested = {p for p, code in log}
    assert f"/{path}" in requested
    assert any(p.endswith(".css") for p in requested), "no stylesheet was loaded"
    if figure:
        assert any(figure in p and p.endswith(".png") for p in requested), \
            f"the browser did not fetch the figure {figure}: {sorted(requested)}"
    # Internal links of the rendered page answer (the server is the judge).
    page = _Page()
    page.feed(dom)
    dead = []
    for url in sorted({urldefrag(u)[0] for u in page.links if _internal(u)} - {""}):
        try:
            with urlopen(urljoin(f"{base}/{path}", url), timeout=30) as response:
                status = response.status
        except HTTPError as exc:
            status = exc.code
        if status != 200:
            dead.append((url, status))
    assert not dead, f"internal links of the rendered page that do not answer: {dead}"
    # The screenshot shows something: not one flat colour.
    image = Image.open(tmp_path / "page.png").convert("L")
    assert image.size == (1280, 2000)
    low, high = image.getextrema()
    assert high - low > 100, "the screenshot is blank"
