"""TLS against a real HTTPS server on loopback, with a CA made at test time (trustme).

The CA bundle of `tlsVerify` is trusted, an unknown CA is refused at once with an error
naming `tlsVerify`, `tlsVerify=false` works and warns once, and a server that requires a
client certificate gets the one of `clientCert`/`clientKey`. The key's path is a secret:
it shows in no error or log. Also the proxy: `proxy` and the environment's proxy variables.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from loopback import Loopback, Reply, Seen, forward_proxy

from rest_stream.errors import RestConnectionError, RestOptionError
from rest_stream.http.ratelimit import clear_budgets
from rest_stream.http.request import RequestSpec
from rest_stream.http.session import HttpSession
from rest_stream.options.parse import parse_options

FAST = {"maxRetries": "3", "retryBackoffSeconds": "0.01", "retryMaxWaitSeconds": "0.5"}


@pytest.fixture(autouse=True)
def fresh_budgets() -> Iterator[None]:
    clear_budgets()
    yield
    clear_budgets()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pki(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files: the test CA, another CA, a client certificate and its key (apart and together)."""
    folder = tmp_path_factory.mktemp("pki")
    client = ca.issue_cert("client.example.com", common_name="rest-stream-client")
    files = {
        "ca": folder / "ca.pem",
        "other_ca": folder / "other-ca.pem",
        "client_cert": folder / "client-cert.pem",
        "client_key": folder / "secret-dir" / "client-key.pem",
        "client_both": folder / "client-both.pem",
        "garbage": folder / "garbage.pem",
    }
    files["client_key"].parent.mkdir()
    ca.cert_pem.write_to_path(str(files["ca"]))
    trustme.CA().cert_pem.write_to_path(str(files["other_ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["client_cert"]))
    client.private_key_pem.write_to_path(str(files["client_key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["client_both"]))
    files["garbage"].write_text("not a certificate")
    return files


def server_context(ca: trustme.CA, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    return context


def hello(seen: Seen) -> Reply:
    return Reply.json({"hello": seen.path})


@pytest.fixture
def https(ca: trustme.CA) -> Iterator[Loopback]:
    with Loopback(hello, ssl_context=server_context(ca)) as server:
        yield server


@pytest.fixture
def mtls(ca: trustme.CA) -> Iterator[Loopback]:
    with Loopback(hello, ssl_context=server_context(ca, require_client_cert=True)) as server:
        yield server


def fetch(server: Loopback, **raw: str) -> dict[str, str]:
    options = parse_options({"url": server.url + "/x", **FAST, **raw})
    with HttpSession(options) as http:
        return http.fetch(RequestSpec("GET", server.url + "/x")).json()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- server certificates


def test_a_ca_bundle_in_tls_verify_is_trusted(https: Loopback, pki: dict[str, Path]) -> None:
    assert fetch(https, tlsVerify=str(pki["ca"])) == {"hello": "/x"}


@pytest.mark.parametrize("verify", ["default", "other_ca"])
def test_an_unknown_ca_is_refused_at_once_naming_tls_verify(
    https: Loopback, pki: dict[str, Path], verify: str
) -> None:
    raw = {} if verify == "default" else {"tlsVerify": str(pki[verify])}
    with pytest.raises(RestConnectionError) as caught:
        fetch(https, **raw)
    message = str(caught.value)
    assert "tlsVerify" in message and "CERTIFICATE_VERIFY_FAILED" in message
    assert caught.value.attempts == 1  # not retried: a certificate does not change
    assert https.requests == []


def test_tls_verify_false_reads_and_warns_once(
    https: Loopback, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rest_stream.http.tls"):
        assert fetch(https, tlsVerify="false") == {"hello": "/x"}
        assert fetch(https, tlsVerify="false") == {"hello": "/x"}
    warnings = [r.getMessage() for r in caplog.records if r.name == "rest_stream.http.tls"]
    assert len(warnings) == 1 and "tlsVerify=false" in warnings[0]
    assert f"127.0.0.1:{https.port}" in warnings[0]


def test_a_ca_bundle_that_is_not_pem_names_tls_verify(
    https: Loopback, pki: dict[str, Path]
) -> None:
    with pytest.raises(RestOptionError, match="tlsVerify"):
        fetch(https, tlsVerify=str(pki["garbage"]))


# --------------------------------------------------------------------------- client certificates


@pytest.mark.parametrize("files", ["apart", "together"])
def test_a_client_certificate_is_sent_when_the_server_requires_one(
    mtls: Loopback, pki: dict[str, Path], files: str
) -> None:
    raw = (
        {"clientCert": str(pki["client_cert"]), "clientKey": str(pki["client_key"])}
        if files == "apart"
        else {"clientCert": str(pki["client_both"])}
    )
    assert fetch(mtls, tlsVerify=str(pki["ca"]), **raw) == {"hello": "/x"}
    peer = mtls.requests[0].peer_cert
    assert peer is not None
    subject = dict(pair for rdn in peer["subject"] for pair in rdn)
    assert subject["commonName"] == "rest-stream-client"


def test_no_client_certificate_is_refused_naming_client_cert(
    mtls: Loopback, pki: dict[str, Path]
) -> None:
    with pytest.raises(RestConnectionError) as caught:
        fetch(mtls, tlsVerify=str(pki["ca"]))
    assert "clientCert" in str(caught.value)
    deadline = time.monotonic() + 5  # the server's thread logs the refusal after the client
    while not mtls.handshake_errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert mtls.requests == [] and mtls.handshake_errors


@pytest.mark.parametrize("key", ["not-a-key.pem", "missing.pem"])
def test_a_bad_client_key_is_named_without_its_path(
    mtls: Loopback, pki: dict[str, Path], caplog: pytest.LogCaptureFixture, key: str
) -> None:
    secret_dir = pki["client_key"].parent  # the key's path is a secret, its folder name too
    (secret_dir / "not-a-key.pem").write_text("not a key")
    raw = {"clientCert": str(pki["client_cert"]), "clientKey": str(secret_dir / key)}
    with caplog.at_level(logging.DEBUG), pytest.raises(RestOptionError) as caught:
        fetch(mtls, tlsVerify=str(pki["ca"]), **raw)
    assert "clientKey" in str(caught.value) or "clientCert" in str(caught.value)
    shown = [str(caught.value), *(r.getMessage() for r in caplog.records)]
    assert not [text for text in shown if secret_dir.name in text]


# --------------------------------------------------------------------------- proxy


def test_requests_go_through_the_proxy_option_with_its_credentials_hidden() -> None:
    with Loopback(hello) as api, forward_proxy() as proxy:
        proxy_url = f"http://agent:pr0xy-pw@127.0.0.1:{proxy.port}"
        assert fetch(api, proxy=proxy_url) == {"hello": "/x"}
        through = proxy.requests[0]
        assert through.target == f"{api.url}/x"  # the absolute form: a forward proxy request
        assert through.headers["proxy-authorization"].startswith("Basic ")
        assert len(api.requests) == 1
        assert "proxy-authorization" not in api.requests[0].headers


def test_an_unreachable_proxy_is_named_without_its_password() -> None:
    with forward_proxy() as proxy:
        port = proxy.port  # a port nothing listens on once the proxy stops
    with Loopback(hello) as api, pytest.raises(RestConnectionError) as caught:
        fetch(api, proxy=f"http://agent:pr0xy-pw@127.0.0.1:{port}", maxRetries="0")
    assert "pr0xy-pw" not in str(caught.value)
    assert api.requests == []


def test_the_environment_proxy_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    with Loopback(hello) as api, forward_proxy() as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        assert fetch(api) == {"hello": "/x"}
        assert [s.target for s in proxy.requests] == [f"{api.url}/x"]


def test_ssl_cert_file_is_honoured_when_tls_verify_is_true(
    https: Loopback, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))
    assert fetch(https) == {"hello": "/x"}
