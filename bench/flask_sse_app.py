"""The baseline of bench/sse_fanout: flask-sse as its documentation shows it, one channel per user."""
import os

from flask import Flask
from flask_sse import sse

app = Flask(__name__)
app.config["REDIS_URL"] = os.environ["REDIS_URL"]
app.register_blueprint(sse, url_prefix="/stream")
