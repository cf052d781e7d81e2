"""write_report: save a markdown report under <data_dir>/reports/ (scope write).

The file name is a UTC timestamp plus a slug of the title made only of [a-z0-9-], so no title
can name a path outside the reports directory; existing files are never overwritten.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from tools.spec import RegisteredTool, ToolSpec

MAX_SLUG_CHARS = 60


class WriteReportArgs(BaseModel):
    title: str = Field(min_length=1, max_length=200, description="The report's title.")
    body: str = Field(max_length=200_000, description="The report's body, in markdown.")


def slugify(title: str) -> str:
    """A file-name-safe slug: lower-case ASCII letters, digits and single dashes."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:MAX_SLUG_CHARS].strip("-") or "report"


class ReportWriter:
    """Writes reports into one directory and nowhere else."""

    def __init__(self, reports_dir: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.reports_dir = reports_dir
        self._clock = clock or (lambda: datetime.now(UTC))

    def write(self, title: str, body: str) -> str:
        """Write `# title` and `body` to a new file and return its absolute path."""
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{self._clock().strftime('%Y%m%dT%H%M%S%fZ')}-{slugify(title)}"
        text = f"# {title.strip()}\n\n{body.rstrip()}\n"
        for n in range(1, 100):
            path = self._inside(f"{stem}.md" if n == 1 else f"{stem}-{n}.md")
            try:
                with path.open("x", encoding="utf-8") as file:  # never overwrite
                    file.write(text)
            except FileExistsError:
                continue
            return str(path)
        raise FileExistsError(f"could not find a free file name for {stem!r}")

    def _inside(self, filename: str) -> Path:
        # Checked by name, not resolved: a planted symlink must not redirect the check;
        # opening with "x" (O_EXCL) then refuses to follow it.
        if Path(filename).name != filename or filename in (".", ".."):
            raise ValueError(f"refusing to write {filename!r}: not a plain file name")
        return self.reports_dir.resolve() / filename


def write_report_tool(data_dir: Path) -> RegisteredTool:
    """The write_report tool, writing under `<data_dir>/reports/`."""
    writer = ReportWriter(data_dir / "reports")
    spec = ToolSpec(
        name="write_report",
        description=(
            "Save a markdown report (title and body) as a new file; returns the file's path."
        ),
        scope="write",
        timeout_s=10,
    )
    return RegisteredTool.from_function(spec, args_schema=WriteReportArgs, func=writer.write)
