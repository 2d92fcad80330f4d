"""The operator console: a live page of the deployment served by ingest at ``/console``.

``board`` reads what the page shows (through the CLI's own functions),
``history`` keeps the recent throughput and latency, ``web`` serves the page,
``GET /v1/status`` and the actions; ``static/`` holds the page itself.
"""
