"""``python -m schemas.datapackage FOLDER``: the project's verdict on ``FOLDER/datapackage.json``.

Why a command: the same check as the gate of every release, for a folder at hand (a release, a
package someone sends), with its errors in French; exit status 0 when valid, 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from schemas.datapackage import validate_package


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage : python -m schemas.datapackage DOSSIER (qui contient datapackage.json)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report = validate_package(Path(argv[0]), limit=20)
    seconds = time.perf_counter() - started
    rows = sum(report.rows.values())
    for error in report.errors:
        print(f"{error.resource or 'datapackage.json'} : {error.message}")
    verdict = "valide" if report.valid else f"invalide ({report.total} erreur(s))"
    print(f"{verdict} — {rows} ligne(s) CSV lue(s) en {seconds:.2f} s")
    return 0 if report.valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
