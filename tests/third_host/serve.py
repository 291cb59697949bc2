"""Serve the third host on 127.0.0.1 (a free port) for a browser test; print the port and versions first.

Run as ``python -m third_host.serve DATABASE_PATH`` in a venv holding the installed wheel.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata

import flask_two_factor
from werkzeug.serving import make_server

from . import create_app, db

app = create_app(SQLALCHEMY_DATABASE_URI="sqlite:///" + sys.argv[1], RATELIMIT_STORAGE_URI="memory://")
with app.app_context():
    db.create_all()
server = make_server("127.0.0.1", 0, app, threaded=True)
versions = {name: metadata.version(name) for name in ("flask", "flask-wtf", "flask-login", "flask-sqlalchemy")}
print(json.dumps({"port": server.server_port, "versions": versions, "product": flask_two_factor.__file__}), flush=True)
server.serve_forever()
