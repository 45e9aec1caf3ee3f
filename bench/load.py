"""Driving wrk, logging in, and the refresh-token pools."""

import http.client
import json
import os
import statistics
import subprocess
from concurrent.futures import ThreadPoolExecutor

from infra import OUT, ROOT, call, log

LUA = os.path.join(ROOT, "bench", "wrk", "strata.lua")
_seq = [0]


class Wrk:
    """One wrk process (possibly running in the background)."""

    def __init__(self, port, mode, conns, duration, path="/", threads=2, timeout="5s", env=None):
        self.threads = max(1, min(threads, conns))
        _seq[0] += 1
        self.result = os.path.join(OUT, f"wrk-{os.getpid()}-{_seq[0]}.json")
        if os.path.exists(self.result):
            os.remove(self.result)
        e = dict(os.environ)
        e.update({"BENCH_MODE": mode, "BENCH_THREADS": str(self.threads),
                  "BENCH_RESULT": self.result})
        e.update(env or {})
        self.argv = ["wrk", f"-t{self.threads}", f"-c{conns}", f"-d{duration}s",
                     "--timeout", timeout, "-s", LUA, f"http://127.0.0.1:{port}{path}"]
        self.conns = conns
        self.proc = subprocess.Popen(self.argv, env=e, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def finish(self):
        out, _ = self.proc.communicate(timeout=600)
        try:
            with open(self.result) as f:
                r = json.load(f)
        except (OSError, ValueError) as e:
            raise RuntimeError(f"wrk produced no result ({e}):\n{out}")
        finally:
            if os.path.exists(self.result):
                os.remove(self.result)
        secs = r["duration_us"] / 1e6
        r["rps"] = r["requests"] / secs if secs else 0.0
        r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
        r["conns"] = self.conns
        problems = [l for l in out.splitlines() if "error" in l.lower() and "Socket errors" not in l]
        if problems:
            r["wrk_messages"] = problems[:5]
            log("wrk: " + " | ".join(problems[:3]))
        return r


def run_wrk(*args, **kw):
    return Wrk(*args, **kw).finish()


class PerfStat:
    """CPU time and context switches of one process while a run lasts (perf, if present)."""

    available = subprocess.run(["sh", "-c", "command -v perf"], capture_output=True).returncode == 0

    def __init__(self, pid):
        self.proc = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "task-clock,context-switches",
                                      "-p", str(pid)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

    def stop(self):
        self.proc.send_signal(2)  # SIGINT: perf prints its counts and exits
        _, err = self.proc.communicate(timeout=30)
        self.vals = {}
        for line in err.splitlines():
            parts = line.split(",")
            if len(parts) > 2:
                try:
                    self.vals[parts[2]] = float(parts[0])
                except ValueError:
                    pass
        return self

    def per_request(self, requests):
        if not requests or "task-clock" not in self.vals:
            return {}
        return {"cpu_us_per_req": self.vals["task-clock"] * 1000 / requests,
                "cs_per_req": self.vals.get("context-switches", 0) / requests}


def summarize(runs):
    """Medians of the repeats; errors added up."""
    if not runs:
        return None
    extra = {}
    for k in ("cpu_us_per_req", "cs_per_req", "redis_cpu_us_per_req"):
        vals = [r[k] for r in runs if k in r]
        if vals:
            extra[k] = statistics.median(vals)
    return {
        **extra,
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_us": statistics.median(r["p50_us"] for r in runs),
        "p99_us": statistics.median(r["p99_us"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "runs": runs,
    }


def login(port, username, password):
    status, body = call(port, "POST", "/api/auth/login",
                        {"username": username, "password": password})
    if status != 200 or not body:
        raise RuntimeError(f"login of {username} on port {port} answered {status}: {body}")
    return body


def logins(port, usernames, password, workers=4):
    """Logs each user in once (in parallel); returns the token responses in order."""
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(lambda u: login(port, u, password), usernames))


class RefreshPool:
    """Refresh tokens of sessions on one server, each the current one of its session.

    A run hands wrk every token; wrk gives each request its own and takes the new one
    from the response. Tokens that were in flight when wrk stopped may have been rotated
    by the server: presenting them again within the reuse grace (10 s) returns the
    session's current pair, so they are recovered right after the run, not lost.
    """

    def __init__(self, port, usernames, password):
        self.port, self.password = port, password
        self.users = list(usernames)
        self.next_user = 0
        self.tokens = []
        self.logins = 0
        self.lost = 0

    def top_up(self, n):
        need = n - len(self.tokens)
        if need <= 0:
            return
        names = [self.users[(self.next_user + i) % len(self.users)] for i in range(need)]
        self.next_user += need
        for t in logins(self.port, names, self.password):
            self.tokens.append((t["session_id"], t["refresh_token"]))
        self.logins += need

    def recover(self, pairs):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            for sid, tok in pairs:
                status, body = call(self.port, "POST", "/api/auth/refresh",
                                    {"refresh_token": tok}, conn=conn)
                if status == 200 and body:
                    self.tokens.append((body["session_id"], body["refresh_token"]))
                else:
                    self.lost += 1
        finally:
            conn.close()

    def run(self, conns, duration, threads=2, timeout="5s"):
        self.top_up(conns + 8 * threads)
        tokens_file = os.path.join(OUT, f"refresh-{self.port}.txt")
        leftover = os.path.join(OUT, f"refresh-{self.port}-left.txt")
        with open(tokens_file, "w") as f:
            f.writelines(f"{sid} {tok}\n" for sid, tok in self.tokens)
        handed = len(self.tokens)
        self.tokens = []
        r = run_wrk(self.port, "refresh", conns, duration, "/api/auth/refresh", threads,
                    timeout, {"BENCH_REFRESH": tokens_file, "BENCH_LEFTOVER": leftover})
        queued, flying = [], []
        with open(leftover) as f:
            for line in f:
                kind, sid, tok = line.split()
                (queued if kind == "q" else flying).append((sid, tok))
        self.tokens.extend(queued)
        self.recover(flying)
        log(f"  refresh pool of port {self.port}: handed {handed}, back unused {len(queued)}, "
            f"in flight {len(flying)}, lost {self.lost}, logins so far {self.logins}")
        r["tokens_handed"] = handed
        r["tokens_recovered"] = len(flying)
        return r
