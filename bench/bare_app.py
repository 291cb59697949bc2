"""The baseline of the login-challenge benchmark: a bare Flask endpoint doing one SELECT.

Served by gunicorn exactly like the demo app (same worker count, same PostgreSQL database), so the
ratio between the two isolates what the 2FA validation itself costs.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

app = Flask(__name__)
engine = create_engine(os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1))
QUERY = text("SELECT id, username FROM users WHERE id = :id")


@app.get("/bare")
def bare():
    with engine.connect() as conn:
        row = conn.execute(QUERY, {"id": request.args.get("id", "")}).first()
    return jsonify({"found": row is not None})
