"""Tell a team when production changes: a JSON POST to a webhook (Slack, a CI job, ...)."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

log = logging.getLogger(__name__)


def post_json(url: str, payload: dict[str, Any], timeout: float = 5.0) -> int:
    """POST ``payload`` as JSON; return the HTTP status. A failed notification is logged,
    not raised: the promotion it announces has already happened and is in the audit log."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, sort_keys=True).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "gramops"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except OSError as exc:
        log.warning("promotion notification to %s failed: %s", url, exc)
        return 0
