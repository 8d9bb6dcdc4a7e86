"""`serve`: lists the runs of a store, serves their reports and files, and nothing outside the store."""

import http.client
import os
from pathlib import Path

import pytest

from splitbrain.reports.serve import StoreServer, resolve_in_store
from test_report_helpers import make_run

SECRET = "top secret outside the store"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("serve")
    root = tmp_path / "store"
    make_run(root, name="good", verdict=True, system="raft-kv", variant="correct", started="2024-01-01T10:00:00Z")
    make_run(root, name="bad", verdict=False, started="2024-01-03T10:00:00Z")
    make_run(root, name="undecided", verdict="unknown", system="raft-kv", variant="lossy",
             started="2024-01-02T10:00:00Z")
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(SECRET)
    os.symlink(tmp_path / "outside", root / "escape")                     # a directory symlink out
    os.symlink(tmp_path / "secret.txt", root / "good" / "20240101T120000" / "leak.log")  # a file symlink out
    os.symlink("good/20240101T120000", root / "latest")                   # the runner's link, inside
    return root


@pytest.fixture(scope="module")
def server(store):
    srv = StoreServer(store, port=0).start()
    try:
        yield srv
    finally:
        srv.stop()


def get(srv, path, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host or f"127.0.0.1:{srv.port}")
        conn.endheaders()
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.mark.timeout(60)
def test_index_lists_every_run_newest_first_coloured_by_verdict(server):
    status, headers, body = get(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    rows = [line for line in body.splitlines() if '<tr class="run ' in line]
    assert [r.split('"')[1] for r in rows] == ["run invalid", "run unknown", "run valid"]
    assert 'href="bad/20240101T120000/report.html"' in body and 'href="good/20240101T120000/history.jsonl"' in body
    assert 'data-system="raft-kv"' in body and "<option>lossy</option>" in body


@pytest.mark.timeout(60)
def test_reports_are_rendered_on_request_and_files_served_as_text(server, store):
    run = store / "bad" / "20240101T120000"
    (run / "report.html").unlink(missing_ok=True)
    status, headers, body = get(server, "/bad/20240101T120000/report.html")
    assert status == 200 and "read of key k1 by process 12" in body and (run / "report.html").is_file()
    status, headers, body = get(server, "/bad/20240101T120000/history.jsonl")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff" and '"f":"write"' in body
    status, headers, _ = get(server, "/bad/20240101T120000")
    assert status == 302 and headers["Location"] == "/bad/20240101T120000/report.html"
    assert get(server, "/latest/test.json")[0] == 200                    # a symlink that stays inside is fine


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/bad/..%2f..%2f..%2fsecret.txt",
                                  "/escape/secret.txt", "/good/20240101T120000/leak.log", "//etc/passwd",
                                  "/bad/20240101T120000/history.jsonl%00.html", "/..%5c..%5csecret.txt",
                                  "/nope/report.html"])
def test_refuses_paths_outside_the_store(server, path):
    status, _, body = get(server, path)
    assert status == 404 and SECRET not in body and "root:" not in body


@pytest.mark.timeout(60)
def test_refuses_foreign_host_headers_while_on_loopback(server):
    assert get(server, "/", host="evil.example:80")[0] == 421
    assert get(server, "/", host="localhost")[0] == 200


def test_resolve_in_store_is_confined(tmp_path):
    root = tmp_path.resolve()
    assert resolve_in_store(root, "/a/b.txt") == root / "a" / "b.txt"
    assert resolve_in_store(root, "/") == root
    for bad in ("/a/../../x", "/%2E%2E/x", "/a%00b", "/a\\..\\x"):
        assert resolve_in_store(root, bad) is None
