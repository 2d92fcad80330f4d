"""The HTTP ingest service: validates transactions and appends them to shard streams.

``create_app(settings)`` in ``app.py`` builds the application (FastAPI, with
``fastpath.py`` in front of it for single POSTs);
``python -m services.ingest`` serves it with uvicorn.
"""
