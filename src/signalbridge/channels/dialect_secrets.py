"""Where a dialect sender puts a body_secret channel's secret, when it is not a JSON field.

PineConnector commands are comma-separated text (``LicenseID,command,symbol[,key=value]``):
the secret is the ``secret=`` parameter when there is exactly one, else the first field
(where PineConnector puts its license id). Either way it is taken out of the text before
the body is parsed or stored: a ``secret=`` parameter is cut with its comma, a first
field is replaced by :data:`MASK`, so the command still reads as PineConnector's.
(3Commas puts its secret in the JSON field ``"secret"``: webhook.find_body_secret.)
"""

from __future__ import annotations

import re
from typing import Final

#: What stands in the first field once the secret is taken out of it.
MASK: Final = "SECRET"
#: A comma-separated command on one line; the first field is any run without a comma.
_COMMAND: Final = re.compile(r"[^,\n]{1,256}(?:,[^,\n]{0,256}){2,40}", re.ASCII)
_SECRET_PARAM: Final = re.compile(r"\s*secret\s*=\s*(?P<value>[^,\n]*?)\s*", re.ASCII)


def find_pine_secret(body: bytes) -> tuple[str, bytes] | None:
    """The secret of a PineConnector command body, and the body without it; None when the
    body is no such command, or holds ``secret=`` more than once or empty."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    stripped = text.strip()
    if not _COMMAND.fullmatch(stripped):
        return None
    fields = stripped.split(",")
    params = [i for i, f in enumerate(fields) if i > 0 and _SECRET_PARAM.fullmatch(f)]
    if len(params) > 1:
        return None
    if params:
        match = _SECRET_PARAM.fullmatch(fields[params[0]])
        assert match is not None
        secret = match.group("value")
        rest = fields[: params[0]] + fields[params[0] + 1 :]
    else:
        secret = fields[0].strip()
        rest = [MASK, *fields[1:]]
    if not secret:
        return None
    return secret, ",".join(rest).encode("ascii")
