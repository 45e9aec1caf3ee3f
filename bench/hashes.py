"""The `hashes` scenario: login throughput under each password hash, strata against the
floor doing the same hash. For bcrypt 10, bcrypt 12 and argon2id at its defaults
(19 MiB, t=2, p=1) a strata is started with that setting (so no login rehashes), users
are seeded with hashes of it, and wrk logs them in on both servers, alternated. Under
argon2id, `/health` and `GET /api/users/me` are probed while logins saturate the cores,
and strata's peak RSS is read after. Unknown names are logged in too: their p50 is what
an enumeration attempt sees against a known account's."""

import os
import time

from infra import OUT, Server, log, now_text, sh, uuid7
from load import Wrk, summarize

PORT = 18083
SETTINGS = [
    ("bcrypt 10", {"PASSWORD_HASH": "bcrypt", "BCRYPT_COST": "10"}, ["bcrypt-hash", "10"]),
    ("bcrypt 12", {"PASSWORD_HASH": "bcrypt", "BCRYPT_COST": "12"}, ["bcrypt-hash", "12"]),
    ("argon2id", {"PASSWORD_HASH": "argon2id", "ARGON2_MEMORY_KIB": "19456", "ARGON2_ITERATIONS": "2",
                  "ARGON2_PARALLELISM": "1"}, ["argon2id-hash", "19456", "2", "1"]),
]


def seed(bench, tag, hash_cmd, password, n=200):
    """`n` accounts hashed by `hash_cmd`; returns the file of their names."""
    hashed = sh([bench.floor_bin, *hash_cmd], stdin=password).strip()
    ms, now = int(time.time() * 1000), now_text()
    rows = [(uuid7(ms - n + i), f"h{tag}{i:04d}", f"h{tag}{i:04d}@bench.example", hashed, now, now)
            for i in range(n)]
    bench.backend.insert("users", ["id", "username", "email", "password_hash", "created_at", "updated_at"], rows)
    path = os.path.join(OUT, f"users-hash-{tag}.txt")
    with open(path, "w") as f:
        f.writelines(r[1] + "\n" for r in rows)
    return path


def unknown_names(tag, n=200):
    path = os.path.join(OUT, f"users-unknown-{tag}.txt")
    with open(path, "w") as f:
        f.writelines(f"nobody{tag}{i:04d}\n" for i in range(n))
    return path


def login_run(srv, users, password, conns, duration):
    return Wrk(srv.port, "login", conns, duration, "/api/auth/login", timeout="30s",
               env={"BENCH_USERS": users, "BENCH_PASSWORD": password}).finish()


def saturated(bench, srv, users, password):
    """Logins keep the cores busy while two slow probes measure latency."""
    cfg = bench.cfg
    login = Wrk(srv.port, "login", cfg.login_connections, cfg.duration + 2, "/api/auth/login", timeout="30s",
                env={"BENCH_USERS": users, "BENCH_PASSWORD": password})
    time.sleep(1.0)
    health = Wrk(srv.port, "static", 2, cfg.duration, "/health", env={"BENCH_DELAY_MS": "10"})
    me = Wrk(srv.port, "get", 2, cfg.duration, "/api/users/me",
             env={"BENCH_TOKENS": bench.files["tokens-me"], "BENCH_PATH": "/api/users/me", "BENCH_DELAY_MS": "10"})
    return {"health": health.finish(), "me": me.finish(), "login": login.finish()}


def run(bench, password):
    cfg = bench.cfg
    out = {}
    for i, (label, setting, hash_cmd) in enumerate(SETTINGS):
        tag = f"{i}"
        users = seed(bench, tag, hash_cmd, password)
        unknown = unknown_names(tag)
        env = dict(bench.strata.env)
        env.update(setting)
        env["BIND_ADDR"] = f"127.0.0.1:{PORT}"
        env.pop("PASSWORD_REHASH", None)
        strata = Server("strata", bench.strata.argv, env, PORT, f"strata-hash-{tag}-{cfg.db}.log")
        strata.start()
        try:
            runs = {"strata": [], "floor": []}
            for srv in (strata, bench.floor):  # warm-up, not recorded
                login_run(srv, users, password, cfg.login_connections, 1)
            for rep in range(cfg.repeat):
                for srv in ((strata, bench.floor) if rep % 2 == 0 else (bench.floor, strata)):
                    runs[srv.name].append(login_run(srv, users, password, cfg.login_connections, cfg.duration))
            entry = {name: summarize(rs) for name, rs in runs.items()}
            entry["unknown"] = summarize([login_run(strata, unknown, password, cfg.login_connections, cfg.duration)
                                          for _ in range(cfg.repeat)])
            st, fl, un = entry["strata"], entry["floor"], entry["unknown"]
            log(f"hashes {label}: strata {st['rps']:.1f} logins/s p50 {st['p50_us'] / 1000:.1f} ms p99 "
                f"{st['p99_us'] / 1000:.1f} ms | floor {fl['rps']:.1f} logins/s p50 {fl['p50_us'] / 1000:.1f} ms "
                f"(x{st['rps'] / fl['rps']:.2f}); unknown names p50 {un['p50_us'] / 1000:.1f} ms; "
                f"errors {st['errors']} / {fl['errors']}")
            if label == "argon2id":
                sat = saturated(bench, strata, users, password)
                entry["saturated"] = {k: summarize([v]) for k, v in sat.items()}
                hwm, rss, threads = strata.memory()
                entry["memory"] = {"hwm_kib": hwm, "rss_kib": rss, "threads": threads}
                s = entry["saturated"]
                log(f"hashes argon2id saturated: {s['login']['rps']:.1f} logins/s, /health p99 "
                    f"{s['health']['p99_us'] / 1000:.2f} ms, users/me p99 {s['me']['p99_us'] / 1000:.2f} ms; "
                    f"strata VmHWM {hwm / 1024:.1f} MiB")
            out[label] = entry
        finally:
            strata.stop()
    bench.results["hashes"] = out
