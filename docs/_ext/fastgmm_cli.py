"""The ``fastgmm-cli-help`` directive: a command's ``--help`` text, captured at build time.

``.. fastgmm-cli-help:: fit`` renders what ``fastgmm fit --help`` prints, so
the command-line reference can never drift from the parser. The text comes
from the console script's own entry point, ``fastgmm.cli.main``, run in the
build process (no subprocess: each would pay the NumPy/Numba import).
"""

from __future__ import annotations

import contextlib
import io
import os

from docutils import nodes
from docutils.parsers.rst import Directive


def help_text(argv: list[str]) -> str:
    """What ``fastgmm <argv> --help`` prints, 72 columns wide (the article column)."""
    from fastgmm.cli import main

    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "72"  # argparse wraps to $COLUMNS
    try:
        with contextlib.redirect_stdout(out):
            try:
                main([*argv, "--help"])
            except SystemExit:
                pass
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    text = out.getvalue().rstrip()
    if not text.startswith("usage:"):
        raise RuntimeError(f"'fastgmm {' '.join(argv)} --help' printed no usage: {text!r}")
    return text


class CliHelp(Directive):
    optional_arguments = 8
    has_content = False

    def run(self):
        text = help_text(list(self.arguments))
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app):
    app.add_directive("fastgmm-cli-help", CliHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
