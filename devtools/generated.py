"""What the generated documents share (the message catalog, the settings table): how a
path is named in messages, and the report of ``--check``."""
import difflib
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHOWN_DIFF_LINES = 80


def shown(path):
    """``path`` relative to the repository when it is inside it (as a reader types it)."""
    try:
        return path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        return path


def compare(path, actual, expected, up_to_date, stale):
    """0 when ``actual`` (``path``'s text) is ``expected``, printing ``up_to_date``; else
    1, printing ``stale`` (what to run) and the start of the diff on stderr."""
    if actual == expected:
        print(up_to_date)
        return 0
    name = shown(path)
    diff = list(difflib.unified_diff(
        actual.splitlines(keepends=True), expected.splitlines(keepends=True),
        fromfile=f"{name} (committed)", tofile="generated from the code"))
    print(stale + "\n", file=sys.stderr)
    sys.stderr.writelines(diff[:SHOWN_DIFF_LINES])
    if len(diff) > SHOWN_DIFF_LINES:
        print(f"... and {len(diff) - SHOWN_DIFF_LINES} more diff lines", file=sys.stderr)
    return 1
