"""What became of the entries a command appended, counted from the ``:out`` streams."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from shared.keys import ShardKeys
from shared.outcomes import unpack
from shared.store import SyncClient
from shared.streams import id_key

CHUNK = 5000  # :out entries per XRANGE: memory stays bounded whatever the log's length


def outcomes(client: SyncClient, spans: Mapping[int, tuple[str, str]]) -> Counter[str]:
    """Outcomes (applied, rejected, duplicate, dead) of the entries within ``spans``.

    ``spans`` maps a shard to the first and last stream ID appended on it. Exact
    unless other clients appended to the same shards meanwhile (their entries in
    a span count too), or the capped log (``TXFLOW_OUT_MAXLEN``) dropped some.
    """
    counted: Counter[str] = Counter()
    for shard, (first, last) in spans.items():
        low, high = id_key(first), id_key(last)
        start = f"{low[0]}-0"  # an outcome is committed after its entry was appended
        while True:
            rows: Any = client.xrange(ShardKeys(shard).outbox, min=start, count=CHUNK)
            for out_id, fields in rows:
                for doc in unpack(fields):
                    if low <= id_key(doc["e"]) <= high:
                        counted[doc["o"]] += 1
                start = f"({out_id}"
            if len(rows) < CHUNK:
                break
    return counted
