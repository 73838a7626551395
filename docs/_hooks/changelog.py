"""MkDocs hook: the site's changelog page is ``CHANGELOG.md`` from the repository root.

``docs/changelog.md`` only points there (so the repository shows one changelog); at build time
this hook replaces the page's text with the root file's, and rewrites its links into ``docs/``
(``docs/results/index.md`` from the root is ``results/index.md`` from the page), so that the site
checks them like any other page's.
"""

from __future__ import annotations

import re
from pathlib import Path

PAGE = "changelog.md"
SOURCE = "CHANGELOG.md"


def on_page_markdown(markdown, page, config, files, **kwargs):
    if page.file.src_uri != PAGE:
        return markdown
    text = (Path(config.config_file_path).resolve().parent / SOURCE).read_text(encoding="utf-8")
    return re.sub(r"\]\(docs/", "](", text)
