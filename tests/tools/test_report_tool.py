from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools.builtins.report import ReportWriter, slugify, write_report_tool

FIXED = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def test_report_is_written_under_data_dir_reports(tmp_path: Path) -> None:
    tool = write_report_tool(tmp_path).tool

    path = Path(tool.invoke({"title": "Host health", "body": "All *green*.\n"}))

    assert path.parent == (tmp_path / "reports").resolve()
    assert path.name.endswith("-host-health.md")
    assert path.read_text() == "# Host health\n\nAll *green*.\n"


@pytest.mark.parametrize(
    "title",
    ["../../etc/passwd", "/etc/cron.d/evil", "..\\..\\win.ini", "a/../../b", "..", "\x00/."],
)
def test_path_tricks_in_the_title_stay_inside_reports(tmp_path: Path, title: str) -> None:
    writer = ReportWriter(tmp_path / "data" / "reports")

    path = Path(writer.write(title, "body"))

    assert path.parent == (tmp_path / "data" / "reports").resolve()
    assert files_under(tmp_path) == [path]


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, clock=lambda: FIXED)

    first = Path(writer.write("Same", "one"))
    second = Path(writer.write("Same", "two"))

    assert first != second
    assert first.read_text().endswith("one\n") and second.read_text().endswith("two\n")


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    reports, outside = tmp_path / "reports", tmp_path / "outside.md"
    reports.mkdir()
    (reports / "20250301T120000123456Z-x.md").symlink_to(outside)
    writer = ReportWriter(reports, clock=lambda: FIXED)

    path = Path(writer.write("x", "body"))

    assert path.name == "20250301T120000123456Z-x-2.md"
    assert not outside.exists()


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Disk usage: 93% on /var!", "disk-usage-93-on-var"),
        ("Überprüfung", "uberprufung"),
        ("***", "report"),
        ("x" * 100, "x" * 60),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug
