"""Processes, databases, Redis and HTTP for `make bench` (Python standard library only)."""

import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench")
DB_NAME = "strata_bench"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(argv, stdin=None, check=True):
    """Runs a command; returns its stdout (text)."""
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... failed: {p.stderr.strip()[:500]}")
    return p.stdout


# --- databases -----------------------------------------------------------------------


class Backend:
    """The SQL database strata and the floor share: reset, seed, inspect."""

    def __init__(self, name, store):
        self.name = name
        self.store = store
        if name == "sqlite":
            self.path = os.path.join(OUT, f"{DB_NAME}-{store}.db")
            self.url = f"sqlite://{self.path}"
        elif name == "postgres":
            base = os.environ.get("BENCH_POSTGRES", "postgres@127.0.0.1:5432")
            self.url = f"postgres://{base}/{DB_NAME}?sslmode=disable"
        elif name == "mysql":
            base = os.environ.get("BENCH_MYSQL", "root@127.0.0.1:3306")
            self.url = f"mysql://{base}/{DB_NAME}"
        else:
            raise SystemExit(f"BENCH_DB={name!r}: use sqlite, postgres or mysql")

    # command-line clients of the servers
    def _cli(self, db=DB_NAME):
        if self.name == "postgres":
            user, host = os.environ.get("BENCH_POSTGRES", "postgres@127.0.0.1:5432").split("@")
            h, p = host.split(":")
            return ["psql", "-h", h, "-p", p, "-U", user, "-d", db or "postgres",
                    "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t"]
        user, host = os.environ.get("BENCH_MYSQL", "root@127.0.0.1:3306").split("@")
        h, p = host.split(":")
        return ["mysql", "-h", h, "-P", p, "-u", user, "-N", "-B"] + ([db] if db else [])

    def sql(self, text, db=DB_NAME):
        """Runs SQL text; returns rows as lists of strings."""
        if self.name == "sqlite":
            con = sqlite3.connect(self.path, timeout=30)
            try:
                rows = []
                for stmt in [s for s in text.split(";") if s.strip()]:
                    rows = [[str(c) for c in r] for r in con.execute(stmt).fetchall()]
                con.commit()
                return rows
            finally:
                con.close()
        out = sh(self._cli(db), stdin=text)
        return [line.split("\t") for line in out.splitlines() if line]

    def reset(self):
        """A fresh, empty database (strata's migrations create the tables)."""
        if self.name == "sqlite":
            os.makedirs(OUT, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)
        elif self.name == "postgres":
            self.sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE);", db="postgres")
            self.sql(f"CREATE DATABASE {DB_NAME};", db="postgres")
        else:
            self.sql(f"DROP DATABASE IF EXISTS {DB_NAME}; CREATE DATABASE {DB_NAME};", db=None)

    def version(self):
        if self.name == "sqlite":
            return "SQLite " + sqlite3.sqlite_version + " (system libsqlite3: " + \
                sh(["sqlite3", "--version"], check=False).split(" ")[0] + ")"
        if self.name == "postgres":
            return "PostgreSQL " + self.sql("SHOW server_version;")[0][0].split(" ")[0]
        return "MariaDB/MySQL " + self.sql("SELECT VERSION();")[0][0]

    def bool(self, b):
        return ("true" if b else "false") if self.name == "postgres" else ("1" if b else "0")

    def insert(self, table, columns, rows, batch=1000):
        """Inserts rows (tuples of Python values) directly, in batches."""
        if not rows:
            return
        if self.name == "sqlite":
            con = sqlite3.connect(self.path, timeout=30)
            try:
                marks = ",".join("?" * len(columns))
                con.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)
                con.commit()
            finally:
                con.close()
            return

        def lit(v):
            if v is None:
                return "NULL"
            if isinstance(v, bool):
                return self.bool(v)
            return "'" + str(v).replace("'", "''") + "'"

        parts = []
        for i in range(0, len(rows), batch):
            values = ",".join("(" + ",".join(lit(v) for v in r) + ")" for r in rows[i:i + batch])
            parts.append(f"INSERT INTO {table} ({','.join(columns)}) VALUES {values};")
        self.sql("\n".join(parts))

    def analyze(self):
        """After bulk inserts, what the database would do by itself a little later, done
        before measuring rather than during it: fresh planner statistics; on PostgreSQL a
        VACUUM too (a million inserted rows start autovacuum, seconds of CPU in the middle
        of a size check); on SQLite the WAL checkpointed into the database file, so reads
        do not search a WAL of 100,000 rows."""
        if self.name == "sqlite":
            self.sql("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")
        elif self.name == "postgres":
            self.sql("VACUUM ANALYZE users; VACUUM ANALYZE tasks;")
        elif self.name == "mysql":
            self.sql("ANALYZE TABLE users; ANALYZE TABLE tasks;")

    def count(self, table):
        return int(self.sql(f"SELECT COUNT(*) FROM {table};")[0][0])


def uuid7(ms):
    """A UUID v7 (the id format strata makes), for rows inserted directly."""
    v = (ms << 80) | (0x7 << 76) | (random.getrandbits(12) << 64) | (0b10 << 62) | random.getrandbits(62)
    return str(uuid.UUID(int=v))


def now_text():
    t = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1_000_000:06d}"


# --- Redis -----------------------------------------------------------------------------


class Redis:
    """Just enough of RESP for clean-up and MONITOR."""

    def __init__(self, url):
        hostport = url.split("://", 1)[1].split("/")[0].split("@")[-1]
        host, _, port = hostport.partition(":")
        self.addr = (host or "127.0.0.1", int(port or 6379))

    def connect(self):
        s = socket.create_connection(self.addr, timeout=5)
        return s, s.makefile("rb")

    @staticmethod
    def encode(*args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    @staticmethod
    def read(f):
        line = f.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [Redis.read(f) for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def cmd(self, *args):
        s, f = self.connect()
        try:
            s.sendall(self.encode(*args))
            return self.read(f)
        finally:
            s.close()

    def delete_prefix(self, prefix):
        """Deletes every key under `prefix` (and only those); returns how many."""
        s, f = self.connect()
        n, cursor = 0, "0"
        try:
            for _ in range(100_000):
                s.sendall(self.encode("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000))
                cursor, keys = self.read(f)
                if keys:
                    s.sendall(self.encode("UNLINK", *keys))
                    n += int(self.read(f))
                if cursor == "0":
                    break
        finally:
            s.close()
        return n

    def version(self):
        info = self.cmd("INFO", "server")
        for line in info.splitlines():
            if line.startswith("redis_version:"):
                return "Redis " + line.split(":", 1)[1].strip()
        return "Redis ?"


# --- processes -------------------------------------------------------------------------


class Server:
    """strata's `api serve` or the floor, started and stopped by its own pid."""

    def __init__(self, name, argv, env, port, log_name):
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.log_path = os.path.join(OUT, log_name)
        self.proc = None

    def start(self, timeout=60):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=OUT, stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; see {self.log_path}:\n"
                                   + tail(self.log_path))
            try:
                if call(self.port, "GET", "/health")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /health within {timeout}s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def memory(self):
        """(VmHWM KiB, VmRSS KiB, threads)."""
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:", "Threads:")):
                    k, v = line.split(":")
                    out[k] = int(v.split()[0])
        return out.get("VmHWM", 0), out.get("VmRSS", 0), out.get("Threads", 0)


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


# --- HTTP ------------------------------------------------------------------------------


def call(port, method, path, body=None, token=None, conn=None):
    """One request; returns (status, parsed JSON or None)."""
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return r.status, parsed
    finally:
        if own:
            c.close()
