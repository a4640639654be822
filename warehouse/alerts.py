"""Tell the data team when something needs them: a failed run, a failed check, a held change.

Why here and not in Dagster: the message and the way it is sent are the project's; the Dagster
sensors (``pipelines/defs/exploitation/alertes.py``) only decide when. Two channels, configured
by environment, both optional:

- ``AIDES_ALERTE_URL``: a webhook (Mattermost, Slack, Tchap bridge, any HTTP receiver) that gets
  a JSON ``POST`` ``{"text": …, "titre": …, "details": {…}}``;
- ``AIDES_ALERTE_COMMANDE``: a command (``mail -s "Catalogue des aides" equipe@…``) that gets the
  text on its standard input.

Neither set: the alert is only logged. A channel that fails is logged, never raised: an alert
must not turn a run red by itself.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Any

import requests

LOG = logging.getLogger("aides.alertes")
TIMEOUT_S = 10


@dataclass(frozen=True)
class Alert:
    """One thing to tell the team, in French."""

    titre: str
    texte: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"text": f"**{self.titre}**\n{self.texte}", "titre": self.titre, "details": self.details}


def send(alert: Alert, url: str | None = None, command: str | None = None) -> list[str]:
    """Send ``alert`` on every configured channel; returns the channels that took it."""
    url = url if url is not None else os.environ.get("AIDES_ALERTE_URL", "")
    command = command if command is not None else os.environ.get("AIDES_ALERTE_COMMANDE", "")
    sent: list[str] = []
    LOG.warning("alerte : %s — %s", alert.titre, alert.texte)
    if url:
        try:
            answer = requests.post(url, json=alert.as_json(), timeout=TIMEOUT_S)
            answer.raise_for_status()
            sent.append("webhook")
        except requests.RequestException as exc:
            LOG.error("alerte non envoyée au webhook %s : %s", url, exc)
    if command:
        try:
            subprocess.run(
                shlex.split(command),
                input=f"{alert.titre}\n\n{alert.texte}\n\n{json.dumps(alert.details, ensure_ascii=False, indent=2)}",
                text=True,
                timeout=TIMEOUT_S * 3,
                check=True,
                capture_output=True,
            )
            sent.append("commande")
        except (OSError, subprocess.SubprocessError) as exc:
            LOG.error("alerte non transmise à la commande %r : %s", command, exc)
    return sent
