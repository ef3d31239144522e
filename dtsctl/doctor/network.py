"""Checks that need no credential: configuration, DNS, TCP, TLS."""

from __future__ import annotations

import errno
import socket
import ssl
import time
from datetime import datetime, timezone

from dtsctl.doctor.context import Context
from dtsctl.doctor.model import Outcome, failed, passed, skipped, warned


def check_config(ctx: Context) -> Outcome:
    t = ctx.target
    v = t.validation
    f = t.fields
    where = f"from {t.connection_source}"
    if f is None or not v.valid:
        first = v.errors[0]
        codes = ", ".join(e.code for e in v.errors)
        return failed(f"the connection string {where} has errors: {codes}", cause=first.message,
                      fix=(first.fix or "") + " ('dtsctl connection validate' explains each problem)")
    hub_from = f" (task hub from {t.task_hub_source})" if t.task_hub_source and t.task_hub_source != t.connection_source else ""
    detail = f"{where}: {f.endpoint}, task hub '{t.task_hub}'{hub_from}, Authentication={f.authentication}"
    warnings = v.warnings
    if warnings:
        w = warnings[0]
        more = f" (+{len(warnings) - 1} more)" if len(warnings) > 1 else ""
        return warned(f"{detail}; warning {w.code}{more}", cause=w.message, fix=w.fix,
                      warning_codes=[x.code for x in warnings])
    return passed(detail)


def check_dns(ctx: Context) -> Outcome:
    host, port = ctx.host.strip("[]"), ctx.port
    try:
        import ipaddress

        ipaddress.ip_address(host)
        return passed(f"{host} is an IP address", addresses=[host])
    except ValueError:
        pass
    start = time.monotonic()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return failed(f"{host} does not resolve ({exc.strerror})",
                      cause="The endpoint's host name is unknown to DNS: a typo, a truncated endpoint, or a "
                            "private endpoint whose DNS zone this machine cannot see.",
                      fix="Copy the endpoint from 'az durabletask scheduler show --resource-group <group> "
                          "--name <scheduler> --query properties.endpoint -o tsv'.")
    addresses = sorted({info[4][0] for info in infos})
    return passed(f"{host} -> {', '.join(addresses)} ({(time.monotonic() - start) * 1000:.0f} ms)", addresses=addresses)


def check_tcp(ctx: Context) -> Outcome:
    port = ctx.port
    last: OSError | None = None
    for address in ctx.fact("dns", "addresses", [ctx.host]):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(ctx.options.timeout)
            start = time.monotonic()
            try:
                sock.connect((address, port))
            except OSError as exc:
                last = exc
                continue
            local = sock.getsockname()[0]
            return passed(f"connected to {address}:{port} in {(time.monotonic() - start) * 1000:.0f} ms",
                          local_address=local, remote_address=address)
    refused = last is not None and getattr(last, "errno", None) == errno.ECONNREFUSED
    timed_out = isinstance(last, (socket.timeout, TimeoutError))
    what = "connection refused" if refused else ("timed out" if timed_out else str(last))
    if ctx.emulator_like:
        return failed(f"{ctx.host}:{port}: {what}",
                      cause="Nothing listens on that port here: the emulator is not running, or it listens on "
                            "another port (see the 'emulator' check).",
                      fix=f"Start it: 'dtsctl emulator up --port {port}' (or point Endpoint at the port it serves).")
    return failed(f"{ctx.host}:{port}: {what}",
                  cause="The scheduler cannot be reached from this network (firewall, proxy, private endpoint, "
                        "or a wrong port).",
                  fix="Check outbound access to port 443 of the endpoint; for a private endpoint run from inside "
                      "its virtual network.")


def check_tls(ctx: Context) -> Outcome:
    if not ctx.tls:
        return skipped("plaintext endpoint (as the emulator expects): no TLS to check")
    address = ctx.fact("tcp", "remote_address", ctx.host)
    context = ssl.create_default_context()
    roots = ctx.env.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
    if roots:  # what gRPC will trust
        context.load_verify_locations(roots)
    context.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((address, ctx.port), timeout=ctx.options.timeout) as raw:
            with context.wrap_socket(raw, server_hostname=ctx.host.strip("[]")) as tls:
                cert = tls.getpeercert() or {}
                version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return failed(f"certificate not trusted: {exc.verify_message}",
                      cause="The server's certificate does not verify for this host name (a proxy intercepting "
                            "TLS, a wrong host, or a missing CA).",
                      fix="If a corporate proxy re-signs TLS, point GRPC_DEFAULT_SSL_ROOTS_FILE_PATH at its CA bundle.")
    except ssl.SSLError as exc:
        cause = "The endpoint does not speak TLS." if "WRONG_VERSION_NUMBER" in str(exc) or "record layer" in str(exc) else str(exc)
        fix = "The emulator speaks plaintext: use http://" if ctx.emulator_like else "Check the endpoint and port."
        return failed(f"TLS handshake failed: {exc.reason or exc}", cause=cause, fix=fix)
    except OSError as exc:
        return failed(f"TLS connection failed: {exc}")
    subject = dict(x[0] for x in cert.get("subject", ()))
    issuer = dict(x[0] for x in cert.get("issuer", ()))
    not_after = cert.get("notAfter")
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), timezone.utc) if not_after else None
    days = (expires - datetime.now(timezone.utc)).days if expires else None
    names = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
    detail = (f"{version}, subject {subject.get('commonName') or (names[0] if names else '?')}, issuer {issuer.get('commonName') or issuer.get('organizationName', '?')}"
              + (f", expires {expires:%Y-%m-%d} ({days} days)" if expires else ""))
    if days is not None and days < 14:
        return warned(detail, cause="The certificate expires soon.", fix="Nothing to do for Azure-managed endpoints; for a proxy, renew its certificate.")
    return passed(detail)
