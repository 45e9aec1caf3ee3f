"""The `mfa` scenario: the second step of a two-step sign-in, `POST /api/auth/mfa`, against
`POST /api/auth/login` of accounts without a second factor, both from the same Python
client (8 threads, one keep-alive connection each). The accounts are hashed at bcrypt cost
4, so that the hash does not hide the rest of a login's cost. Every MFA request carries a
fresh `mfa_token` and an unused backup code, as each works once."""

import base64
import hashlib
import hmac
import http.client
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from infra import call, log, now_text, uuid7

THREADS = 8


def totp(secret, step):
    """RFC 6238 (SHA-1, 6 digits) of base32 `secret` at time step `step`."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 15
    return f"{(struct.unpack('>I', h[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def add_accounts(backend, prefix, n, hash4):
    """Seeds `n` accounts with proven addresses (a second factor needs one)."""
    ms, now = int(time.time() * 1000), now_text()
    rows = [(uuid7(ms - n + i), f"{prefix}{i:04d}", f"{prefix}{i:04d}@bench.example", hash4, True, now, now)
            for i in range(n)]
    backend.insert("users", ["id", "username", "email", "password_hash", "email_verified", "created_at", "updated_at"], rows)
    return [r[1] for r in rows]


def enrol(port, username, password):
    """Turns the second factor on; returns the ten backup codes."""
    status, t = call(port, "POST", "/api/auth/login", {"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"login {username}: {status} {t}")
    access = t["access_token"]
    status, e = call(port, "POST", "/api/users/me/mfa/totp", {"password": password}, access)
    if status != 200:
        raise RuntimeError(f"enrol {username}: {status} {e}")
    step = int(time.time()) // 30
    status, c = call(port, "POST", "/api/users/me/mfa/totp/confirm", {"code": totp(e["secret"], step)}, access)
    if status != 200:
        raise RuntimeError(f"confirm {username}: {status} {c}")
    return c["recovery_codes"]


def challenge(port, username, password):
    status, body = call(port, "POST", "/api/auth/login", {"username": username, "password": password})
    if status != 403 or not body or body.get("code") != "mfa_required":
        raise RuntimeError(f"login {username} with a second factor: {status} {body}")
    return body["mfa_token"]


def prepare(bench, password, n_accounts=150):
    """Seeds enrolled and plain accounts; returns (mfa requests, login requests, spare
    mfa requests for the wire count)."""
    port = bench.strata.port
    hash4 = bench.hash(4)
    enrolled = add_accounts(bench.backend, "mfa", n_accounts, hash4)
    plain = add_accounts(bench.backend, "plain", n_accounts, hash4)
    with ThreadPoolExecutor(4) as ex:
        codes = list(ex.map(lambda u: enrol(port, u, password), enrolled))
    wanted = [(u, c) for u, cs in zip(enrolled, codes) for c in cs]
    with ThreadPoolExecutor(4) as ex:
        tokens = list(ex.map(lambda uc: challenge(port, uc[0], password), wanted))
    mfa = [("POST", "/api/auth/mfa", {"mfa_token": t, "code": c}) for t, (_, c) in zip(tokens, wanted)]
    logins = [("POST", "/api/auth/login", {"username": plain[i % len(plain)], "password": password})
              for i in range(len(mfa))]
    return mfa[20:], logins, mfa[:20]


def timed(port, requests, want):
    """Sends every request once over THREADS connections; req/s, p50, p99 and errors."""
    lat, errors, lock = [], [0], threading.Lock()
    chunks = [requests[i::THREADS] for i in range(THREADS)]

    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for method, path, body in chunk:
            t0 = time.perf_counter()
            status, _ = call(port, method, path, body, None, conn=conn)
            mine.append(time.perf_counter() - t0)
            if status != want:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            lat.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6 if lat else 0  # noqa: E731
    return {"requests": len(requests), "rps": len(requests) / elapsed if elapsed else 0,
            "p50_us": pick(0.50), "p99_us": pick(0.99), "errors": errors[0]}


def run(bench, password):
    t0 = time.time()
    mfa, logins, spare = prepare(bench, password)
    log(f"mfa: seeded 2 x 150 accounts (bcrypt 4), {len(mfa) + len(spare)} sign-ins waiting, in "
        f"{time.time() - t0:.1f}s")
    half = len(mfa) // 2
    # Alternated halves, so that both kinds see the same drift of the machine.
    runs = {"login": [], "mfa": []}
    runs["login"].append(timed(bench.strata.port, logins[:half], 200))
    runs["mfa"].append(timed(bench.strata.port, mfa[:half], 200))
    runs["login"].append(timed(bench.strata.port, logins[half:], 200))
    runs["mfa"].append(timed(bench.strata.port, mfa[half:], 200))
    res = {}
    for k, rs in runs.items():
        res[k] = {"requests": sum(r["requests"] for r in rs), "errors": sum(r["errors"] for r in rs),
                  "rps": sum(r["rps"] for r in rs) / len(rs),
                  "p50_us": sum(r["p50_us"] for r in rs) / len(rs),
                  "p99_us": sum(r["p99_us"] for r in rs) / len(rs)}
    log(f"mfa: POST /api/auth/mfa {res['mfa']['rps']:,.0f} req/s p50 {res['mfa']['p50_us'] / 1000:.2f} ms; "
        f"login (bcrypt 4, no MFA) {res['login']['rps']:,.0f} req/s p50 {res['login']['p50_us'] / 1000:.2f} ms")
    bench.results["mfa"] = res
    bench.mfa_spare = spare
