"""The docs site builds, offline, with warnings as errors, and its generated pages cannot drift:
the command-line reference has every command and option of the real parser, and the
architecture page every layer of the layering test's ``LAYERS`` table.

The build is the real one (``mkdocs build --strict`` in a subprocess, the project's
``mkdocs.yml`` and hooks) into a temporary folder; it takes about 15-30 s on two CPU cores.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from transferkit.cli.parser import COMMANDS, build_parser

REPO = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LAYERS = _load(REPO / "tests" / "test_layering.py", "_layering_for_test_docs").LAYERS
layers_hook = _load(REPO / "scripts" / "docs" / "layers.py", "_layers_hook_for_test_docs")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built by ``mkdocs build --strict``, as CI builds it (no network needed)."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - t0
    print(f"mkdocs build --strict: {seconds:.1f} s")  # shown with pytest -s; the suite's cost
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _commands() -> list[tuple[str, argparse.ArgumentParser]]:
    """(anchor, parser) for every command and every ``runs`` action, from the real parser."""
    out = []
    for cmd in COMMANDS:
        parser = _subparser(build_parser(cmd.name), cmd.name)
        out.append((cmd.name, parser))
        out += [(f"{cmd.name}-{a.name}", _subparser(parser, a.name)) for a in cmd.actions]
    return out


def _sections(page: str) -> dict[str, str]:
    """The CLI page cut at its command headings: anchor -> that section's HTML."""
    parts = re.split(r'(?=<h[23] id=")', page)
    return {re.match(r'<h[23] id="([^"]+)"', p).group(1): p for p in parts if p.startswith("<h")}


def _documented_flags(section: str) -> set[str]:
    """The flags in the first column of a section's argument table (``-h, --help``, ``--lr LR``)."""
    cells = re.findall(r"<tr>\s*<td><code>([^<]*)</code></td>", section)
    return {part.split()[0] for cell in cells for part in html.unescape(cell).split(", ")}


def missing_commands(page: str) -> list[str]:
    """Commands of the parser without a section on the CLI reference page, and options
    missing from their command's section."""
    sections = _sections(page)
    missing = []
    for anchor, parser in _commands():
        if anchor not in sections:
            missing.append(f"section {anchor}")
            continue
        documented = _documented_flags(sections[anchor])
        for action in parser._actions:
            missing += [f"{anchor}: {f}" for f in action.option_strings if f not in documented]
    return missing


def missing_layers(page: str, layers) -> list[str]:
    """Names in ``layers`` that the architecture page's drawing or table lacks."""
    names = [name for group in layers for name in group]
    return [
        n
        for n in names
        if f'data-package="{n}"' not in page or f"<code>{html.escape(n)}</code>" not in page
    ]


def test_the_docs_build_strict_and_offline(site):
    for page in (
        "index.html",
        "getting-started.html",
        "reference/cli.html",
        "reference/api.html",
        "architecture.html",
    ):
        assert (site / page).is_file(), page
    fetched = re.compile(r'<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)="(?:https?:)?//')
    for page in site.rglob("*.html"):  # nothing is fetched from elsewhere when a page is viewed
        text = page.read_text()
        assert not fetched.search(text), (page, fetched.search(text).group(0))
        assert "fonts.googleapis" not in text and "cdn.jsdelivr" not in text, page


def test_the_cli_reference_has_every_command_and_option_of_the_parser(site):
    page = (site / "reference" / "cli.html").read_text()
    assert len(_commands()) >= len(COMMANDS) > 10
    assert missing_commands(page) == []


def test_the_cli_check_would_notice_a_missing_command(site):
    page = (site / "reference" / "cli.html").read_text()
    without_fit = page.replace('<h2 id="fit"', '<h2 id="gone"')
    assert "section fit" in missing_commands(without_fit)
    without_lr = page.replace("<td><code>--lr LR</code></td>", "<td><code>LR</code></td>")
    assert "fit: --lr" in missing_commands(without_lr)


def test_the_architecture_page_draws_every_layer_of_the_layering_test(site):
    page = (site / "architecture.html").read_text()
    assert missing_layers(page, LAYERS) == []
    assert missing_layers(page, [*LAYERS, {"not-a-package"}]) == ["not-a-package"]


def test_the_drawing_follows_the_table_it_is_given():
    """The hook draws what LAYERS holds, in its order: a new layer appears, nothing is fixed."""
    layers = [["top"], ["middle", "other"], ["bottom"]]
    svg = layers_hook.render_svg(layers)
    positions = [svg.index(f'data-package="{n}"') for n in ("top", "middle", "bottom")]
    assert positions == sorted(positions)
    table = layers_hook.render_table(layers)
    assert table.splitlines()[3] == "| 2 | `middle`, `other` | itself, and the layers below |"
    assert [sorted(g) for g in LAYERS] == layers_hook.load_layers()


def test_the_readme_shows_the_layer_order_of_the_layering_test():
    """The README's arrow chain is LAYERS without the two entry modules (__main__, __init__)."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"\n    cli -> .*?\n\n", readme, re.S)
    assert block, "README.md lost its layer chain (`cli -> (api, sklearn) -> ...`)"
    chain = " ".join(block.group(0).split())
    groups = [set(re.sub(r"[()]", "", g).replace(",", " ").split()) for g in chain.split("->")]
    expected = [set(g) - {"__main__", "__init__"} for g in LAYERS]
    assert groups == [g for g in expected if g]
