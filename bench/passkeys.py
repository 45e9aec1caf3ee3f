"""The `passkey` scenario: usernameless passkey sign-ins against password logins, side by
side in one run, from the same Python client (8 threads, one keep-alive connection each,
as bench/mfa.py). A strata is started for it with passkeys on (`PUBLIC_URL` at
`http://localhost:<port>`: the relying party is `localhost`), on the same database and
token store as the main one. Accounts are seeded with proven addresses and a bcrypt-4
hash, and each registers one passkey over HTTP (a software authenticator below: an
ES256 key, attestation "none", user verified, backup-eligible and synced, no signature
counter, as a synced passkey). Then, for `BENCH_DURATION` seconds each, alternated over
`BENCH_REPEAT` rounds:

- a passkey sign-in: `POST /api/auth/passkey/options` (a challenge answers once, so each
  sign-in asks for its own) then `POST /api/auth/passkey` with the signed assertion: two
  requests, counted as one sign-in;
- a password login (`POST /api/auth/login`) of the same accounts (bcrypt 4), and of
  accounts at bcrypt 10 (strata's default cost, what a deployment has).

Every answer must be a 200; any other is counted, sampled and fails the target."""

import base64
import hashlib
import http.client
import json
import os
import statistics
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

try:  # python3-cryptography (`make bench-deps`): only this scenario needs it
    from cryptography.hazmat.primitives import hashes as crypto_hashes
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError:
    ec = None

from infra import Server, call, log
from load import PerfStat
from mfa import add_accounts

PORT = 18094
THREADS = 8
ACCOUNTS = 300
ACCOUNTS_COST10 = 100
RP_ID = "localhost"
ORIGIN = f"http://localhost:{PORT}"

# Authenticator-data flags: user present, user verified, backup eligible, backed up,
# attested credential data.
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


# --- a software authenticator ----------------------------------------------------------

def cbor(v):
    """CBOR (RFC 8949) of ints, byte strings, text, lists and maps: what WebAuthn needs."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | extra]) + n.to_bytes(size, "big")
        raise ValueError(n)

    if isinstance(v, bool):
        return bytes([0xF5 if v else 0xF4])
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, (bytes, bytearray)):
        return head(2, len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, (list, tuple)):
        return head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(type(v))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def client_data(kind, challenge):
    return json.dumps({"type": kind, "challenge": challenge, "origin": ORIGIN, "crossOrigin": False},
                      separators=(",", ":")).encode()


class Authenticator:
    """One discoverable ES256 credential, as a platform authenticator holding a synced
    passkey makes it: no signature counter (always 0), backup-eligible and backed up."""

    def __init__(self, username):
        self.username = username
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cred_id = os.urandom(16)
        self.rp_hash = hashlib.sha256(RP_ID.encode()).digest()
        self.user_handle = None
        # An assertion's authenticator data never changes: no counter, same flags.
        self.assertion_data = self.rp_hash + bytes([UP | UV | BE | BS]) + struct.pack(">I", 0)

    def create(self, options):
        """The credential `navigator.credentials.create(options)` would give, as `toJSON()`."""
        pk = options["publicKey"]
        if pk["rp"]["id"] != RP_ID or not any(p.get("alg") == -7 for p in pk["pubKeyCredParams"]):
            raise RuntimeError(f"creation options this authenticator cannot answer: {pk}")
        self.user_handle = unb64u(pk["user"]["id"])
        nums = self.key.public_key().public_numbers()
        cose_key = {1: 2, 3: -7, -1: 1, -2: nums.x.to_bytes(32, "big"), -3: nums.y.to_bytes(32, "big")}
        auth_data = (self.rp_hash + bytes([UP | UV | BE | BS | AT]) + struct.pack(">I", 0) + bytes(16)
                     + struct.pack(">H", len(self.cred_id)) + self.cred_id + cbor(cose_key))
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64u(self.cred_id), "rawId": b64u(self.cred_id), "type": "public-key",
                "response": {"clientDataJSON": b64u(client_data("webauthn.create", pk["challenge"])),
                             "attestationObject": b64u(attestation), "transports": ["internal"]},
                "extensions": {}}

    def get(self, options):
        """The assertion `navigator.credentials.get(options)` would give, as `toJSON()`."""
        pk = options["publicKey"]
        cdj = client_data("webauthn.get", pk["challenge"])
        signature = self.key.sign(self.assertion_data + hashlib.sha256(cdj).digest(),
                                  ec.ECDSA(crypto_hashes.SHA256()))
        return {"id": b64u(self.cred_id), "rawId": b64u(self.cred_id), "type": "public-key",
                "response": {"clientDataJSON": b64u(cdj), "authenticatorData": b64u(self.assertion_data),
                             "signature": b64u(signature), "userHandle": b64u(self.user_handle)},
                "extensions": {}}


# --- set-up ------------------------------------------------------------------------------

def register(port, username, password):
    """Logs in, registers a passkey on the password again; returns its authenticator."""
    status, t = call(port, "POST", "/api/auth/login", {"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"login {username}: {status} {t}")
    access = t["access_token"]
    status, begun = call(port, "POST", "/api/users/me/passkeys/registration", {"password": password}, access)
    if status != 200:
        raise RuntimeError(f"passkey registration of {username}: {status} {begun}")
    auth = Authenticator(username)
    credential = auth.create(begun["options"])
    status, added = call(port, "POST", "/api/users/me/passkeys",
                         {"challenge_id": begun["challenge_id"], "credential": credential, "name": "bench"}, access)
    if status != 201:
        raise RuntimeError(f"passkey of {username} refused: {status} {added}")
    return auth


def sign_in(port, auth, conn=None):
    """One passkey sign-in: (options status, sign-in status, body, options seconds,
    sign-in seconds)."""
    t0 = time.perf_counter()
    status, opts = call(port, "POST", "/api/auth/passkey/options", {}, None, conn=conn)
    t1 = time.perf_counter()
    if status != 200 or not opts:
        return status, None, opts, t1 - t0, 0.0
    body = {"challenge_id": opts["challenge_id"], "credential": auth.get(opts["options"])}
    t2 = time.perf_counter()
    status2, pair = call(port, "POST", "/api/auth/passkey", body, None, conn=conn)
    return status, status2, pair, t1 - t0, time.perf_counter() - t2


def check(port, auth):
    """One sign-in before any measuring, which must open a session of the right account."""
    s1, s2, pair, _, _ = sign_in(port, auth)
    if s1 != 200 or s2 != 200 or not pair or "access_token" not in pair:
        raise RuntimeError(f"passkey sign-in of {auth.username}: options {s1}, sign-in {s2}: {pair}")
    status, me = call(port, "GET", "/api/users/me", None, pair["access_token"])
    if status != 200 or me.get("username") != auth.username:
        raise RuntimeError(f"the passkey session of {auth.username} is {status} {me}")


# --- measuring ---------------------------------------------------------------------------

def timed(port, duration, kind, items, password):
    """THREADS connections, each signing in (or logging in) in a loop for `duration`
    seconds; one unit is a passkey sign-in (two requests) or a login (one)."""
    units, http_requests, errors = [0], [0], [0]
    lat, lat_signin, lat_options, samples = [], [], [], []
    lock = threading.Lock()
    stop = time.perf_counter() + duration

    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, mine_s, mine_o, n, reqs, errs, bad = [], [], [], 0, 0, 0, []
        i = 0
        while time.perf_counter() < stop:
            item = chunk[i % len(chunk)]
            i += 1
            t0 = time.perf_counter()
            try:
                if kind == "passkey":
                    s1, s2, body, t_opt, t_sign = sign_in(port, item, conn)
                    reqs += 1 if s2 is None else 2
                    ok = s1 == 200 and s2 == 200 and body and "access_token" in body
                    statuses = (s1, s2)
                else:
                    s1, body = call(port, "POST", "/api/auth/login", {"username": item, "password": password},
                                    None, conn=conn)
                    reqs += 1
                    ok = s1 == 200 and body and "access_token" in body
                    statuses = (s1,)
            except (OSError, http.client.HTTPException) as e:
                ok, statuses, body = False, ("exception",), repr(e)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if ok:
                mine.append(time.perf_counter() - t0)
                if kind == "passkey":
                    mine_o.append(t_opt)
                    mine_s.append(t_sign)
                n += 1
            else:
                errs += 1
                if len(bad) < 5:
                    bad.append({"statuses": statuses, "body": body})
        conn.close()
        with lock:
            lat.extend(mine)
            lat_signin.extend(mine_s)
            lat_options.extend(mine_o)
            units[0] += n
            http_requests[0] += reqs
            errors[0] += errs
            samples.extend(bad)

    chunks = [items[i::THREADS] or items for i in range(THREADS)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    client_cpu = time.process_time() - cpu0

    def pick(xs, q):
        xs.sort()
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e6 if xs else 0

    out = {"requests": units[0], "http_requests": http_requests[0], "errors": errors[0],
           "rps": units[0] / elapsed, "http_rps": http_requests[0] / elapsed,
           "p50_us": pick(lat, 0.50), "p99_us": pick(lat, 0.99),
           "client_cpu_us": client_cpu * 1e6 / units[0] if units[0] else 0}
    if kind == "passkey":
        out.update({"options_p50_us": pick(lat_options, 0.50), "signin_p50_us": pick(lat_signin, 0.50),
                    "signin_p99_us": pick(lat_signin, 0.99)})
    if samples:
        out["error_samples"] = samples[:5]
    return out


def measured(bench, srv, duration, kind, items, password):
    stat = PerfStat(srv.proc.pid) if bench.cfg.perf else None
    try:
        r = timed(srv.port, duration, kind, items, password)
    finally:
        if stat:
            stat.stop()
    if stat:
        r.update(stat.per_request(r["requests"]))
    if r["errors"]:
        log(f"passkey scenario: {r['errors']} FAILED {kind} attempts, e.g. {r.get('error_samples')}")
    return r


def summarize(runs):
    """Medians of the repeats (errors and counts added up)."""
    out = {"runs": runs}
    for k in runs[0]:
        if k in ("requests", "http_requests", "errors"):
            out[k] = sum(r[k] for r in runs)
        elif k != "error_samples" and all(k in r for r in runs):
            out[k] = statistics.median(r[k] for r in runs)
    samples = [s for r in runs for s in r.get("error_samples", [])]
    if samples:
        out["error_samples"] = samples[:5]
    return out


def run(bench, password):
    if ec is None:
        raise SystemExit("the passkey scenario signs with P-256 keys: apt-get install python3-cryptography "
                         "(`make bench-deps`)")
    cfg = bench.cfg
    t0 = time.time()
    env = dict(bench.strata.env)
    env.update({"BIND_ADDR": f"127.0.0.1:{PORT}", "PUBLIC_URL": ORIGIN,
                # Every request comes from 127.0.0.1: the per-address limit on sign-in
                # options (60 a minute by default) would stop the run at once.
                "PASSKEY_OPTIONS_PER_MINUTE": "1000000", "PASSKEY_CHALLENGES_MAX": "1000000"})
    srv = Server("strata-passkey", bench.strata.argv, env, PORT, f"strata-passkey-{cfg.db}-{cfg.store}.log")
    srv.start()
    try:
        named = add_accounts(bench.backend, "pk", ACCOUNTS, bench.hash(4))
        slow = add_accounts(bench.backend, "pkc10_", ACCOUNTS_COST10, bench.hash(10))
        with ThreadPoolExecutor(4) as ex:
            auths = list(ex.map(lambda u: register(PORT, u, password), named))
        check(PORT, auths[0])
        log(f"passkey: seeded {ACCOUNTS} accounts with a passkey each (bcrypt 4) and {ACCOUNTS_COST10} "
            f"at bcrypt 10 in {time.time() - t0:.1f}s")
        kinds = [("passkey", auths), ("login4", named), ("login10", slow)]
        for kind, items in kinds:  # warm-up, not recorded
            timed(PORT, 1, "passkey" if kind == "passkey" else "login", items, password)
        runs = {kind: [] for kind, _ in kinds}
        for rep in range(cfg.repeat):
            for kind, items in (kinds if rep % 2 == 0 else list(reversed(kinds))):
                runs[kind].append(measured(bench, srv, cfg.duration, "passkey" if kind == "passkey" else "login",
                                           items, password))
        res = {kind: summarize(rs) for kind, rs in runs.items()}
        res["accounts"] = {"passkey": ACCOUNTS, "bcrypt10": ACCOUNTS_COST10}
        hwm, rss, threads = srv.memory()
        res["memory"] = {"hwm_kib": hwm, "rss_kib": rss, "threads": threads}
    finally:
        srv.stop()
    pk, l4, l10 = res["passkey"], res["login4"], res["login10"]
    log(f"passkey: {pk['rps']:,.0f} sign-ins/s ({pk['http_rps']:,.0f} req/s: options + sign-in) p50 "
        f"{pk['p50_us'] / 1000:.2f} ms | password logins bcrypt 4 {l4['rps']:,.0f}/s p50 "
        f"{l4['p50_us'] / 1000:.2f} ms | bcrypt 10 {l10['rps']:,.1f}/s p50 {l10['p50_us'] / 1000:.1f} ms; "
        f"errors {pk['errors']} / {l4['errors']} / {l10['errors']}")
    errors = pk["errors"] + l4["errors"] + l10["errors"]
    if errors:
        log(f"PASSKEY SCENARIO: {errors} sign-ins or logins FAILED (see results' error_samples): "
            f"{pk.get('error_samples') or l4.get('error_samples') or l10.get('error_samples')}")
    bench.results["passkey"] = res
