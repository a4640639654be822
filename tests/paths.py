"""Where the tests read their data: the recorded fixtures in ``tests/fixtures`` and the real
payloads in ``../shared`` (next to the project, never copied into it).

Test modules take these as ``from paths import FIXTURES, REAL_SOURCES`` (``tests/`` is on
``sys.path`` under pytest) and name their own sub-folders from them.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"

SHARED = TESTS.parents[1] / "shared"
REAL_SOURCES = SHARED / "real-sources"
# The payloads aides-territoires' importer recorded, and mission-transition-ecologique's exports.
AT_API = REAL_SOURCES / "aides-territoires" / "api-responses"
MTE = REAL_SOURCES / "mission-transition-ecologique"
# The official dispositif-aide schema (schema.json, exemple.csv).
OFFICIAL_SCHEMA_DIR = SHARED / "reference" / "schema-dispositif-aide" / "dispositif-aide"
OFFICIAL_SCHEMA = OFFICIAL_SCHEMA_DIR / "schema.json"
