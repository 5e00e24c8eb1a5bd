"""Accounts: register, log in, refresh, cookie sessions with CSRF protection, stored hashes."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from payflow.extensions import db
from payflow.models import Payment, User

from .factories import PASSWORD

NEW_PASSWORD = "a long enough secret"


def register(client, email="ana@example.test", role="company", password=NEW_PASSWORD, name="Ana"):
    return client.post("/auth/register", json={"email": email, "password": password, "role": role, "name": name})


def user_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(User))


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    if code:
        assert error["code"] == code
    return error


def set_cookie_headers(response) -> dict:
    """Set-Cookie headers of a response, by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- register ------------------------------------------------------------------------------


def test_registering_returns_the_user_and_tokens_and_sets_an_httponly_access_cookie(client):
    response = register(client, email="Ana@Example.TEST", role="influencer", name="Ana")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["user"]["email"] == "ana@example.test"
    assert body["user"]["role"] == "influencer" and body["user"]["name"] == "Ana"
    assert body["user"]["id"] and body["access_token"] and body["refresh_token"]
    assert "password" not in str(body).lower()

    cookies = set_cookie_headers(response)
    assert "HttpOnly" in cookies["access_token_cookie"]
    assert "HttpOnly" in cookies["refresh_token_cookie"]
    # the double-submit CSRF value must be readable by the page's script
    assert "HttpOnly" not in cookies["csrf_access_token"]

    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["user"]["id"] == body["user"]["id"]


def test_an_email_can_register_only_once_whatever_its_case(client):
    assert register(client, email="dup@example.test").status_code == 201
    again = register(client, email="DUP@example.test", role="influencer")
    assert_error(again, 409, "email_taken")
    assert user_count() == 1


def test_nobody_can_register_as_an_admin(client):
    response = register(client, email="mallory@example.test", role="admin")
    error = assert_error(response, 400)
    assert "role" in error["message"]
    assert user_count() == 0


BAD_REGISTRATIONS = {
    "password of 7 characters": {"password": "short12"},
    "empty password": {"password": ""},
    "email without @": {"email": "not-an-email"},
    "unknown role": {"role": "superuser"},
    "empty name": {"name": ""},
    "password not a string": {"password": 12345678},
}


@pytest.mark.parametrize("case", list(BAD_REGISTRATIONS))
def test_a_registration_with_a_bad_field_is_refused_with_400_and_creates_nobody(client, case):
    body = {"email": "bea@example.test", "password": NEW_PASSWORD, "role": "company", "name": "Bea"}
    body.update(BAD_REGISTRATIONS[case])
    response = client.post("/auth/register", json=body)
    error = assert_error(response, 400, "invalid_request")
    assert next(iter(BAD_REGISTRATIONS[case])) in error["message"]
    assert user_count() == 0


def test_passwords_are_stored_hashed_never_as_plain_text(client):
    response = register(client, email="hash@example.test")
    user = db.session.get(User, response.get_json()["user"]["id"])
    assert NEW_PASSWORD not in user.password_hash
    assert user.password_hash != NEW_PASSWORD
    assert check_password_hash(user.password_hash, NEW_PASSWORD)
    assert not check_password_hash(user.password_hash, NEW_PASSWORD + "x")


# --- login ---------------------------------------------------------------------------------


def test_login_with_the_right_password_returns_working_tokens(app, factory):
    user = factory.user("influencer")
    client = app.test_client()
    response = client.post("/auth/login", json={"email": f"  {user.email.upper()} ", "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["user"]["id"] == user.id and body["user"]["role"] == "influencer"
    assert body["refresh_token"]
    assert "HttpOnly" in set_cookie_headers(response)["access_token_cookie"]
    fresh = app.test_client()
    assert fresh.get("/auth/me", headers=bearer(body["access_token"])).get_json()["user"]["id"] == user.id


def test_a_wrong_password_and_an_unknown_email_get_the_same_401(client, factory):
    user = factory.user("company")
    wrong_password = client.post("/auth/login", json={"email": user.email, "password": PASSWORD + "!"})
    unknown_email = client.post("/auth/login", json={"email": "nobody@example.test", "password": PASSWORD})
    first = assert_error(wrong_password, 401, "invalid_credentials")
    second = assert_error(unknown_email, 401, "invalid_credentials")
    # the answer does not reveal which emails have accounts
    assert first == second
    assert "access_token_cookie" not in set_cookie_headers(wrong_password)


# --- refresh -------------------------------------------------------------------------------


def test_a_refresh_token_gets_a_new_access_token_that_works(app):
    tokens = register(app.test_client(), email="ref@example.test").get_json()
    client = app.test_client(use_cookies=False)
    response = client.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 200, response.get_json()
    access = response.get_json()["access_token"]
    assert access
    me = client.get("/auth/me", headers=bearer(access))
    assert me.status_code == 200
    assert me.get_json()["user"]["id"] == tokens["user"]["id"]


def test_an_access_token_cannot_be_used_to_refresh(app):
    tokens = register(app.test_client(), email="noref@example.test").get_json()
    client = app.test_client(use_cookies=False)
    response = client.post("/auth/refresh", headers=bearer(tokens["access_token"]))
    assert response.status_code in (401, 422), response.get_data(as_text=True)
    assert response.get_json()["error"]["code"]
    assert "access_token" not in response.get_json()


def test_a_refresh_token_is_not_accepted_as_an_access_token(app):
    tokens = register(app.test_client(), email="notaccess@example.test").get_json()
    client = app.test_client(use_cookies=False)
    assert_error(client.get("/auth/me", headers=bearer(tokens["refresh_token"])), 401)


def test_the_browser_refreshes_with_its_refresh_cookie_and_csrf_header(client):
    register(client, email="cookie-refresh@example.test")
    refused = client.post("/auth/refresh")
    assert_error(refused, 401)
    csrf = client.get_cookie("csrf_refresh_token").value
    response = client.post("/auth/refresh", headers={"X-CSRF-TOKEN": csrf})
    assert response.status_code == 200, response.get_json()
    assert "access_token_cookie" in set_cookie_headers(response)


# --- cookie sessions and CSRF ----------------------------------------------------------------


def test_the_access_cookie_alone_authenticates_a_get(client):
    user_id = register(client, email="cookie@example.test").get_json()["user"]["id"]
    response = client.get("/auth/me")  # no Authorization header: the cookie carries the session
    assert response.status_code == 200
    assert response.get_json()["user"]["id"] == user_id


def _payment_body(factory) -> dict:
    influencer = factory.user("influencer")
    return {"influencerId": influencer.id, "amount": 5000, "currency": "usd", "description": "Story"}


def payment_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Payment))


def test_a_post_with_only_the_cookie_and_no_csrf_header_is_refused(client, factory):
    register(client, email="csrf@example.test", role="company")
    response = client.post("/payments", json=_payment_body(factory))
    assert_error(response, 401)
    assert payment_count() == 0


def test_a_post_with_a_wrong_csrf_header_is_refused(client, factory):
    register(client, email="csrf-wrong@example.test", role="company")
    response = client.post("/payments", json=_payment_body(factory), headers={"X-CSRF-TOKEN": "guessed"})
    assert_error(response, 401)
    assert payment_count() == 0


def test_a_post_with_the_cookie_and_its_csrf_value_as_header_works(client, factory):
    register(client, email="csrf-ok@example.test", role="company")
    csrf = client.get_cookie("csrf_access_token").value
    response = client.post("/payments", json=_payment_body(factory), headers={"X-CSRF-TOKEN": csrf})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "PENDING"
    assert payment_count() == 1


def test_logout_ends_the_cookie_session(client):
    register(client, email="bye@example.test")
    assert client.get("/auth/me").status_code == 200
    response = client.post("/auth/logout")
    assert response.status_code == 200
    assert client.get_cookie("access_token_cookie") is None
    assert_error(client.get("/auth/me"), 401)
