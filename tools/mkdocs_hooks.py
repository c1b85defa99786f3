"""MkDocs hooks: the benchmark chart is served from where ``make scaling`` draws it, so the
site shows the committed chart without a second copy of it under docs/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHART = Path(__file__).resolve().parent.parent / "bench" / "results" / "scaling.png"


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, "reference/scaling.png", abs_src_path=str(CHART)))
    return files
