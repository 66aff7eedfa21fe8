"""`suggest serve` through a real HTTP client against a real uvicorn process on loopback."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from conftest import TOKEN, Server, invoke, start_server, stop_server  # noqa: E402

from suggest import Engine  # noqa: E402
from suggest.batch import process_line  # noqa: E402
from suggest.sources import bundled_dir  # noqa: E402


def post(server: Server, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=30, **kwargs)


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    assert isinstance(data["error"], str) and data["error"]
    assert "Traceback" not in response.text
    return data


# -- the endpoints ---------------------------------------------------------------------------

def test_analyze_gives_the_cli_json_shape(server: Server) -> None:
    response = post(server, "/v1/analyze", {"text": "能便宜点吗", "history": ["这个拍了还没付款"], "top": 2})
    assert response.status_code == 200
    data = response.json()
    expected = Engine().analyze("能便宜点吗", ["这个拍了还没付款"], top=2).to_dict()
    data.pop("timings_ms"), expected.pop("timings_ms")
    assert data == expected
    assert "bargain" in [m["id"] for m in data["intents"]] and len(data["replies"]) == 2


def test_explain_and_review(server: Server) -> None:
    explained = post(server, "/v1/explain", {"text": "包油吗"}).json()
    assert explained["analysis"]["intents"][0]["id"] == "shipping"
    assert any(rule["id"] == "shipping" for rule in explained["rules"]) and explained["tokens"]
    reviewed = post(server, "/v1/review", {"draft": "不讲价，爱买不买", "buyer_message": "能便宜点吗"}).json()
    assert reviewed["ok"] is False and reviewed["problems"]
    clean = post(server, "/v1/review", {"draft": "亲，这款已经是活动价了，可以领店铺券再减5元哦"}).json()
    assert clean["ok"] is True


def test_batch_streams_records_in_order_like_suggest_batch(server: Server) -> None:
    lines = [b'{"text": "\xe5\x8c\x85\xe9\x82\xae\xe5\x90\x97", "id": 7}', b"not json", b"",
             b'{"text": "   "}', b'{"history": []}', b'{"text": "\xe5\x9c\xa8\xe5\x90\x97"}', b"\xff\xfe"]
    body = b"\n".join(lines)  # no final newline
    with httpx.stream("POST", server.url + "/v1/batch", content=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        got = [json.loads(line) for line in response.iter_lines() if line]
    engine = Engine()
    expected = [process_line(engine, n, raw) for n, raw in enumerate(lines, 1) if raw.strip()]
    for record in got + expected:
        record.pop("timings_ms", None)
    assert got == expected
    assert [r["line"] for r in got] == [1, 2, 4, 5, 6, 7]
    assert "error" in got[1] and got[2]["empty"] is True and "error" not in got[4]  # spaces only: empty


def test_packs_and_healthz(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    packs = httpx.get(server.url + "/v1/packs").json()
    assert "shipping" in packs["intents"] and packs["names"]["shipping"] == "快递物流"
    assert packs["counts"]["intents"] == len(packs["intents"]) and packs["counts"]["replies"] > 50
    assert len(packs["fingerprint"]) == 16 and packs["load_ms"] > 0


def test_openapi_schema_lists_the_endpoints(server: Server) -> None:
    schema = httpx.get(server.url + "/openapi.json").json()
    assert {"/v1/analyze", "/v1/explain", "/v1/review", "/v1/batch", "/v1/packs", "/v1/reload",
            "/healthz"} <= set(schema["paths"])
    analyze = schema["paths"]["/v1/analyze"]["post"]
    assert {"200", "400", "413"} <= set(analyze["responses"]) and "422" not in analyze["responses"]
    assert httpx.get(server.url + "/docs").status_code == 404  # no page that would load a CDN


# -- bad input: a 4xx with a JSON error, never a 500 ------------------------------------------------

@pytest.mark.parametrize(("body", "needle"), [
    (b"{not json", "not valid JSON"),
    (b'{"text": 12}', "text"),
    (b'{"text": "ok", "history": "one string"}', "history"),
    (b'{"text": "ok", "history": [1, 2]}', "history"),
    (b'{"text": "ok", "top": -1}', "top"),
    (b'{"text": "ok", "top": 999}', "top"),
    (b'{"text": "ok", "file": "/etc/passwd"}', "file"),
    (b'["text"]', "expected"),
    (b'{}', "text"),
    (b'{"text": "   "}', "empty"),
    (b'{"text": "[\\u56fe\\u7247]"}', "empty"),
    (b'"\xff\xfe"', "JSON"),
])
def test_bad_bodies_get_400_with_a_json_error(server: Server, body: bytes, needle: str) -> None:
    response = httpx.post(server.url + "/v1/analyze", content=body, headers={"content-type": "application/json"})
    data = assert_error(response, 400)
    assert needle in data["error"] + " ".join(data["problems"])


def test_a_body_that_is_not_json_says_to_send_json(server: Server) -> None:
    response = httpx.post(server.url + "/v1/analyze", content=b"text=hi",
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert "JSON" in assert_error(response, 400)["error"]


def test_too_many_history_items(server: Server) -> None:
    data = assert_error(post(server, "/v1/analyze", {"text": "那M呢", "history": ["多大尺码"] * 101}), 400)
    assert "history" in data["error"]
    assert post(server, "/v1/analyze", {"text": "那M呢", "history": ["多大尺码"] * 100}).status_code == 200


def test_body_over_the_limit_is_413_declared_or_chunked(server: Server) -> None:
    big = json.dumps({"text": "包邮吗" * 400_000}).encode("utf-8")  # about 3.6 MB
    assert_error(httpx.post(server.url + "/v1/analyze", content=big,
                            headers={"content-type": "application/json"}), 413)

    def chunks() -> Any:  # no Content-Length: the limit must hold while reading
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    assert_error(httpx.post(server.url + "/v1/analyze", content=chunks(),
                            headers={"content-type": "application/json"}), 413)
    assert_error(httpx.post(server.url + "/v1/batch", content=b'{"text": "x"}\n' * 100_000), 413)


def read_answer(raw: socket.socket) -> bytes:
    answer = b""
    while True:
        try:
            piece = raw.recv(4096)
        except ConnectionResetError:
            break
        if not piece:
            break
        answer += piece
    return answer


@pytest.mark.parametrize("trickle", [False, True])
def test_a_slow_client_gets_408(server: Server, trickle: bool) -> None:
    """A body that stops coming, or comes a byte at a time: the whole body is due in 1 s here."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{\"text\": ")
        started = time.monotonic()
        if trickle:
            # a byte every 0.25 s for up to 4 s: each piece in time, the whole body not
            for _ in range(16):
                if select.select([raw], [], [], 0.25)[0]:
                    break  # the server answered
                try:
                    raw.sendall(b" ")
                except OSError:
                    break
        else:
            select.select([raw], [], [], 10)
        answered_after = time.monotonic() - started
        answer = read_answer(raw)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert answered_after < 2.5  # the server's --read-timeout is 1 s, for the whole body
    assert b'"error"' in answer


def test_unknown_paths_and_methods_are_json(server: Server) -> None:
    assert_error(httpx.get(server.url + "/v1/nothing"), 404)
    assert_error(httpx.get(server.url + "/v1/analyze"), 405)
    assert_error(httpx.get(server.url + "/console/..%2f..%2fpyproject.toml"), 404)
    assert_error(httpx.get(server.url + "/console/serve.py"), 404)


def test_console_page_and_assets_are_served_offline(server: Server) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "客服回复助手" in page.text
    for asset in ("/console/console.js", "/console/console.css"):
        assert httpx.get(server.url + asset).status_code == 200
    # offline: nothing on the page is fetched from another host
    for text in (page.text, httpx.get(server.url + "/console/console.js").text):
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


# -- reload ----------------------------------------------------------------------------------------

def break_pack(packs: Path) -> Path:
    target = packs / "intents" / "greeting.yaml"
    target.write_text("id: greeting\nkeywords: [在吗, 你好\n", encoding="utf-8")
    return target


def restore_pack(packs: Path) -> None:
    shutil.copy(bundled_dir("intents") / "greeting.yaml", packs / "intents" / "greeting.yaml")


def test_reload_refuses_a_broken_pack_and_keeps_answering(server: Server) -> None:
    before = httpx.get(server.url + "/v1/packs").json()
    broken = break_pack(server.packs)
    try:
        response = httpx.post(server.url + "/v1/reload", timeout=60)
        data = assert_error(response, 409)
        assert data["problems"] and data["problems"][0].startswith(f"{broken}:3:"), data
        answer = post(server, "/v1/analyze", {"text": "在吗"}).json()
        assert [m["id"] for m in answer["intents"]] == ["greeting"]  # the old packs
        assert httpx.get(server.url + "/v1/packs").json()["fingerprint"] == before["fingerprint"]
    finally:
        restore_pack(server.packs)
    ok = httpx.post(server.url + "/v1/reload", timeout=60)
    assert ok.status_code == 200 and ok.json()["reloads"] == before["reloads"] + 1


def test_reload_under_load_loses_no_request(server: Server) -> None:
    stop = threading.Event()
    results: list[tuple[int, list[str]]] = []
    failures: list[str] = []

    def hammer() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set() and len(results) < 20_000:  # bounded
                try:
                    response = client.post("/v1/analyze", json={"text": "在吗 包邮吗"})
                    results.append((response.status_code, [m["id"] for m in response.json()["intents"]]))
                except (httpx.HTTPError, ValueError) as exc:
                    failures.append(repr(exc))

    thread = threading.Thread(target=hammer)
    thread.start()
    statuses = []
    try:
        for _ in range(2):
            break_pack(server.packs)
            statuses.append(httpx.post(server.url + "/v1/reload", timeout=60).status_code)
            restore_pack(server.packs)
            statuses.append(httpx.post(server.url + "/v1/reload", timeout=60).status_code)
    finally:
        restore_pack(server.packs)
        time.sleep(0.2)
        stop.set()
        thread.join(60)
    assert statuses == [409, 200, 409, 200]
    assert not failures, failures[:3]
    assert len(results) > 20
    assert all(status == 200 and sorted(ids) == ["greeting", "shipping"] for status, ids in results), \
        [r for r in results if r[0] != 200 or sorted(r[1]) != ["greeting", "shipping"]][:3]


def test_sighup_reloads_the_packs(server: Server) -> None:
    before = httpx.get(server.url + "/v1/packs").json()["reloads"]
    os.kill(server.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while httpx.get(server.url + "/v1/packs").json()["reloads"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(server.url + "/v1/packs").json()["reloads"] == before + 1
    assert "SIGHUP: packs reloaded" in server.log_text()
    assert server.process.poll() is None  # SIGHUP reloads, it does not stop the server


# -- token, binding, shutdown -------------------------------------------------------------------------

def test_token_protects_everything_but_healthz_and_the_static_page(guarded: Server) -> None:
    assert httpx.get(guarded.url + "/healthz").status_code == 200
    assert httpx.get(guarded.url + "/").status_code == 200  # the page asks for the token itself
    for method, path in (("POST", "/v1/analyze"), ("GET", "/v1/packs"), ("POST", "/v1/reload"),
                         ("GET", "/openapi.json"), ("POST", "/v1/batch")):
        response = httpx.request(method, guarded.url + path, json={"text": "包邮吗"})
        assert_error(response, 401)
        wrong = httpx.request(method, guarded.url + path, json={"text": "包邮吗"},
                              headers={"authorization": "Bearer s3cret-tokem"})
        assert_error(wrong, 401)
    right = httpx.post(guarded.url + "/v1/analyze", json={"text": "包邮吗"},
                       headers={"authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and right.json()["intents"][0]["id"] == "shipping"


def test_refuses_a_public_bind_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUGGEST_TOKEN", raising=False)
    result = invoke(["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "token" in result.stderr and "--insecure" in result.stderr


def test_broken_packs_stop_serve_before_it_binds(broken_intents: tuple[Path, Path]) -> None:
    folder, target = broken_intents
    result = invoke(["serve", "--intents", str(folder), "--port", "1"])
    assert result.exit_code == 2 and f"{target}:" in result.stderr and "Traceback" not in result.stderr


def test_sigterm_finishes_the_request_in_flight_and_exits_0(tmp_path: Path) -> None:
    running = start_server(tmp_path, "--grace", "20", copy_packs=False)
    host, port = running.url.removeprefix("http://").split(":")
    body = json.dumps({"text": "包邮吗 几天能到"}, ensure_ascii=False).encode("utf-8")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            # a request in flight: headers and half the body sent when SIGTERM comes
            raw.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
            time.sleep(0.3)
            running.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(httpx.HTTPError):  # no new connections once it is stopping
                httpx.get(running.url + "/healthz", timeout=2)
            raw.sendall(body[10:])
            answer = b""
            while True:
                piece = raw.recv(65536)
                if not piece:
                    break
                answer += piece
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer[:200]
        assert json.loads(payload)["intents"][0]["id"] == "shipping"
        assert running.process.wait(30) == 0
    finally:
        stop_server(running)


def test_with_two_workers_a_reload_reaches_both(guarded: Server) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}

    def reloads_by_worker(wanted: int) -> dict[int, int]:
        seen: dict[int, int] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (len(seen) < 2 or min(seen.values()) < wanted):
            info = httpx.get(guarded.url + "/v1/packs", headers=auth).json()  # a new connection each time
            seen[info["worker"]] = info["reloads"]
        return seen

    before = reloads_by_worker(0)
    assert len(before) == 2 and set(before.values()) == {0}
    assert httpx.post(guarded.url + "/v1/reload", headers=auth, timeout=60).status_code == 200
    assert sorted(reloads_by_worker(1).values()) == [1, 1]  # the one that answered, and the other
    os.kill(guarded.process.pid, signal.SIGHUP)  # to the supervisor: every worker reloads, none restarts
    assert sorted(reloads_by_worker(2).values()) == [2, 2]
    assert set(reloads_by_worker(2)) == set(before)  # the same two processes
