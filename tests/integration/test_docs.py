"""docs/testing.md stays true: every integration test file has its row in
the "What each file covers" table, and no row names a file that is gone."""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "testing.md")


def test_every_integration_file_has_a_row():
    text = open(DOC).read()
    rows = set(re.findall(r"^\| `(test_[a-z0-9_]+\.py)` \|", text, re.M))
    files = {f for f in os.listdir(HERE) if re.fullmatch(r"test_[a-z0-9_]+\.py", f)}
    assert not files - rows, "docs/testing.md has no row for %s" % sorted(files - rows)
    assert not rows - files, "docs/testing.md has rows for missing files %s" % sorted(rows - files)
