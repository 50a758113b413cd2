"""The Mailer port on SES (v2): plain text mail from the deployment's verified identity."""
from __future__ import annotations

from typing import Any

from ferry.mail.notices import Mail


class SesMailer:
    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, mail: Mail) -> None:
        self._client.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": mail.to},
            Content={"Simple": {"Subject": {"Data": mail.subject, "Charset": "UTF-8"}, "Body": {"Text": {"Data": mail.body, "Charset": "UTF-8"}}}},
        )
