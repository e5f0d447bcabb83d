"""Who is acting: the pseudonym of the person behind the current request, for the events it makes.

Set by the API's authentication (``api.auth``) for a staff secret or an inbox session, None for an agency
system's machine credential and for Rujukan's own work (the relay, the pathway scheduler). Read by
``eventstore.chain_event`` and the directory's events, which every event goes through; the group-commit
writer runs each unit in the context of the request that submitted it, so the value reaches it there.
"""

from __future__ import annotations

import contextvars

ACTING_STAFF: contextvars.ContextVar[str | None] = contextvars.ContextVar("acting_staff", default=None)
