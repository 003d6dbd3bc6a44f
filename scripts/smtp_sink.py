#!/usr/bin/env python3
"""A real SMTP server for driftd's tests, built on aiosmtpd.

Every message received is stored in DIR as NNNNNN.eml (the bytes as received), next to
NNNNNN.json with the envelope (mail_from, rcpt_tos, the authenticated user, whether the session
was encrypted). Both are written to a temporary name and renamed, the .json first: a reader that
sees an .eml file also finds its envelope complete.

    smtp_sink.py --port P --dir D [--user U --password W] [--tls-cert C --tls-key K]
                 [--require-starttls] [--implicit-tls] [--fail-auth]

--user enables AUTH PLAIN and LOGIN: wrong credentials are answered with 535. With a certificate
the server offers STARTTLS (and AUTH only after it), or, with --implicit-tls, speaks TLS from the
first byte (SMTPS). --fail-auth rejects every AUTH attempt with 535. The server runs until SIGTERM
or SIGINT and prints "listening on 127.0.0.1:P" once it accepts connections.
"""

import argparse
import json
import logging
import os
import signal
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    """Writes each message and its envelope atomically into a directory."""

    def __init__(self, directory, implicit_tls):
        self.directory = directory
        self.implicit_tls = implicit_tls
        self.lock = threading.Lock()
        self.count = 0

    def _write(self, name, data):
        tmp = os.path.join(self.directory, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.directory, name))

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": _login(session.auth_data),
            "tls": self.implicit_tls or session.ssl is not None,
        }
        self._write(f"{n:06}.json", json.dumps(meta).encode())
        self._write(f"{n:06}.eml", envelope.original_content or b"")
        return "250 Message accepted for delivery"


def _login(auth_data):
    if isinstance(auth_data, LoginPassword):
        return auth_data.login.decode(errors="replace")
    return None


def authenticator(user, password, fail_all):
    """Accepts exactly `user`/`password` (unless `fail_all`); aiosmtpd answers 535 otherwise."""

    def check(server, session, envelope, mechanism, auth_data):
        if fail_all or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return check


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", required=True, help="where received messages are stored")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (SMTPS)")
    p.add_argument("--fail-auth", action="store_true", help="answer every AUTH with 535")
    a = p.parse_args()

    if (a.user is None) != (a.password is None):
        p.error("--user and --password go together")
    if (a.tls_cert is None) != (a.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    if (a.require_starttls or a.implicit_tls) and a.tls_cert is None:
        p.error("--require-starttls and --implicit-tls need --tls-cert and --tls-key")
    os.makedirs(a.dir, exist_ok=True)
    # aiosmtpd warns about AUTH without STARTTLS (wanted here: plain and SMTPS test servers).
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    kwargs = {}
    ctx = tls_context(a.tls_cert, a.tls_key) if a.tls_cert else None
    if ctx is not None and a.implicit_tls:
        kwargs["ssl_context"] = ctx
        # The whole session is encrypted, but aiosmtpd only counts STARTTLS as TLS for AUTH.
        kwargs["auth_require_tls"] = False
    elif ctx is not None:
        kwargs["tls_context"] = ctx
        kwargs["require_starttls"] = a.require_starttls
    else:
        kwargs["auth_require_tls"] = False
    if a.user is not None or a.fail_auth:
        kwargs["authenticator"] = authenticator(a.user or "", a.password or "", a.fail_auth)
        kwargs["auth_required"] = True

    controller = Controller(
        Store(a.dir, a.implicit_tls), hostname=a.host, port=a.port, server_hostname="smtp-sink.test", **kwargs
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    print(f"listening on {a.host}:{a.port}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
