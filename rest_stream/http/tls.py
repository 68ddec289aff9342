"""TLS as companies run it: a private CA bundle, mutual TLS, and clear certificate errors.

`ssl_context` turns `tlsVerify`, `clientCert` and `clientKey` into what `httpx.Client`
takes as `verify`: True (httpx's default store: certifi, or `SSL_CERT_FILE` /
`SSL_CERT_DIR`), or an `ssl.SSLContext` trusting a CA bundle, verifying nothing, and/or
presenting a client certificate. `tls_problem` tells a certificate failure (never worth a
retry) from a transient one and says which option to look at.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading

import httpx

from rest_stream.errors import RestOptionError
from rest_stream.http.ratelimit import origin_of
from rest_stream.options.parse import RestOptions

logger = logging.getLogger("rest_stream.http.tls")

_WARNED_UNVERIFIED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def ssl_context(options: RestOptions) -> ssl.SSLContext | bool:
    """What `httpx.Client(verify=...)` takes for these options (True: httpx's default)."""
    if options.tls_verify is True and options.client_cert is None:
        return True
    if options.tls_verify is False:
        _warn_unverified(options.url)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif options.tls_verify is True:
        context = httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR
    else:
        try:
            context = ssl.create_default_context(cafile=options.tls_verify)
        except (OSError, ssl.SSLError) as exc:
            raise RestOptionError(
                "tlsVerify", options.tls_verify, f"a PEM CA bundle ({_reason(exc)})"
            ) from None
    if options.client_cert is not None:
        _load_client_certificate(context, options)
    return context


def _load_client_certificate(context: ssl.SSLContext, options: RestOptions) -> None:
    assert options.client_cert is not None
    key = options.client_key.reveal() if options.client_key is not None else None
    try:
        context.load_cert_chain(options.client_cert, keyfile=key)
    except FileNotFoundError:
        if not os.path.isfile(options.client_cert):
            raise RestOptionError(
                "clientCert", options.client_cert, "a PEM file readable on every executor"
            ) from None
        raise RestOptionError(
            "clientKey", "***", "a PEM key file readable on every executor"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise RestOptionError(
            "clientCert",
            options.client_cert,
            "a PEM client certificate whose private key is in clientKey (or in the same "
            f"file), unencrypted ({_reason(exc)})",
        ) from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc)  # like "[SSL] PEM lib (_ssl.c:3900)": no path in it
    return type(exc).__name__  # an OSError's text would show the path


def _warn_unverified(url: str) -> None:
    origin = origin_of(url)
    with _WARNED_LOCK:
        if origin in _WARNED_UNVERIFIED:
            return
        _WARNED_UNVERIFIED.add(origin)
    logger.warning(
        "tlsVerify=false: the TLS certificates of %s are not verified, so anyone on the "
        "network path can read and change this traffic, credentials included. Set tlsVerify "
        "to the path of the CA bundle that signs the server's certificate instead.",
        origin,
    )


#: Marks of a certificate failure in an SSL error's text, and the option to look at.
_NOT_TRUSTED = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed")
_CLIENT_CERTIFICATE = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "certificate required",
)

NOT_TRUSTED_HINT = (
    "the server's TLS certificate is not trusted: set tlsVerify to the path of the CA bundle "
    "that signs it (tlsVerify=false turns verification off, not recommended)"
)
CLIENT_CERTIFICATE_HINT = (
    "the server refused the TLS client certificate, or wants one: check clientCert and clientKey"
)


def tls_problem(exc: BaseException) -> str | None:
    """A hint naming the option at fault when `exc` is a certificate failure, else None.

    A certificate failure does not go away on a retry, so such errors are not retried.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    texts = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return NOT_TRUSTED_HINT
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    text = " ".join(texts)
    if any(mark in text for mark in _NOT_TRUSTED):
        return NOT_TRUSTED_HINT
    if any(mark in text for mark in _CLIENT_CERTIFICATE):
        return CLIENT_CERTIFICATE_HINT
    return None
