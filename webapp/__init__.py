"""The collectivités' web application (`aides serve`): read the catalogue, submit aids.

Pages are rendered on the server (FastAPI + Jinja2) with the État's design system (DSFR).
The catalogue is only read; the one write path is an agent's upload, which goes through
``warehouse.submissions.checks`` (validation) and ``warehouse.submissions.store`` (storage).
"""
