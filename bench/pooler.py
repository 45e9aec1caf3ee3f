"""The `pooler` scenario (BENCH_DB=postgres): `users/me` and a task list with strata's
database reached directly, through PgBouncer in transaction mode (no prepared-statement
cache: the cost measured), and directly with one streaming replica taking the reads that
may lag; the floor on the same primary, in the same run.

The primary and its replica are private (initdb, then `pg_basebackup -R`) on ports of
their own, like the test harness's: the shared server allows no replication. Both run on
this machine's two cores with the servers and wrk, so a replica adds no capacity here:
the figure is what routing reads costs (a write-mark lookup in Redis per read, the watch)
and what the pooler's extra hop and unprepared statements cost."""

import os
import shutil
import subprocess
import tempfile
import time

from infra import OUT, Server, call, log, sh
from load import logins, run_wrk, summarize

PORTS = {"direct": 18086, "pgbouncer": 18087, "replica": 18088, "floor": 18089, "uncached": 18093}
PG_PRIMARY, PG_REPLICA, BOUNCER = 18090, 18091, 18092
DB = "strata_pooler"

SETTINGS = """listen_addresses = '127.0.0.1'
fsync = off
full_page_writes = off
synchronous_commit = off
max_connections = 200
wal_level = replica
hot_standby = on
hot_standby_feedback = on
plan_cache_mode = force_generic_plan
"""


def pg_bin(name):
    versions = sorted(int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit())
    return f"/usr/lib/postgresql/{versions[-1]}/bin/{name}"


def as_postgres(argv):
    return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv


def psql(port, sql, db="postgres"):
    return sh(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-XAt", "-c", sql]).strip()


class Pair:
    """A private primary, its streaming replica and a PgBouncer in front of the primary."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="strata-bench-pg-")
        self.bouncer = None

    def start(self):
        d = self.dir
        if os.geteuid() == 0:
            shutil.chown(d, "postgres", "postgres")
        sh(as_postgres([pg_bin("initdb"), "-D", f"{d}/primary", "-U", "postgres", "--auth=trust", "--no-sync"]))
        self.configure("primary", PG_PRIMARY)
        self.ctl("primary", "start")
        psql(PG_PRIMARY, f"CREATE DATABASE {DB}")
        sh(as_postgres([pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(PG_PRIMARY), "-U", "postgres",
                        "-R", "-X", "stream", "-c", "fast", "--no-sync", "-D", f"{d}/replica"]))
        self.configure("replica", PG_REPLICA)
        self.ctl("replica", "start")
        ini = (f"[databases]\n* = host=127.0.0.1 port={PG_PRIMARY}\n[pgbouncer]\nlisten_addr = 127.0.0.1\n"
               f"listen_port = {BOUNCER}\nunix_socket_dir =\nauth_type = trust\nauth_file = {d}/users.txt\n"
               f"pool_mode = transaction\nmax_client_conn = 1000\ndefault_pool_size = 8\n"
               f"ignore_startup_parameters = extra_float_digits,options\nlogfile = {d}/pgbouncer.log\n")
        with open(f"{d}/pgbouncer.ini", "w") as f:
            f.write(ini)
        with open(f"{d}/users.txt", "w") as f:
            f.write('"postgres" ""\n')
        if os.geteuid() == 0:
            sh(["chown", "-R", "postgres:postgres", d])
        argv = ["pgbouncer"] + (["-u", "postgres"] if os.geteuid() == 0 else []) + [f"{d}/pgbouncer.ini"]
        self.bouncer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                psql(BOUNCER, "SELECT 1", DB)
                return
            except RuntimeError:
                time.sleep(0.1)
        raise RuntimeError("pgbouncer did not start")

    def configure(self, name, port):
        with open(f"{self.dir}/{name}/postgresql.conf", "a") as f:
            f.write(SETTINGS + f"port = {port}\nunix_socket_directories = '{self.dir}'\n")

    def ctl(self, name, action):
        sh(as_postgres([pg_bin("pg_ctl"), "-D", f"{self.dir}/{name}", "-l", f"{self.dir}/{name}.log", "-w",
                        "-m", "immediate", action] if action == "stop" else
                       [pg_bin("pg_ctl"), "-D", f"{self.dir}/{name}", "-l", f"{self.dir}/{name}.log", "-w", action]))

    def stop(self):
        if self.bouncer:
            self.bouncer.kill()
            self.bouncer.wait()
        for name in ("replica", "primary"):
            try:
                self.ctl(name, "stop")
            except RuntimeError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def url(port):
    return f"postgres://postgres@127.0.0.1:{port}/{DB}?sslmode=disable"


def get(srv, path, tokens, conns, duration):
    return run_wrk(srv.port, "get", conns, duration, path, env={"BENCH_TOKENS": tokens, "BENCH_PATH": path})


def run(bench, password):
    cfg = bench.cfg
    if cfg.db != "postgres" or not shutil.which("pgbouncer"):
        log("pooler: skipped (needs BENCH_DB=postgres and pgbouncer)")
        return
    pair = Pair()
    servers = []
    try:
        pair.start()

        def strata(name, extra):
            env = dict(bench.strata.env)
            env.update({"BIND_ADDR": f"127.0.0.1:{PORTS[name]}", "DATABASE_URL": url(PG_PRIMARY),
                        "REDIS_KEY_PREFIX": "strata-bench-pooler:"})
            env.update(extra)
            return Server(f"strata-{name}", bench.strata.argv, env, PORTS[name], f"strata-pooler-{name}.log")

        direct = strata("direct", {}).start()
        servers.append(direct)
        # Direct, but run as through a pooler: what the statement cache alone is worth.
        uncached = strata("uncached", {"DATABASE_POOLER": "pgbouncer"}).start()
        servers.append(uncached)
        bouncer = strata("pgbouncer", {"DATABASE_URL": url(BOUNCER), "DATABASE_POOLER": "pgbouncer"}).start()
        servers.append(bouncer)
        replica = strata("replica", {"DATABASE_REPLICA_URLS": url(PG_REPLICA), "REPLICA_MAX_LAG": "1s"}).start()
        servers.append(replica)
        fenv = dict(bench.floor.env)
        fenv.update({"BIND_ADDR": f"127.0.0.1:{PORTS['floor']}", "DATABASE_URL": url(PG_PRIMARY),
                     "REDIS_KEY_PREFIX": "strata-bench-pooler:"})
        floor = Server("floor-pooler", bench.floor.argv, fenv, PORTS["floor"], "floor-pooler.log").start()
        servers.append(floor)

        users = [f"pool_{i}" for i in range(32)]
        for u in users:
            status, body = call(direct.port, "POST", "/api/auth/register",
                                {"username": u, "email": f"{u}@bench.example", "password": password})
            if status != 201:
                raise RuntimeError(f"register {u}: {status} {body}")
        tokens = [t["access_token"] for t in logins(direct.port, users, password)]
        for t in tokens[:8]:
            for i in range(20):
                call(direct.port, "POST", "/api/tasks", {"title": f"task {i}"}, token=t)
        psql(PG_PRIMARY, "ANALYZE", DB)
        me_file = os.path.join(OUT, "tokens-pooler-me.txt")
        with open(me_file, "w") as f:
            f.writelines(t + "\n" for t in tokens)
        tasks_file = os.path.join(OUT, "tokens-pooler-tasks.txt")
        with open(tasks_file, "w") as f:
            f.writelines(t + "\n" for t in tokens[:8])
        # The registrations' write marks lapse (1 s + margins), so reads may use the replica.
        time.sleep(4)
        sides = [direct, uncached, bouncer, replica, floor]
        out = {}
        for key, path, tfile in (("me", "/api/users/me", me_file), ("tasks", "/api/tasks", tasks_file)):
            for conns in cfg.wide:
                for srv in sides:
                    get(srv, path, tfile, conns, 1)
                runs = {srv.name: [] for srv in sides}
                for rep in range(cfg.repeat):
                    for srv in (sides if rep % 2 == 0 else list(reversed(sides))):
                        runs[srv.name].append(get(srv, path, tfile, conns, cfg.duration))
                entry = {name: summarize(rs) for name, rs in runs.items()}
                out[f"{key} c{conns}"] = entry
                d, u, b, r, fl = (entry[s.name] for s in sides)
                log(f"pooler {key} c{conns}: direct {d['rps']:,.0f} | no cache {u['rps']:,.0f} "
                    f"(x{u['rps'] / d['rps']:.3f}) | pgbouncer {b['rps']:,.0f} (x{b['rps'] / d['rps']:.3f}) | "
                    f"replica {r['rps']:,.0f} (x{r['rps'] / d['rps']:.3f}) | floor {fl['rps']:,.0f} req/s; "
                    f"errors {d['errors']}/{u['errors']}/{b['errors']}/{r['errors']}/{fl['errors']}")
        scans = psql(PG_REPLICA, "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) "
                                 "FROM pg_stat_user_tables", DB)
        log(f"pooler: the replica counted {scans} table scans (reads it served)")
        out["replica_scans"] = scans
        bench.results["pooler"] = out
    finally:
        for srv in servers:
            srv.stop()
        pair.stop()
