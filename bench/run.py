#!/usr/bin/env python3
"""`make bench`: strata against its floor, over loopback, with wrk.

Settings (environment):
  BENCH_DB            sqlite | postgres | mysql              (default sqlite)
  BENCH_STORE         redis | memory (memory: no REDIS_URL)  (default redis)
  BENCH_DURATION      seconds per figure                      (default 5)
  BENCH_REPEAT        figures per server, medians reported    (default 3)
  BENCH_CONNECTIONS   comma list                              (default 8,32,128)
  BENCH_LOGIN_CONNECTIONS                                     (default 8)
  BENCH_SCENARIOS     comma list of: health me tasks create refresh mixed login
                      saturation regflood reset mfa passkey hashes signing pooler cluster scale
                      wire (default all)
  BENCH_REDIS_URL     (default redis://127.0.0.1:6379); keys under `strata-bench:`
  BENCH_POSTGRES / BENCH_MYSQL  user@host:port of the servers (defaults: local ones)
  BENCH_FLOOR_DB_MODE pool | inline                          (default inline)
  BENCH_FLOOR_REDIS_MODE shared | per-worker                  (default per-worker)
  BENCH_STRATA_ENV / BENCH_FLOOR_ENV  extra "K=V K=V" for either server
  BENCH_BASELINE_BIN  an A/B: this api binary (an older build) runs in the floor's place,
                      with strata's settings, so "ratio" is new / old in one run. Needs
                      BENCH_STORE=redis: both servers must know every session.
  BENCH_INSTRUCTIONS  1: also count strata's instructions per users/me with callgrind
  BENCH_BASELINE_ENV  extra "K=V K=V" for the baseline only (an A/B of settings: the same
                      binary with BENCH_STRATA_ENV on one side and this on the other)
  BENCH_BIG           users and tasks of the size checks      (default 100000)
  BENCH_TAG           suffix of the results' file names (experiments)
  BENCH_WAIT_QUIET    1: first wait until load average < 0.7 and no cargo/rustc runs
  BENCH_PERF          0: no `perf stat` of the server's CPU time and context switches
                      per request (default: on when perf is installed)

Seeding: a few accounts are registered through strata's API (the owners of the task
lists and of the written tasks); the bulk (1,000 then 100,000 users, 1,000 and 100,000
tasks) is inserted directly into the database with application-format ids (UUID v7
text) and a bcrypt hash made by `floor bcrypt-hash`. Every token comes from a real login.
Results: target/bench/results-<db>-<store>.{json,md}.
"""

import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
import hashes  # noqa: E402
import mfa  # noqa: E402
import passkeys  # noqa: E402
import pooler  # noqa: E402
import signing  # noqa: E402
import report  # noqa: E402
import wire  # noqa: E402
from infra import OUT, ROOT, Backend, Redis, Server, call, log, now_text, sh, uuid7  # noqa: E402
from load import PerfStat, RefreshPool, Wrk, logins, run_wrk, summarize  # noqa: E402

PREFIX = "strata-bench:"
PASSWORD = "bench-password-1"
ALL = ("health me tasks create refresh mixed login saturation regflood reset mfa passkey hashes signing pooler "
       "cluster scale wire").split()


def env_list(name, default):
    return [int(x) for x in (os.environ.get(name) or default).split(",") if x.strip()]


class Config:
    def __init__(self):
        def e(key, default):
            return os.environ.get(key) or default

        self.db = e("BENCH_DB", "sqlite")
        self.store = e("BENCH_STORE", "redis")
        self.duration = int(e("BENCH_DURATION", "5"))
        self.repeat = int(e("BENCH_REPEAT", "3"))
        self.connections = env_list("BENCH_CONNECTIONS", "8,32,128")
        self.login_connections = int(e("BENCH_LOGIN_CONNECTIONS", "8"))
        self.scenarios = [s.strip() for s in e("BENCH_SCENARIOS", ",".join(ALL)).split(",") if s.strip()]
        self.redis_url = e("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
        # Measured on this machine (BENCHMARKS.md): the floor is fastest querying on the
        # worker thread itself, with a Redis connection of each worker's own.
        self.floor_db_mode = e("BENCH_FLOOR_DB_MODE", "inline")
        self.floor_redis_mode = e("BENCH_FLOOR_REDIS_MODE", "per-worker")
        self.big = int(e("BENCH_BIG", "100000"))
        self.perf = e("BENCH_PERF", "1") != "0" and PerfStat.available
        self.threads = 2
        self.strata_port, self.floor_port = 18080, 18081
        self.big_conns = 32 if 32 in self.connections else self.connections[len(self.connections) // 2]
        self.wide = [c for c in self.connections if c >= 32] or self.connections
        if self.store not in ("redis", "memory"):
            raise SystemExit("BENCH_STORE must be redis or memory")

    def public(self):
        return {k: v for k, v in vars(self).items()}


def extra_env(name):
    out = {}
    for item in os.environ.get(name, "").split():
        k, _, v = item.partition("=")
        out[k] = v
    return out


def machine(backend, redis):
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = [backend.version()]
    if redis:
        versions.append(redis.version())
    versions.append(sh(["wrk", "-v"], check=False).splitlines()[0].split(" [")[0])
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "versions": versions, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def busy():
    load1 = os.getloadavg()[0]
    builds = subprocess.run(["pgrep", "-a", "-x", "cargo|rustc"], capture_output=True, text=True).stdout
    n = len([l for l in builds.splitlines() if l.strip()])
    quiet = load1 < 0.7 and n == 0
    return load1, ("machine quiet at start" if quiet else
                   f"MACHINE BUSY at start (load {load1:.2f}, {n} cargo/rustc processes)")


def wait_quiet():
    """With BENCH_WAIT_QUIET=1: wait (at most BENCH_WAIT_MAX seconds, default 900) until the
    1-minute load average is below 0.7 and no cargo or rustc process runs."""
    if os.environ.get("BENCH_WAIT_QUIET") != "1":
        return
    limit = time.time() + int(os.environ.get("BENCH_WAIT_MAX") or "900")
    last = 0
    while time.time() < limit:
        load1, note = busy()
        if note.startswith("machine quiet"):
            return
        if time.time() - last > 60:
            log(f"waiting for a quiet machine: {note}")
            last = time.time()
        time.sleep(5)
    log("the machine did not become quiet; measuring anyway (noted in the results)")


def spread(n_total, k, start=1):
    """k user numbers spread evenly over start..start+n_total-1."""
    step = max(1, n_total // k)
    return [start + i * step for i in range(k)]


def uname(i):
    return f"u{i:06d}"


class Bench:
    def __init__(self, cfg):
        self.cfg = cfg
        self.backend = Backend(cfg.db, cfg.store)
        self.redis = Redis(cfg.redis_url) if cfg.store == "redis" else None
        self.api_bin = os.path.join(ROOT, "target", "release", "api")
        self.floor_bin = os.path.join(ROOT, "target", "release", "floor")
        for b in (self.api_bin, self.floor_bin):
            if not os.path.exists(b):
                raise SystemExit(f"{b} is missing: `make bench` builds it (cargo build --release)")
        self.secret = secrets.token_hex(32)
        self.results = {"config": cfg.public(), "scenarios": [], "scale": {}, "wire": {}, "memory": {}}
        self.files = {}

    # --- servers ---------------------------------------------------------------------
    def env(self, port):
        e = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
        e.update({
            "DATABASE_URL": self.backend.url, "JWT_API_SECRET": self.secret,
            "BIND_ADDR": f"127.0.0.1:{port}", "BCRYPT_COST": "10", "APP_ENV": "development",
            "LOG_FORMAT": "json", "RUST_LOG": "info", "ACCESS_TOKEN_TTL": "2h",
            "REFRESH_TOKEN_TTL": "7d", "REDIS_KEY_PREFIX": PREFIX, "SHUTDOWN_TIMEOUT": "2s",
            "LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000000", "LOGIN_MAX_FAILURES_PER_IP": "1000000",
            # The flood below must reach bcrypt: a limit per address would stop it at once.
            "REGISTER_MAX_PER_IP": "1000000",
            # The reset scenario must reach the lookup and the outbox, not the limits.
            "PASSWORD_RESET_MAX_PER_ADDRESS": "1000000", "PASSWORD_RESET_MAX_PER_IP": "1000000",
            "MAIL_MAX_PER_ADDRESS": "1000000", "MAIL_DIR": os.path.join(OUT, "mail"),
            # The outbox worker wakes when a mail is queued; its idle poll would show up in
            # the wire counts as statements of the requests around it.
            "MAIL_POLL_INTERVAL": "60s",
            # Accounts are seeded at other costs on purpose (bcrypt 12 for saturation, 4 for
            # mfa): a login must not rehash them to this server's cost 10.
            "PASSWORD_REHASH": "false",
        })
        if self.redis:
            e["REDIS_URL"] = self.cfg.redis_url
        return e

    def make_servers(self):
        tag = f"{self.cfg.db}-{self.cfg.store}"
        se = self.env(self.cfg.strata_port)
        se.update(extra_env("BENCH_STRATA_ENV"))
        fe = self.env(self.cfg.floor_port)
        fe.update({"FLOOR_DB_MODE": self.cfg.floor_db_mode, "FLOOR_REDIS_MODE": self.cfg.floor_redis_mode})
        fe.update(extra_env("BENCH_FLOOR_ENV"))
        self.strata = Server("strata", [self.api_bin, "serve"], se, self.cfg.strata_port, f"strata-{tag}.log")
        baseline = os.environ.get("BENCH_BASELINE_BIN")
        if baseline:
            if not self.redis:
                raise SystemExit("BENCH_BASELINE_BIN needs BENCH_STORE=redis")
            be = self.env(self.cfg.floor_port)
            be.update(extra_env("BENCH_STRATA_ENV"))
            be.update(extra_env("BENCH_BASELINE_ENV"))
            log(f"A/B: the floor's column is {baseline}")
            self.floor = Server("floor", [baseline, "serve"], be, self.cfg.floor_port, f"baseline-{tag}.log")
        else:
            self.floor = Server("floor", [self.floor_bin, "serve"], fe, self.cfg.floor_port, f"floor-{tag}.log")

    def ab_instructions(self):
        """In an A/B, each binary's instructions per `users/me` by callgrind: the one figure
        that does not move with the machine's load."""
        if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
            log("A/B instructions: not counted (no valgrind)")
            return
        counted = {}
        for srv in (self.strata, self.floor):
            counted[srv.name] = cluster.instructions(self, f"ab-{srv.name}", srv.env, self.files["tokens-me"],
                                                     OUT, srv.argv)
        new, old = counted["strata"]["per_request"], counted["floor"]["per_request"]
        self.results["ab_instructions"] = counted
        log(f"A/B instructions per users/me: this build {new:,.0f} | baseline {old:,.0f} (x{new / old:.3f})")

    def strata_instructions(self):
        """strata's instructions per `users/me` by callgrind, which the machine's load does
        not move (to compare settings run by run)."""
        if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
            log("instructions: not counted (no valgrind)")
            return
        counted = cluster.instructions(self, "strata", self.strata.env, self.files["tokens-me"], OUT,
                                       self.strata.argv)
        self.results["instructions"] = counted
        log(f"instructions per users/me: {counted['per_request']:,.0f}")

    def write(self, name, lines):
        path = os.path.join(OUT, f"{name}-{self.cfg.db}-{self.cfg.store}.txt")
        with open(path, "w") as f:
            f.writelines(l + "\n" for l in lines)
        self.files[name] = path
        return path

    # --- seeding ---------------------------------------------------------------------
    def hash(self, cost):
        return sh([self.floor_bin, "bcrypt-hash", str(cost)], stdin=PASSWORD).strip()

    def register(self, username):
        port = self.strata.port
        status, body = call(port, "POST", "/api/auth/register",
                            {"username": username, "email": f"{username}@bench.example", "password": PASSWORD})
        if status != 201:
            raise RuntimeError(f"register {username}: {status} {body}")
        return body["id"]

    def add_users(self, first, last, hash10):
        rows, now = [], now_text()
        ms = int(time.time() * 1000)
        for i in range(first, last + 1):
            rows.append((uuid7(ms - (last - i)), uname(i), f"{uname(i)}@bench.example", hash10, now, now))
        self.backend.insert("users", ["id", "username", "email", "password_hash", "created_at", "updated_at"], rows)
        return {uname(i): r[0] for i, r in zip(range(first, last + 1), rows)}

    def add_tasks(self, user_id, n):
        ms, now = int(time.time() * 1000) - n, now_text()
        rows = [(uuid7(ms + i), user_id, f"seeded task {i}", None, False, now, now) for i in range(n)]
        self.backend.insert("tasks", ["id", "user_id", "title", "description", "done", "created_at", "updated_at"],
                            rows)

    def seed_small(self):
        t0 = time.time()
        hash10, hash12 = self.hash(10), self.hash(12)
        self.special = {name: self.register(name) for name in ("bench_t1k", "bench_t100k", "bench_writer")}
        self.users = self.add_users(1, 1000, hash10)
        self.backend.insert("users", ["id", "username", "email", "password_hash", "created_at", "updated_at"],
                            [(uuid7(int(time.time() * 1000)), "bench_c12", "bench_c12@bench.example", hash12,
                              now_text(), now_text())])
        self.add_tasks(self.special["bench_t1k"], 1000)
        me_users = [uname(i) for i in spread(1000, 64)]
        self.me_users = me_users
        for u in me_users:
            self.add_tasks(self.users[u], 25)
        self.backend.analyze()
        port = self.strata.port
        self.write("tokens-me", [t["access_token"] for t in logins(port, me_users, PASSWORD)])
        self.write("tokens-t1k", [t["access_token"] for t in logins(port, ["bench_t1k"] * 8, PASSWORD)])
        self.write("tokens-writer", [t["access_token"] for t in logins(port, ["bench_writer"] * 8, PASSWORD)])
        self.write("users-1k", [uname(i) for i in range(1, 1001)])
        self.write("users-c12", ["bench_c12"])
        pool_users = [uname(i) for i in range(501, 1001)]
        self.pools = {"strata": RefreshPool(self.strata.port, pool_users, PASSWORD),
                      "floor": RefreshPool(self.floor.port, pool_users, PASSWORD)}
        need = max(self.cfg.wide) + 8 * self.cfg.threads
        if "refresh" in self.cfg.scenarios or "wire" in self.cfg.scenarios:
            for p in self.pools.values():
                p.top_up(need)
        log(f"seeded 1,000 users, 1,000 + 64 x 25 tasks, {len(me_users) + 16} sessions "
            f"and 2 x {need} refresh sessions in {time.time() - t0:.1f}s")

    def seed_big(self):
        t0 = time.time()
        big = self.cfg.big
        self.users.update(self.add_users(1001, big, self.hash(10)))
        self.add_tasks(self.special["bench_t100k"], big)
        self.backend.analyze()
        port = self.strata.port
        me_users = [uname(i) for i in spread(big, 64)]
        self.write("tokens-me100k", [t["access_token"] for t in logins(port, me_users, PASSWORD)])
        self.write("tokens-t100k", [t["access_token"] for t in logins(port, ["bench_t100k"] * 8, PASSWORD)])
        self.write("users-100k", [uname(i) for i in spread(big, 1000)])
        log(f"seeded up to {self.backend.count('users'):,} users and "
            f"{self.backend.count('tasks'):,} tasks in {time.time() - t0:.1f}s")

    # --- scenarios -------------------------------------------------------------------
    def scenario(self, key, srv, conns, duration):
        port = srv.port
        f = self.files
        if key == "health":
            return run_wrk(port, "static", conns, duration, "/health")
        if key in ("me", "me100k"):
            tokens = f["tokens-me" if key == "me" else "tokens-me100k"]
            return run_wrk(port, "get", conns, duration, "/api/users/me",
                           env={"BENCH_TOKENS": tokens, "BENCH_PATH": "/api/users/me"})
        if key in ("tasks", "tasks1k", "tasks100k"):
            tokens = f["tokens-t100k" if key == "tasks100k" else "tokens-t1k"]
            return run_wrk(port, "get", conns, duration, "/api/tasks",
                           env={"BENCH_TOKENS": tokens, "BENCH_PATH": "/api/tasks"})
        if key == "create":
            return run_wrk(port, "post_task", conns, duration, "/api/tasks", env={"BENCH_TOKENS": f["tokens-writer"]})
        if key == "mixed":
            return run_wrk(port, "mixed", conns, duration, "/api/tasks", env={"BENCH_TOKENS": f["tokens-me"]})
        if key == "refresh":
            return self.pools[srv.name].run(conns, duration)
        if key in ("login", "login100k"):
            users = f["users-1k" if key == "login" else "users-100k"]
            return run_wrk(port, "login", conns, duration, "/api/auth/login", timeout="30s",
                           env={"BENCH_USERS": users, "BENCH_PASSWORD": PASSWORD})
        raise ValueError(key)

    def measured(self, key, srv, conns, duration):
        """A run, with the server's CPU time and context switches per request if perf is here."""
        stat = PerfStat(srv.proc.pid) if self.cfg.perf else None
        try:
            r = self.scenario(key, srv, conns, duration)
        finally:
            if stat:
                stat.stop()
        if stat:
            r.update(stat.per_request(r["requests"]))
        return r

    def compare(self, key, label, conns_list, servers=None):
        servers = servers or [self.strata, self.floor]
        cfg = self.cfg
        for i, conns in enumerate(conns_list):
            if i == 0:
                for srv in servers:  # warm-up, not recorded
                    self.scenario(key, srv, conns, 1)
            runs = {s.name: [] for s in servers}
            for rep in range(cfg.repeat):
                order = servers if rep % 2 == 0 else list(reversed(servers))
                for srv in order:
                    runs[srv.name].append(self.measured(key, srv, conns, cfg.duration))
            entry = {"key": key, "label": label, "conns": conns}
            for name, rs in runs.items():
                entry[name] = summarize(rs)
            self.results["scenarios"].append(entry)
            st, fl = entry.get("strata"), entry.get("floor")
            log(f"{label} c{conns}: strata {st['rps']:,.0f} req/s p99 {st['p99_us'] / 1000:.2f} ms "
                f"err {st['errors']}" + (f" | floor {fl['rps']:,.0f} req/s p99 {fl['p99_us'] / 1000:.2f} ms "
                                         f"err {fl['errors']}" if fl else ""))

    def saturation(self):
        """Logins at bcrypt cost 12 keep both cores busy; two slow probes measure latency."""
        cfg = self.cfg
        out = {}
        for srv in (self.strata, self.floor):
            runs = []
            for _ in range(cfg.repeat):
                login = Wrk(srv.port, "login", cfg.login_connections, cfg.duration + 2, "/api/auth/login",
                            timeout="30s", env={"BENCH_USERS": self.files["users-c12"], "BENCH_PASSWORD": PASSWORD})
                time.sleep(1.0)
                health = Wrk(srv.port, "static", 2, cfg.duration, "/health", env={"BENCH_DELAY_MS": "10"})
                me = Wrk(srv.port, "get", 2, cfg.duration, "/api/users/me",
                         env={"BENCH_TOKENS": self.files["tokens-me"], "BENCH_PATH": "/api/users/me",
                              "BENCH_DELAY_MS": "10"})
                runs.append({"health": health.finish(), "me": me.finish(), "login": login.finish()})
            out[srv.name] = {k: summarize([r[k] for r in runs]) for k in ("login", "health", "me")}
            s = out[srv.name]
            log(f"saturation {srv.name}: {s['login']['rps']:.1f} logins/s, /health p99 "
                f"{s['health']['p99_us'] / 1000:.2f} ms, users/me p99 {s['me']['p99_us'] / 1000:.2f} ms")
        self.results["saturation"] = out

    def regflood(self):
        """Login latency (one client, bcrypt 10) alone, then under 40 clients registering:
        new names (each a bcrypt hash) and a taken name (each a 409). Strata only."""
        cfg = self.cfg
        users = {"BENCH_USERS": self.files["users-1k"], "BENCH_PASSWORD": PASSWORD}

        def probe():
            return Wrk(self.strata.port, "login", 1, cfg.duration, "/api/auth/login", threads=1,
                       timeout="30s", env=users)

        out = {"alone": [], "new_names": [], "taken_name": [], "flood": {}}
        for _ in range(cfg.repeat):
            out["alone"].append(probe().finish())
            for key, env in (("new_names", {}), ("taken_name", {"BENCH_TAKEN": "bench_writer"})):
                flood = Wrk(self.strata.port, "register", 40, cfg.duration + 2, "/api/auth/register",
                            timeout="30s", env=env)
                time.sleep(1.0)
                out[key].append(probe().finish())
                out["flood"].setdefault(key, []).append(flood.finish())
        res = {k: summarize(out[k]) for k in ("alone", "new_names", "taken_name")}
        res["flood"] = {k: summarize(v) for k, v in out["flood"].items()}
        self.results["regflood"] = res
        for k in ("new_names", "taken_name"):
            log(f"regflood {k}: login p50 {res[k]['p50_us'] / 1000:.1f} ms (alone "
                f"{res['alone']['p50_us'] / 1000:.1f}), p99 {res[k]['p99_us'] / 1000:.1f} ms; flood "
                f"{res['flood'][k]['rps']:.0f} req/s, {res['flood'][k]['errors']} non-2xx")

    def reset(self):
        """Password-reset requests (strata only). Timing: a known and an unknown address
        probed at once, 2 connections each with a 10 ms pause (what a prober sees; the
        background work a known address causes, a token and a mail written after the
        answer, included); the p50s must match. Throughput: each alone at 32 connections,
        against POST /api/tasks."""
        cfg = self.cfg
        emails = {"known": "bench_writer@bench.example", "unknown": "nobody@bench.example"}
        probes = {"known": [], "unknown": []}
        flood = {"known": [], "unknown": []}
        for _ in range(cfg.repeat):
            runs = {k: Wrk(self.strata.port, "reset", 2, cfg.duration, "/api/auth/password-reset",
                           env={"BENCH_EMAIL": e, "BENCH_DELAY_MS": "10"}) for k, e in emails.items()}
            for k, w in runs.items():
                probes[k].append(w.finish())
            for k, e in emails.items():
                flood[k].append(run_wrk(self.strata.port, "reset", 32, cfg.duration, "/api/auth/password-reset",
                                        env={"BENCH_EMAIL": e}))
        res = {k: summarize(v) for k, v in probes.items()}
        res["flood"] = {k: summarize(v) for k, v in flood.items()}
        self.results["reset"] = res
        log(f"reset probes: known p50 {res['known']['p50_us'] / 1000:.2f} ms, unknown "
            f"{res['unknown']['p50_us'] / 1000:.2f} ms; alone at 32 connections: known "
            f"{res['flood']['known']['rps']:,.0f} req/s, unknown {res['flood']['unknown']['rps']:,.0f} req/s")

    def scale(self):
        """Size checks. `users/me` and login at 1,000 users are measured here, right before
        the tables grow, so that each comparison spans a minute of this machine's drift
        rather than the whole run; the task lists alternate (both users exist)."""
        cfg, c = self.cfg, self.cfg.big_conns
        lc = cfg.login_connections
        runs = {"tasks1k": [], "tasks100k": [], "me1k": [], "login1k": []}
        self.scenario("me", self.strata, c, 1)
        for _ in range(cfg.repeat):
            runs["me1k"].append(self.scenario("me", self.strata, c, cfg.duration))
        for _ in range(cfg.repeat):
            runs["login1k"].append(self.scenario("login", self.strata, lc, cfg.duration))
        self.seed_big()
        self.scenario("me100k", self.strata, c, 1)
        runs["me100k"] = [self.scenario("me100k", self.strata, c, cfg.duration) for _ in range(cfg.repeat)]
        runs["login100k"] = [self.scenario("login100k", self.strata, lc, cfg.duration)
                             for _ in range(cfg.repeat)]
        self.scenario("tasks100k", self.strata, c, 1)
        for rep in range(cfg.repeat):
            for key in (["tasks1k", "tasks100k"] if rep % 2 == 0 else ["tasks100k", "tasks1k"]):
                runs[key].append(self.scenario(key, self.strata, c, cfg.duration))
        for k, rs in runs.items():
            self.results["scale"][k] = summarize(rs)
            s = self.results["scale"][k]
            log(f"scale {k}: {s['rps']:,.0f} req/s p50 {s['p50_us'] / 1000:.2f} ms p99 "
                f"{s['p99_us'] / 1000:.2f} ms err {s['errors']}")

    def wire(self):
        b = self.backend
        mylog = None
        time.sleep(3)  # logins still queued for bcrypt after the last wrk run finish first
        if b.name == "postgres":
            b.sql(f"ALTER DATABASE {b.url.split('/')[-1].split('?')[0]} SET log_statement = 'all';")
        elif b.name == "mysql":
            mylog = wire.MyLog(b)
            mylog.enable()
        try:
            if b.name == "postgres":  # the setting applies to connections opened from now on
                for srv in (self.strata, self.floor):
                    srv.stop()
                    srv.start()
            me_tokens = open(self.files["tokens-me"]).read().split()
            t1k = open(self.files["tokens-t1k"]).read().split()
            writer = open(self.files["tokens-writer"]).read().split()
            users = open(self.files["users-1k"]).read().split()
            for srv in (self.strata, self.floor):
                probes_sqlite = None
                if b.name == "sqlite":
                    probes_sqlite = wire.SqliteProbes(srv.proc.pid)
                    if not probes_sqlite.setup():
                        log("perf uprobes on libsqlite3 unavailable: SQLite statements not counted")
                        probes_sqlite = None
                pool = self.pools[srv.name]
                pool.top_up(35)
                refresh_tokens = [t for _, t in pool.tokens[:30]]
                pool.tokens = pool.tokens[30:]
                routes = [
                    ("GET /api/users/me", 100, lambda i: ("GET", "/api/users/me", None, me_tokens[i % len(me_tokens)])),
                    ("GET /api/tasks", 100, lambda i: ("GET", "/api/tasks", None, t1k[i % len(t1k)])),
                    ("POST /api/tasks", 50, lambda i: ("POST", "/api/tasks", {"title": "wire"}, writer[i % len(writer)])),
                    ("POST /api/auth/refresh", 20, lambda i: ("POST", "/api/auth/refresh",
                                                             {"refresh_token": refresh_tokens[i]}, None)),
                    ("POST /api/auth/login", 10, lambda i: ("POST", "/api/auth/login",
                                                           {"username": users[i * 7], "password": PASSWORD}, None)),
                    ("GET /health", 50, lambda i: ("GET", "/health", None, None)),
                ]
                spare = getattr(self, "mfa_spare", None)
                if srv is self.strata and spare:
                    routes.insert(5, ("POST /api/auth/mfa", 10, lambda i: (*spare[i], None)))
                out = {}
                for route, n, make in routes:
                    store_probe = wire.RedisMonitor(self.redis, PREFIX) if self.redis else None
                    if b.name == "postgres":
                        sql_probe = wire.PgLog()
                    elif b.name == "mysql":
                        sql_probe = mylog
                    else:
                        sql_probe = probes_sqlite
                    out[route] = wire.count(store_probe, sql_probe, srv.port, n, make)
                    log(f"wire {srv.name} {route}: statuses {out[route]['statuses']}")
                    wire.note(out[route])
                self.results["wire"][srv.name] = out
        finally:
            if b.name == "postgres":
                b.sql(f"ALTER DATABASE {b.url.split('/')[-1].split('?')[0]} RESET log_statement;")
            if mylog:
                mylog.restore()
            if b.name == "sqlite":
                wire.SqliteProbes.teardown()

    def memory(self, label):
        for srv in (self.strata, self.floor):
            hwm, rss, threads = srv.memory()
            m = self.results["memory"].setdefault(srv.name, {"snapshots": []})
            m.update({"hwm_kib": hwm, "rss_kib": rss, "threads": threads, "when": label})
            m["snapshots"].append({"when": label, "hwm_kib": hwm, "rss_kib": rss, "threads": threads})
            log(f"{srv.name}: VmHWM {hwm / 1024:.1f} MiB, VmRSS {rss / 1024:.1f} MiB, {threads} threads ({label})")

    # --- the whole run ---------------------------------------------------------------
    def run(self):
        cfg = self.cfg
        os.makedirs(OUT, exist_ok=True)
        load_before, busy_note = busy()
        log(f"BENCH_DB={cfg.db} BENCH_STORE={cfg.store}: {busy_note}")
        self.backend.reset()
        if self.redis:
            self.redis.delete_prefix(PREFIX)
        self.make_servers()
        meta = machine(self.backend, self.redis)
        meta.update({"load_before": f"{load_before:.2f}", "busy": busy_note})
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(self.api_bin)))
        meta["strata"] = f"api binary built {built}, tree at {commit or '?'}"
        self.results["meta"] = meta
        t0 = time.time()
        try:
            self.strata.start()
            self.floor.start()
            self.seed_small()
            labels = {"health": "GET /health", "me": "GET /api/users/me",
                      "tasks": "GET /api/tasks (20 of 1,000)", "create": "POST /api/tasks",
                      "refresh": "POST /api/auth/refresh", "mixed": "mixed 40/40/20",
                      "login": "POST /api/auth/login (bcrypt 10)"}
            conns = {"health": cfg.wide, "me": cfg.connections, "tasks": cfg.connections,
                     "create": cfg.wide, "refresh": cfg.wide, "mixed": cfg.wide,
                     "login": [cfg.login_connections]}
            log_size0 = os.path.getsize(self.strata.log_path)
            for key in ("health", "me", "tasks", "create", "refresh", "mixed", "login"):
                if key in cfg.scenarios:
                    self.compare(key, labels[key], conns[key])
            served = sum(s["strata"]["requests"] for s in self.results["scenarios"])
            self.results["strata_log_bytes_per_request"] = (
                (os.path.getsize(self.strata.log_path) - log_size0) / served if served else None)
            if "saturation" in cfg.scenarios:
                self.saturation()
            if "regflood" in cfg.scenarios:
                self.regflood()
            if "reset" in cfg.scenarios:
                self.reset()
            if "mfa" in cfg.scenarios:
                mfa.run(self, PASSWORD)
            if "passkey" in cfg.scenarios:
                passkeys.run(self, PASSWORD)
            if "hashes" in cfg.scenarios:
                hashes.run(self, PASSWORD)
            if "signing" in cfg.scenarios:
                signing.run(self, PASSWORD, self.me_users)
            if "pooler" in cfg.scenarios:
                pooler.run(self, PASSWORD)
            if "cluster" in cfg.scenarios:
                cluster.run(self, PASSWORD, PREFIX)
            self.memory("after the load scenarios (up to 128 connections)")
            if "scale" in cfg.scenarios:
                self.scale()  # seeds the 100,000 users and tasks itself
            self.memory("after the size checks")
            if "wire" in cfg.scenarios:
                self.wire()
            if os.environ.get("BENCH_BASELINE_BIN"):
                self.ab_instructions()
            elif os.environ.get("BENCH_INSTRUCTIONS") == "1":
                self.strata_instructions()
        finally:
            self.strata.stop()
            self.floor.stop()
            if self.redis:
                self.redis.delete_prefix(PREFIX)
        meta["load_after"] = f"{os.getloadavg()[0]:.2f}"
        meta["elapsed_s"] = round(time.time() - t0)
        self.results["targets"] = report.targets(self.results)
        return self.results


def main():
    cfg = Config()
    wait_quiet()
    bench = Bench(cfg)
    results = bench.run()
    tag = f"{cfg.db}-{cfg.store}" + (f"-{os.environ['BENCH_TAG']}" if os.environ.get("BENCH_TAG") else "")
    with open(os.path.join(OUT, f"results-{tag}.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    md = report.markdown(results)
    with open(os.path.join(OUT, f"results-{tag}.md"), "w") as f:
        f.write(md)
    print()
    print(md)
    fails = [t for t in results["targets"] if not t[1]]
    print(f"{len(results['targets']) - len(fails)} targets PASS, {len(fails)} FAIL "
          f"({results['meta']['elapsed_s']} s); results in target/bench/results-{tag}.json")


if __name__ == "__main__":
    main()
