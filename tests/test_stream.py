"""GET /payments/stream against real gunicorn processes sharing PostgreSQL and Redis (SPEC §6).

Two web processes run for the whole module; the tests that kill Redis or stop a server
start processes of their own. Updates come from the real paths: a webhook delivered and
applied by an RQ job (in a worker process, or this process's worker class), API calls
served by the web processes, or ``payflow.publisher.publish`` as the jobs call it.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import jwt as pyjwt
import pytest
import requests
from flask_jwt_extended import create_access_token

from devstack import RedisServer, WorkerProcess
from payflow import create_app
from payflow.extensions import db, redis_client
from payflow.models import Payout
from payflow.publisher import publish
from payflow.webhooks import simulate

from .conftest import make_config
from .factories import PASSWORD
from .services import JWT_SECRET
from .stream_helpers import (
    EVENT_NAMES,
    SSEStream,
    bearer,
    server_environment,
    start_web_processes,
)
from .webhook_helpers import deliver, release_test_session, run_jobs, wait_until



STREAM = "/payments/stream"


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def web(migrated_app, database_url, redis_server, localstripe):
    """Process A and process B: two gunicorn masters, one gevent worker each."""
    env = server_environment(database_url, redis_server.url, localstripe.url)
    processes = start_web_processes([env, env])
    yield processes
    for process in processes:
        process.stop()


@pytest.fixture(scope="module")
def short_ttl_web(migrated_app, database_url, redis_server, localstripe):
    """A web process whose stream tokens live one second."""
    env = server_environment(database_url, redis_server.url, localstripe.url, STREAM_TOKEN_TTL_SECONDS=1)
    [process] = start_web_processes([env])
    yield process
    process.stop()


@pytest.fixture
def streams():
    """Opens streams and closes every one of them after the test."""
    opened: list[SSEStream] = []

    def open_stream(process, path: str = STREAM, **kwargs) -> SSEStream:
        stream = SSEStream(process.port, path, **kwargs)
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.close()


def wait_subscribed(user, processes: int = 1, client=None, timeout: float = 10.0) -> None:
    """Until ``processes`` web processes listen on the user's channel: from then on, whatever is
    published for the user reaches every stream of theirs that had registered."""
    client = client or redis_client.client
    channel = f"payflow:live:{user.id}"
    wait_until(lambda: dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= processes, timeout)


def update(user, number: int, **extra) -> str:
    """Publish a payment:update for ``user`` as a job does after its commit; returns its id."""
    data = {"paymentId": f"pay_test{number}", "status": "HELD", "amount": number, "currency": "usd",
            "message": f"update {number}", "owner": user.id, "n": number, "timestamp": "2024-01-01T00:00:00Z"}
    data.update(extra)
    entry_id = publish(user.id, "payment:update", data)
    assert entry_id, "publishing failed"
    return entry_id


def numbers(stream_or_events) -> list[int]:
    events = stream_or_events.events if isinstance(stream_or_events, SSEStream) else stream_or_events
    return [event.json["n"] for event in events]


def get(process, path, **kwargs) -> requests.Response:
    """A request that never hangs on a stream it did not expect (stream=True, then closed)."""
    response = requests.get(process.url + path, stream=True, timeout=5, **kwargs)
    response.close()
    return response


def stream_token(process, headers) -> dict:
    response = requests.post(f"{process.url}/payments/stream/token", headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def succeed_payment_through_the_webhook(app, client, payment) -> None:
    assert deliver(client, simulate.event_for("payment_intent.succeeded", payment=payment)).status_code == 200
    run_jobs(app)


# --- who receives what ---------------------------------------------------------------------


def test_a_user_on_process_a_gets_what_a_worker_process_applies_after_a_webhook_on_process_b_and_another_user_gets_nothing(
    app, web, factory, streams, database_url, redis_server, localstripe
):
    a, b = web
    payment = factory.payment(amount=5000)
    stranger = factory.user("company")
    company = streams(a, headers=factory.headers(payment.company))
    other = streams(a, headers=factory.headers(stranger))
    wait_subscribed(payment.company)
    wait_subscribed(stranger)
    other.wait_heartbeats(1)

    worker = WorkerProcess(server_environment(database_url, redis_server.url, localstripe.url))
    try:
        body, headers = simulate.signed(simulate.event_for("payment_intent.succeeded", payment=payment),
                                        "whsec_test_payflow")
        assert requests.post(f"{b.url}/payments/webhook", data=body, headers=headers, timeout=5).status_code == 200
        [event] = company.wait_events(1, timeout=20)
    finally:
        worker.stop(timeout=15)
        worker.close()

    assert event.event == "payment:update" and event.json["paymentId"] == payment.id
    heartbeats = len(other.heartbeats())
    other.wait_heartbeats(heartbeats + 2)  # two more seconds in which nothing else may arrive
    assert other.events == []
    assert len(company.events) == 1


def test_the_company_and_the_influencer_each_get_their_own_payment_message_and_the_influencer_a_wallet_update(
    app, client, web, factory, streams
):
    a, b = web
    payment = factory.payment(amount=5000, currency="usd")
    company = streams(a, headers=factory.headers(payment.company))
    influencer = streams(b, headers=factory.headers(payment.influencer))
    wait_subscribed(payment.company)
    wait_subscribed(payment.influencer)

    succeed_payment_through_the_webhook(app, client, payment)

    [to_company] = company.wait_events(1)
    to_influencer = influencer.wait_events(2)
    assert to_company.event == "payment:update"
    assert to_company.json["message"] == "Payment Held in Escrow"
    assert {key: to_company.json[key] for key in ("paymentId", "status", "amount", "currency")} == {
        "paymentId": payment.id, "status": "HELD", "amount": 5000, "currency": "usd"}
    assert to_company.json["timestamp"]
    by_name = {event.event: event for event in to_influencer}
    assert set(by_name) == {"payment:update", "wallet:update"}
    assert by_name["payment:update"].json["message"] == "Payment Secured"
    assert by_name["payment:update"].json["paymentId"] == payment.id
    wallet = by_name["wallet:update"].json
    assert wallet["currency"] == "usd" and wallet["pendingBalance"] == 4500 and wallet["availableBalance"] == 0
    assert {"lastTransaction", "timestamp"} <= set(wallet)
    assert all(event.id for event in company.events + influencer.events)


def test_two_tabs_of_one_user_on_different_processes_both_receive_every_event(app, web, factory, streams):
    a, b = web
    user = factory.user("influencer")
    tabs = [streams(a, headers=factory.headers(user)), streams(b, headers=factory.headers(user))]
    wait_subscribed(user, processes=2)

    ids = [update(user, number) for number in range(3)]

    for tab in tabs:
        tab.wait_events(3)
        assert [event.id for event in tab.events] == ids
        assert numbers(tab) == [0, 1, 2]


def test_two_tabs_of_one_user_on_the_same_process_both_receive_and_closing_one_leaves_the_other_live(
    app, web, factory, streams
):
    a, _ = web
    user = factory.user("influencer")
    first, second = streams(a, headers=factory.headers(user)), streams(a, headers=factory.headers(user))
    wait_subscribed(user)
    first.wait_heartbeats(1)
    second.wait_heartbeats(1)  # both registered with the process's broker

    update(user, 1)
    first.wait_events(1)
    second.wait_events(1)
    both = a.metric("payflow_streams_open")
    first.close()
    a.wait_metric("payflow_streams_open", lambda value: value <= both - 1)  # the server let the tab go
    time.sleep(0.2)  # and its broker acted on it
    update(user, 2)
    second.wait_events(2)
    assert numbers(second) == [1, 2]


def test_every_event_of_a_payment_and_payout_lifecycle_is_a_known_kind_with_an_id(
    app, client, web, factory, streams
):
    a, b = web
    payment = factory.payment(amount=20000, currency="eur")
    company = streams(a, headers=factory.headers(payment.company))
    influencer = streams(b, headers=factory.headers(payment.influencer))
    resynced = streams(a, headers={**factory.headers(payment.influencer), "Last-Event-ID": "garbage"})
    wait_subscribed(payment.company)
    wait_subscribed(payment.influencer, processes=2)

    succeed_payment_through_the_webhook(app, client, payment)
    released = requests.post(f"{b.url}/payments/{payment.id}/release", headers=factory.headers(payment.company), timeout=10)
    assert released.status_code == 200, released.text
    paid_out = requests.post(f"{a.url}/payouts", json={"amount": 1000, "currency": "eur"},
                             headers=factory.headers(payment.influencer), timeout=10)
    assert paid_out.status_code == 201, paid_out.text
    release_test_session()  # a fresh read: the payout was committed by another process
    payout = db.session.get(Payout, paid_out.json()["id"])
    assert deliver(client, simulate.event_for("payout.paid", payout=payout)).status_code == 200
    run_jobs(app)

    influencer.wait(lambda: "payout:update" in influencer.names(), what="a payout:update")
    resynced.wait(lambda: "payout:update" in resynced.names(), what="a payout:update")
    time.sleep(0.5)
    everything = company.events + influencer.events + resynced.events
    assert {event.event for event in everything} <= EVENT_NAMES
    assert {"payment:update", "wallet:update", "payout:update", "resync"} == {event.event for event in everything}
    assert all(event.id for event in everything if event.event != "resync")
    assert [event.id for event in influencer.events] == [event.id for event in resynced.events[1:]]
    payout_update = next(event for event in influencer.events if event.event == "payout:update").json
    assert payout_update["payoutId"] == payout.id and payout_update["amount"] == 1000
    assert {"status", "currency", "message", "timestamp"} <= set(payout_update)
    assert "payout:update" not in company.names()


# --- resuming ------------------------------------------------------------------------------


def test_a_reconnect_with_last_event_id_replays_the_three_missed_events_in_order_then_goes_on_live_without_a_duplicate(
    app, web, factory, streams
):
    a, b = web
    user = factory.user("influencer")
    first = streams(a, headers=factory.headers(user))
    wait_subscribed(user)
    seen = update(user, 1)
    assert first.wait_events(1)[0].id == seen
    first.close()

    missed = [update(user, number) for number in (2, 3, 4)]
    again = streams(b, headers={**factory.headers(user), "Last-Event-ID": seen})
    again.wait_events(3)
    wait_subscribed(user)
    live = update(user, 5)
    again.wait_events(4)
    again.wait_heartbeats(len(again.heartbeats()) + 1)  # time for a duplicate to show

    assert [event.id for event in again.events] == missed + [live]
    assert numbers(again) == [2, 3, 4, 5]


def test_the_last_event_id_query_parameter_resumes_like_the_header(app, web, factory, streams):
    a, b = web
    user = factory.user("company")
    seen = update(user, 1)
    missed = [update(user, 2), update(user, 3)]

    resumed = streams(b, f"{STREAM}?lastEventId={seen}", headers=factory.headers(user))
    resumed.wait_events(2)
    wait_subscribed(user)
    live = update(user, 4)
    resumed.wait_events(3)

    assert [event.id for event in resumed.events] == missed + [live]
    assert "resync" not in resumed.names()


def test_reconnecting_again_and_again_under_a_steady_flow_of_events_loses_none_and_repeats_none(
    app, web, factory, streams
):
    user = factory.user("influencer")
    headers = factory.headers(user)
    published: list[str] = []
    stop = threading.Event()

    def produce():
        with app.app_context():
            while not stop.is_set():
                published.append(update(user, len(published)))
                time.sleep(0.01)

    stream = streams(web[0], headers=headers)
    wait_subscribed(user)
    producer = threading.Thread(target=produce)
    producer.start()
    received = []
    try:
        for hop in range(1, 7):  # from A to B and back, each time with the last id seen
            stream.wait(lambda: len(stream.events) >= 1, what="an event before hopping")
            time.sleep(0.15)
            stream.close()
            received += stream.events
            stream = streams(web[hop % 2], headers={**headers, "Last-Event-ID": received[-1].id})
    finally:
        stop.set()
        producer.join(20)
    stream.wait(lambda: (received + stream.events)[-1].id == published[-1], timeout=15, what="the last event")
    time.sleep(0.2)  # time for a duplicate to show
    received += stream.events

    assert len(published) > 60
    assert "resync" not in [event.event for event in received]
    assert [event.id for event in received] == published
    assert numbers(received) == list(range(len(published)))


@pytest.mark.parametrize("last_id", ["1-0", "0-0", "99999999999999-0"])
def test_an_id_older_or_newer_than_the_history_gets_a_resync_without_an_id_and_then_live_events(
    app, web, factory, streams, last_id
):
    a, _ = web
    user = factory.user("company")
    update(user, 1)  # the user has a history, which last_id is not in
    stream = streams(a, headers={**factory.headers(user), "Last-Event-ID": last_id})
    [resync] = stream.wait_events(1)
    assert resync.event == "resync" and resync.id is None
    assert resync.json["reason"]
    # A bare id: line then gives the browser a place in the history to resume from.
    wait_until(lambda: stream.last_event_id not in (None, last_id), timeout=5)

    wait_subscribed(user)
    live = update(user, 2)
    stream.wait_events(2)
    assert [(event.event, event.id) for event in stream.events[1:]] == [("payment:update", live)]


@pytest.mark.parametrize("last_id", ["garbage", "-", "+", "(0-0", "1-0-0", "1" * 60 + "-0", "１-0", "1²-0",
                                     "18446744073709551616-0", "18446744073709551615-18446744073709551615"])
def test_a_garbage_last_event_id_gets_a_resync(app, web, factory, streams, last_id):
    a, b = web
    user = factory.user("company")
    update(user, 1)
    by_header = streams(a, headers={**factory.headers(user), "Last-Event-ID": last_id})
    by_query = streams(b, f"{STREAM}?lastEventId={requests.utils.quote(last_id)}", headers=factory.headers(user))
    for stream in (by_header, by_query):
        [resync] = stream.wait_events(1)
        assert (resync.event, resync.id) == ("resync", None)
        assert "reason" in resync.json
        assert stream.status == 200


def test_a_user_without_history_who_sends_an_id_gets_a_resync(app, web, factory, streams):
    a, _ = web
    user = factory.user("company")
    stream = streams(a, headers={**factory.headers(user), "Last-Event-ID": "1700000000000-0"})
    [resync] = stream.wait_events(1)
    assert (resync.event, resync.id) == ("resync", None)


# --- the wire ------------------------------------------------------------------------------


def test_the_first_bytes_are_a_retry_field_and_a_comment_sent_at_once(app, web, factory, streams):
    a, _ = web
    user = factory.user("company")
    stream = streams(a, headers=factory.headers(user))
    stream.wait(lambda: stream.first_body_at is not None, what="the first bytes")
    assert stream.first_body_at - stream.opened_at < 0.75  # the first heartbeat is a second away
    first_lines = stream.body.decode().split("\n")
    assert first_lines[0].startswith("retry: ") and first_lines[0][len("retry: "):].isdigit()
    assert first_lines[1].startswith(":")


def test_an_idle_stream_gets_a_heartbeat_comment_every_second(app, web, factory, streams):
    a, _ = web
    user = factory.user("company")
    stream = streams(a, headers=factory.headers(user))
    stream.wait_heartbeats(3, timeout=6)
    beats = stream.heartbeats()
    gaps = [later - earlier for earlier, later in zip(beats, beats[1:])]
    assert all(0.5 < gap < 2.0 for gap in gaps), gaps
    assert stream.events == [] and not stream.ended


def test_the_stream_response_is_an_uncached_unbuffered_uncompressed_event_stream(app, web, factory, streams):
    a, _ = web
    user = factory.user("company")
    stream = streams(a, headers=factory.headers(user))  # it asks for gzip, deflate and br
    stream.wait_open()
    assert stream.headers["content-type"].split(";")[0].strip() == "text/event-stream"
    assert "no-cache" in stream.headers["cache-control"]
    assert stream.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in stream.headers
    assert "content-length" not in stream.headers


def test_data_lines_are_split_only_at_cr_lf_or_crlf(app, web, factory, streams):
    a, _ = web
    user = factory.user("company")
    stream = streams(a, headers=factory.headers(user))
    wait_subscribed(user)
    text = "line\u2028separator\u2029paragraph\u0085next\u000bvt\u000cff\u001cfs"
    update(user, 1, message=text)
    [event] = stream.wait_events(1)
    assert event.json["message"] == text


def test_metrics_of_a_web_process_count_its_open_streams(app, web, factory, streams):
    a, b = web
    user = factory.user("company")
    before = a.wait_metric("payflow_streams_open", lambda value: value == 0)  # earlier tests' streams gone
    opened = [streams(a, headers=factory.headers(user)) for _ in range(2)]
    a.wait_metric("payflow_streams_open", lambda value: value == before + 2)
    b.wait_metric("payflow_streams_open", lambda value: value == 0)  # each process counts its own
    for stream in opened:
        stream.close()
    a.wait_metric("payflow_streams_open", lambda value: value == before)


# --- authentication ------------------------------------------------------------------------


def _expired_stream_token(user) -> str:
    """A stream token minted as the servers mint them, from an access token that expired a minute ago."""
    from payflow.stream.routes import _mint_stream_token

    token, expires_at = _mint_stream_token(user, int(time.time()) - 60)
    assert expires_at < time.time()
    return token


def _forged_stream_token(user) -> str:
    """The claims of a stream token, signed with the access-token key."""
    now = int(time.time())
    return pyjwt.encode({"sub": user.id, "aud": "payflow:stream", "iat": now, "exp": now + 60, "access_exp": now + 600},
                        JWT_SECRET, algorithm="HS256")


CREDENTIALS = {
    "no credentials": lambda user: ({}, ""),
    "a garbage bearer token": lambda user: (bearer("not.a.token"), ""),
    "a bearer token signed with another key": lambda user: (
        bearer(pyjwt.encode({"sub": user.id, "type": "access", "exp": int(time.time()) + 600},
                            "another-secret-key-long-enough-for-hs256", algorithm="HS256")), ""),
    "an expired access token": lambda user: (
        bearer(create_access_token(identity=user, expires_delta=timedelta(seconds=-60))), ""),
    "a garbage stream token": lambda user: ({}, "?token=garbage"),
    "an expired stream token": lambda user: ({}, f"?token={_expired_stream_token(user)}"),
    "an access token as the stream token": lambda user: ({}, f"?token={create_access_token(identity=user)}"),
    "a stream token signed with the access-token key": lambda user: ({}, f"?token={_forged_stream_token(user)}"),
    "a garbage login cookie": lambda user: ({"Cookie": "access_token_cookie=garbage"}, ""),
}


@pytest.mark.parametrize("credentials", list(CREDENTIALS))
def test_a_stream_without_valid_credentials_is_refused_with_401_before_it_starts(app, web, factory, credentials):
    a, _ = web
    user = factory.user("company")
    headers, query = CREDENTIALS[credentials](user)
    response = get(a, STREAM + query, headers=headers)
    assert response.status_code == 401
    assert not response.headers["Content-Type"].startswith("text/event-stream")


def test_a_stream_token_opens_its_users_stream_and_any_number_of_them(app, web, factory, streams):
    a, b = web
    user = factory.user("influencer")
    issued = stream_token(a, factory.headers(user))
    assert set(issued) >= {"token", "expiresAt", "expiresIn"}
    assert 0 < issued["expiresIn"] <= 60

    tabs = [streams(a, f"{STREAM}?token={issued['token']}"), streams(b, f"{STREAM}?token={issued['token']}")]
    wait_subscribed(user, processes=2)
    entry_id = update(user, 7)
    for tab in tabs:
        [event] = tab.wait_events(1)
        assert (event.id, event.json["n"]) == (entry_id, 7)


def test_a_stream_token_is_not_accepted_as_a_bearer_token_anywhere_else(app, web, factory):
    a, _ = web
    user = factory.user("influencer")
    token = stream_token(a, factory.headers(user))["token"]
    assert get(a, "/payments", headers=bearer(token)).status_code == 401
    assert get(a, "/auth/me", headers=bearer(token)).status_code == 401
    assert requests.post(f"{a.url}/payments/stream/token", headers=bearer(token), timeout=5).status_code == 401
    assert get(a, "/payments", headers=factory.headers(user)).status_code == 200  # the same user, properly


def test_a_stream_token_never_opens_another_users_stream_whatever_last_id_it_sends(app, web, factory, streams):
    a, b = web
    alice, bob = factory.user("company"), factory.user("influencer")
    bobs_ids = [update(bob, number) for number in range(3)]
    token = stream_token(a, factory.headers(alice))["token"]

    resumed = [streams(a, f"{STREAM}?token={token}&lastEventId={bobs_ids[0]}"),
               streams(b, f"{STREAM}?token={token}", headers={"Last-Event-ID": bobs_ids[0]}),
               streams(b, f"{STREAM}?token={token}", headers=factory.headers(bob))]
    bobs_own = [streams(process, headers=factory.headers(bob)) for process in (a, b)]  # bob is live on both
    for stream in resumed:
        stream.wait_open()
    wait_subscribed(alice, processes=2)
    wait_subscribed(bob, processes=2)
    time.sleep(0.3)  # every stream registered
    update(bob, 3)
    mine = update(alice, 4)
    for stream in bobs_own:
        assert numbers(stream.wait_events(1)) == [3]
    for stream in resumed:
        stream.wait(lambda: mine in [event.id for event in stream.events], what="alice's own event")
        assert all(event.json.get("owner") == alice.id for event in stream.events if event.event != "resync")
        assert [event.event for event in stream.events if event.event == "payment:update"] == ["payment:update"]


def test_a_stream_token_is_refused_after_its_ttl_but_a_stream_it_opened_lives_on(
    app, short_ttl_web, factory, streams
):
    user = factory.user("company")
    issued = stream_token(short_ttl_web, factory.headers(user))
    assert issued["expiresIn"] <= 1
    opened = streams(short_ttl_web, f"{STREAM}?token={issued['token']}")
    opened.wait_open()
    time.sleep(2.1)
    assert get(short_ttl_web, f"{STREAM}?token={issued['token']}").status_code == 401
    wait_subscribed(user)
    update(user, 1)
    opened.wait_events(1)
    assert not opened.ended


def test_the_login_cookie_opens_a_stream(app, web, factory, streams):
    a, b = web
    user = factory.user("influencer")
    session = requests.Session()
    login = session.post(f"{b.url}/auth/login", json={"email": user.email, "password": PASSWORD}, timeout=10)
    assert login.status_code == 200, login.text
    assert "access_token_cookie" in session.cookies
    cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)

    stream = streams(a, headers={"Cookie": cookie})
    wait_subscribed(user)
    entry_id = update(user, 1)
    assert stream.wait_events(1)[0].id == entry_id
    # The cookie also buys a stream token, with the CSRF double submit that guards every cookie POST.
    assert session.post(f"{a.url}/payments/stream/token", timeout=5).status_code == 401
    issued = session.post(f"{a.url}/payments/stream/token", timeout=5,
                          headers={"X-CSRF-TOKEN": session.cookies["csrf_access_token"]})
    assert issued.status_code == 200 and issued.json()["token"]


def test_a_stream_ends_when_the_access_token_it_was_opened_with_expires(app, web, factory, streams):
    a, b = web
    user = factory.user("company")
    short = create_access_token(identity=user, expires_delta=timedelta(seconds=2))
    by_header = streams(a, headers=bearer(short))
    by_token = streams(b, f"{STREAM}?token={stream_token(b, bearer(short))['token']}")
    for stream in (by_header, by_token):
        stream.wait_open()
    for stream in (by_header, by_token):
        stream.wait_ended(timeout=5)
        assert stream.ended_cleanly
        assert stream.status == 200 and not stream.events
        assert time.monotonic() - stream.opened_at < 4.5


# --- failures and shutdown -----------------------------------------------------------------


def _reopen_until_live(process, headers, last_id: str | None, timeout: float = 20.0) -> SSEStream:
    """As the client library does: reconnect (with the last id) until a stream stays open."""
    deadline = time.monotonic() + timeout
    while True:
        stream = SSEStream(process.port, headers={**headers, **({"Last-Event-ID": last_id} if last_id else {})})
        try:
            stream.wait_heartbeats(1, timeout=3)
            return stream
        except AssertionError:
            stream.close()
            assert stream.status in (None, 200), stream.status
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_after_a_redis_restart_open_streams_end_and_clients_resume_with_a_resync_then_live_events(
    app, database_url, localstripe, factory
):
    private = RedisServer()
    publisher_app = create_app(make_config(database_url, private.url, localstripe.url))
    env = server_environment(database_url, private.url, localstripe.url)
    processes = start_web_processes([env, env])
    opened: list[SSEStream] = []
    try:
        user = factory.user("influencer")
        headers = factory.headers(user)
        opened += [SSEStream(process.port, headers=headers) for process in processes]
        with publisher_app.app_context():
            wait_subscribed(user, processes=2, client=redis_client.client)
            first = update(user, 1)
        for stream in opened:
            assert stream.wait_events(1)[0].id == first

        private.kill()
        private.start()
        for stream in opened:
            stream.wait_ended(timeout=10)
            assert stream.status == 200 and stream.ended_cleanly  # ended by the server, not cut off

        resumed = [_reopen_until_live(process, headers, stream.last_event_id)
                   for process, stream in zip(processes, opened)]
        opened += resumed
        with publisher_app.app_context():
            wait_subscribed(user, processes=2, client=redis_client.client)
            after = update(user, 2)
        for stream in resumed:
            stream.wait_events(2)
            assert [(event.event, event.id) for event in stream.events] == [("resync", None), ("payment:update", after)]
    finally:
        for stream in opened:
            stream.close()
        for process in processes:
            process.stop()
        private.stop()


def test_sigterm_ends_open_streams_promptly_and_reconnects_are_never_answered_503_or_204(
    app, database_url, redis_server, localstripe, factory
):
    [server] = start_web_processes([server_environment(database_url, redis_server.url, localstripe.url,
                                                       GRACEFUL_TIMEOUT=20)])
    user = factory.user("influencer")
    headers = factory.headers(user)
    opened = [SSEStream(server.port, headers=headers) for _ in range(3)]
    statuses = []
    try:
        for stream in opened:
            stream.wait_heartbeats(1)
        server.terminate()
        signalled = time.monotonic()
        # A client that reconnects at once, again and again, as long as the server answers.
        while time.monotonic() - signalled < 6 and server.process.poll() is None:
            try:
                retry = SSEStream(server.port, headers=headers)
            except OSError:
                break  # no longer listening: the browser goes to another process
            opened.append(retry)
            retry.wait(lambda: retry.status is not None or retry.ended, timeout=10, what="an answer")
            statuses.append(retry.status)
            try:
                retry.wait_ended(timeout=8)
            except AssertionError:
                break
            time.sleep(0.05)
        for stream in opened:
            stream.wait_ended(timeout=max(0.1, 6 - (time.monotonic() - signalled)))
        ended_after = time.monotonic() - signalled
        server.process.wait(timeout=10)
        exited_after = time.monotonic() - signalled
    finally:
        for stream in opened:
            stream.close()
        server.stop()

    assert all(status in (None, 200) for status in statuses), statuses
    assert all(stream.status == 200 and stream.ended_cleanly for stream in opened[:3])
    assert all(any("shutting down" in text for text, _ in stream.comments) for stream in opened[:3])
    assert ended_after < 5
    # Ended streams' connections may idle out their keep-alive (5 s); the grace period is 20 s.
    assert exited_after < 12, "the worker sat out its graceful timeout"


def test_a_client_too_slow_to_read_is_dropped_without_holding_up_another_stream(app, web, factory, streams):
    a, _ = web
    slow_user, other_user = factory.user("influencer"), factory.user("company")
    slow = streams(a, headers=factory.headers(slow_user), rcvbuf=4096, read=False)
    other = streams(a, headers=factory.headers(other_user))
    wait_subscribed(slow_user)
    wait_subscribed(other_user)
    dropped_before = a.metric("payflow_stream_clients_dropped_total")
    padding = "x" * 16000
    sent = 0
    while a.metric("payflow_stream_clients_dropped_total") == dropped_before:
        for _ in range(100):
            update(slow_user, sent, padding=padding)
            sent += 1
        assert sent < 5000, "the slow stream was never dropped"
    # Another user's stream on the same process is not held up.
    started = time.monotonic()
    update(other_user, 1)
    other.wait_events(1, timeout=3)
    assert time.monotonic() - started < 1.5
    assert a.metric("payflow_stream_clients_dropped_total") == dropped_before + 1

    slow.start_reading()
    slow.wait_ended(timeout=20)
    # The server hangs up on it (a writer blocked on a full socket would never see a polite end).
    assert slow.status == 200
    assert 0 < len(slow.events) < sent
    assert numbers(slow) == list(range(len(slow.events)))  # what it got, it got in order
    resumed = streams(a, headers={**factory.headers(slow_user), "Last-Event-ID": slow.last_event_id})
    resumed.wait_events(sent - len(slow.events), timeout=20)
    assert numbers(resumed) == list(range(len(slow.events), sent))


def test_a_dropped_slow_client_stops_counting_as_an_open_stream_even_if_it_never_reads_again(
    app, web, factory, streams
):
    a, _ = web
    slow_user = factory.user("influencer")
    open_before = a.wait_metric("payflow_streams_open", lambda value: value == 0)  # earlier tests' streams gone
    streams(a, headers=factory.headers(slow_user), rcvbuf=4096, read=False)
    wait_subscribed(slow_user)
    a.wait_metric("payflow_streams_open", lambda value: value == open_before + 1)
    dropped_before = a.metric("payflow_stream_clients_dropped_total")
    sent = 0
    while a.metric("payflow_stream_clients_dropped_total") == dropped_before:
        for _ in range(100):
            update(slow_user, sent, padding="x" * 16000)
            sent += 1
        assert sent < 5000, "the slow stream was never dropped"
    a.wait_metric("payflow_streams_open", lambda value: value == open_before, timeout=5)


def test_a_stream_that_received_nothing_yet_still_resumes_and_learns_of_lost_history(app, web, factory, streams):
    """A fresh stream is given a position (a bare id: line, as the SSE rules allow): reconnecting
    from it replays what was published meanwhile, and an unknown position gets a resync."""
    a, b = web
    user = factory.user("influencer")
    first = streams(a, headers=factory.headers(user))
    first.wait_open()
    wait_until(lambda: first.last_event_id is not None, timeout=5)
    start = first.last_event_id
    first.close()
    update(user, 1)
    update(user, 2)
    resumed = streams(b, headers={**factory.headers(user), "Last-Event-ID": start})
    replayed = resumed.wait_events(2)
    assert [e.json["n"] for e in replayed] == [1, 2]
