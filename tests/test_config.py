"""Settings: ``FRONTEND_URL`` origins as browsers send them, or a clear refusal to start."""
from __future__ import annotations

import pytest

import config as settings
from config import ConfigError, normalise_origin
from payflow import create_app

from .conftest import make_config


@pytest.mark.parametrize("value, origin", [
    ("http://localhost:3000/", "http://localhost:3000"),
    ("http://localhost:3000", "http://localhost:3000"),
    ("HTTPS://App.Example.COM/", "https://app.example.com"),
    ("https://app.example.com:443", "https://app.example.com"),
    ("http://app.example.com:80/", "http://app.example.com"),
    ("https://app.example.com:8443", "https://app.example.com:8443"),
    ("http://[::1]:3000/", "http://[::1]:3000"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
])
def test_an_origin_is_written_as_a_browser_sends_it(value, origin):
    assert normalise_origin(value) == origin


@pytest.mark.parametrize("value", [
    "localhost:3000",
    "app.example.com",
    "ftp://app.example.com",
    "http://app.example.com/dashboard",
    "http://app.example.com/?next=1",
    "http://app.example.com/#top",
    "http://user:secret@app.example.com",
    "http://",
    "http://app.example.com:99999",
    "*",
    "https://*",
    "http://*.example.com",
    "https://app.*",
    "null",
    "http://localhost:3000 http://localhost:3001",
    "http://exa mple.com",
    "http://(app|admin).example.com",
    "http://app.example.com$",
    "http://%61pp.example.com",
    "http://app..example.com",
])
def test_a_value_that_is_not_an_origin_stops_the_start_with_a_clear_message(value):
    with pytest.raises(ConfigError, match="FRONTEND_URL"):
        settings.TestConfig({"FRONTEND_URL": value, "JWT_SECRET_KEY": "x" * 32})


def test_several_origins_are_normalised_and_repeats_dropped():
    config = settings.TestConfig({
        "FRONTEND_URL": "http://localhost:3000/, https://App.example.com ,http://localhost:3000",
        "JWT_SECRET_KEY": "x" * 32,
    })
    assert config.FRONTEND_URLS == ["http://localhost:3000", "https://app.example.com"]


@pytest.mark.backends("sqlite")
def test_cors_then_allows_the_origin_with_credentials_for_the_api_and_the_stream(database_url, redis_server,
                                                                                   localstripe):
    config = make_config(database_url, redis_server.url, localstripe.url)
    config.FRONTEND_URLS = ["http://localhost:3000/"]
    config.validate()
    client = create_app(config).test_client()

    for path in ("/payments", "/payments/stream", "/wallet"):
        preflight = client.options(path, headers={"Origin": "http://localhost:3000",
                                                  "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "Authorization"})
        assert preflight.headers.get("Access-Control-Allow-Origin") == "http://localhost:3000", path
        assert preflight.headers.get("Access-Control-Allow-Credentials") == "true", path
    stranger = client.options("/payments", headers={"Origin": "http://localhost:3001",
                                                    "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


ORIGINS = [
    ("http://localhost:3000/", "http://localhost:3000", ["http://localhost:3001", "http://localhost:30000",
                                                         "http://localhost:3000.evil.example"]),
    ("https://app.example.com", "https://app.example.com", ["https://appxexample.com", "https://app.example.com.evil.example",
                                                            "https://evil-app.example.com"]),
    ("http://[::1]:3000", "http://[::1]:3000", ["http://1:3000", "http://[::2]:3000", "http://::3000"]),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080", ["http://127x0.0.1:8080", "http://127.0.0.1:8080.evil.example"]),
]


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("setting, origin, strangers", ORIGINS, ids=[case[0] for case in ORIGINS])
def test_cors_allows_exactly_the_configured_origin_and_no_look_alike(database_url, redis_server, localstripe,
                                                                       setting, origin, strangers):
    config = make_config(database_url, redis_server.url, localstripe.url)
    config.FRONTEND_URLS = [setting]
    config.validate()
    client = create_app(config).test_client()

    def allowed(value):
        answer = client.options("/wallet", headers={"Origin": value, "Access-Control-Request-Method": "GET"})
        return answer.headers.get("Access-Control-Allow-Origin")

    assert allowed(origin) == origin
    for stranger in strangers:
        assert allowed(stranger) is None, stranger
