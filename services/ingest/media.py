"""The media types a POST reads (DESIGN §3), and the ``415`` for any other.

One transaction is ``application/json``; a batch is that (a JSON array) or
NDJSON, under either of its names. A ``Content-Type`` is compared without its
parameters and in any case (RFC 9110 §8.3.1): ``Application/X-NDJSON;
charset=utf-8`` is NDJSON. No ``Content-Type`` at all is refused too: the
requests a browser sends across sites without asking first carry a form or
text type, or none, so refusing them keeps a page from posting transactions.
"""

from __future__ import annotations

from services.ingest import problems

JSON = "application/json"
NDJSON = "application/x-ndjson"
NDJSON_TYPES = (NDJSON, "application/ndjson")

SINGLE = (JSON,)
"""What ``POST /v1/transactions`` reads."""
BATCH = (JSON, *NDJSON_TYPES)
"""What ``POST /v1/transactions/batch`` reads."""


def require(content_type: str | None, accepted: tuple[str, ...]) -> str:
    """The media type of ``content_type`` (lower case, no parameters) when it is one of
    ``accepted``; else raises the ``415`` problem naming them."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type not in accepted:
        raise problems.unsupported_media_type(content_type, accepted)
    return media_type
