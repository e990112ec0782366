"""Write docs/governance.schema.json and docs/governance.md from the governance document's models.

Run after changing a model in src/harbourmaster/services/document.py:

    .venv/bin/python scripts/gen_docs.py          # write both files
    .venv/bin/python scripts/gen_docs.py --check  # exit 1 when either is not current

(tests/services/test_document_schema.py fails when they are not current.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harbourmaster.services.document_schema import governance_markdown, render_json_schema

DOCS = Path(__file__).resolve().parents[1] / "docs"
GENERATED = {"governance.schema.json": render_json_schema, "governance.md": governance_markdown}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are current")
    args = parser.parse_args()
    stale = []
    for name, render in GENERATED.items():
        path, text = DOCS / name, render()
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "not current" if args.check else "written"
    for name in stale:
        print(f"docs/{name}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
