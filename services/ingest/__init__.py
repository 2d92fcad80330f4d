"""The HTTP ingest service: validates transactions and appends them to shard streams.

``create_app(settings)`` in ``app.py`` builds the FastAPI application;
``python -m services.ingest`` serves it with uvicorn.
"""
