"""Which host names a site may claim: RFC 1123 syntax first, then OpenBook's policy.

A hostname is global (one site in the whole installation holds it) and becomes
a file name, `STORAGE_PATH/_hosts/<hostname>`, that nginx serves with
`root .../_hosts/$host`. So a workspace must not be able to claim a name that
is not a public DNS name it could own, nor one that collides with the storage
layout. Refused, each with its own `details.reason`:

- `syntax`: not an RFC 1123 host name (labels of 1..63 letters, digits and
  inner hyphens; 253 characters at most; no trailing dot);
- `ip_literal`: an IPv4 or IPv6 address in any spelling a browser or
  `inet_aton` accepts (`127.0.0.1`, `127.1`, `2130706433`, `0x7f.1`, `::1`):
  a name whose last label is a number is parsed as an address (WHATWG URL);
- `single_label`: `live`, `intranet`: never a public name, and `live` is the
  name of every site's live link;
- `reserved`: `localhost` and everything under the special-use names of
  RFC 2606 / 6761 / 6762 / 7686 / 8375 (`test`, `example`, `invalid`,
  `localhost`, `local`, `onion`, `home.arpa`), ICANN's private-use
  `internal`, and `example.com`, `example.net`, `example.org` with their
  subdomains;
- `preview_form`: a first label containing `--`: `_hosts/<key>--<hostname>`
  is how branch previews are served (SPEC §11), so such a name could shadow
  another site's preview. Internationalised names whose first label is
  punycode (`xn--...`) fall under this rule; claim a subdomain of them.

Claiming a name does not prove owning it: domain verification (a DNS TXT
record) is a planned step, not built (docs/ops/security.md).

Pure: no I/O, no aiohttp; the API calls it before anything is written.
"""

from __future__ import annotations

import ipaddress
import re

from openbook.errors import InvalidRequest

MAX_HOSTNAME = 253
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# The WHATWG URL host parser reads a host whose last label is decimal, or
# 0x-prefixed hex, as an IPv4 address (so do inet_aton and curl).
_NUMERIC_LABEL_RE = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")

RESERVED_SUFFIXES = (
    "test", "example", "invalid", "localhost", "local", "onion", "home.arpa", "internal",
    "example.com", "example.net", "example.org",
)
PREVIEW_SEPARATOR = "--"


def _refuse(raw: object, reason: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"hostname {raw!r} cannot be attached: {why}",
                          {"field": "hostname", "hostname": raw, "reason": reason})


def parse_hostname(raw: object) -> str:
    """The RFC 1123 host name `raw`, lower-cased; InvalidRequest (reason `syntax`) otherwise.

    Syntax only: used where an existing name is looked up (detaching a
    domain claimed before a policy rule existed must stay possible). ASCII
    only, checked before lower-casing: `str.lower` maps the Kelvin sign
    U+212A to `k`, which would let a look-alike name through.
    """
    host = raw.lower() if isinstance(raw, str) and raw.isascii() else ""
    if not host or len(host) > MAX_HOSTNAME or not all(_LABEL_RE.fullmatch(label) for label in host.split(".")):
        raise _refuse(raw, "syntax", "not a valid RFC 1123 host name (labels of letters, digits and inner"
                                     " hyphens, 1 to 63 characters each, 253 at most, no trailing dot)")
    return host


def _is_ip_literal(text: str) -> bool:
    candidate = text.lower().removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(candidate.partition("%")[0])
    except ValueError:
        return False
    return True


def validate_hostname(raw: object) -> str:
    """The hostname a site may claim, normalised; InvalidRequest naming the rule it breaks.

    Raises InvalidRequest with `details = {"field": "hostname", "hostname":
    raw, "reason": ...}`, reason one of `syntax`, `ip_literal`,
    `single_label`, `reserved`, `preview_form` (see the module docstring).
    """
    if isinstance(raw, str) and _is_ip_literal(raw):
        raise _refuse(raw, "ip_literal", "IP address literals are refused; attach a DNS name")
    host = parse_hostname(raw)
    labels = host.split(".")
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
        raise _refuse(raw, "ip_literal", "a name ending in a numeric label is read as an IP address")
    for suffix in RESERVED_SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            raise _refuse(raw, "reserved", f"names under {suffix!r} are reserved and never public")
    if len(labels) == 1:
        raise _refuse(raw, "single_label", "single-label names are refused; attach a fully qualified name")
    if PREVIEW_SEPARATOR in labels[0]:
        raise _refuse(raw, "preview_form", f"a first label containing {PREVIEW_SEPARATOR!r} is reserved for"
                                           " branch previews (<key>--<hostname>)")
    return host
