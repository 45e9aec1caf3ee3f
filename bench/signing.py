"""The `signing` scenario: `GET /api/users/me` with access tokens signed by a published
Ed25519 key against HS256, side by side in one run. A second strata is started with
`JWT_ALGORITHM=EdDSA` on the same database and Redis; the same users log in on it. A
second floor is given that strata's JWK set and verifies every token with it (no cache:
what a bare resource-server handler does). Each of the four servers answers the same
`users/me` load at each connection count, alternated; strata's EdDSA / HS256 ratio is the
figure with a target (at least 0.95)."""

import json
import os
import secrets

from infra import OUT, Server, call, log
from load import logins, run_wrk, summarize

STRATA_PORT = 18084
FLOOR_PORT = 18085


def me(srv, tokens, conns, duration):
    return run_wrk(srv.port, "get", conns, duration, "/api/users/me",
                   env={"BENCH_TOKENS": tokens, "BENCH_PATH": "/api/users/me"})


def run(bench, password, me_users):
    cfg = bench.cfg
    env = dict(bench.strata.env)
    env.update({"BIND_ADDR": f"127.0.0.1:{STRATA_PORT}", "JWT_ALGORITHM": "EdDSA",
                "SIGNING_KEY_ENCRYPTION_KEY": secrets.token_hex(32)})
    eddsa = Server("strata-eddsa", bench.strata.argv, env, STRATA_PORT, f"strata-eddsa-{cfg.db}.log")
    eddsa.start()
    floor = None
    try:
        tokens = os.path.join(OUT, f"tokens-me-eddsa-{cfg.db}-{cfg.store}.txt")
        with open(tokens, "w") as f:
            f.writelines(t["access_token"] + "\n" for t in logins(STRATA_PORT, me_users, password))
        status, jwks = call(STRATA_PORT, "GET", "/.well-known/jwks.json")
        if status != 200:
            raise RuntimeError(f"strata-eddsa's JWK set: {status}")
        fenv = dict(bench.floor.env)
        fenv.update({"BIND_ADDR": f"127.0.0.1:{FLOOR_PORT}", "FLOOR_JWKS": json.dumps(jwks)})
        floor = Server("floor-eddsa", bench.floor.argv, fenv, FLOOR_PORT, f"floor-eddsa-{cfg.db}.log")
        floor.start()
        sides = [(bench.strata, bench.files["tokens-me"]), (eddsa, tokens),
                 (bench.floor, bench.files["tokens-me"]), (floor, tokens)]
        out = {}
        for conns in cfg.connections:
            for srv, t in sides:  # warm-up, not recorded
                me(srv, t, conns, 1)
            runs = {srv.name: [] for srv, _ in sides}
            for rep in range(cfg.repeat):
                for srv, t in (sides if rep % 2 == 0 else list(reversed(sides))):
                    runs[srv.name].append(me(srv, t, conns, cfg.duration))
            entry = {name: summarize(rs) for name, rs in runs.items()}
            out[str(conns)] = entry
            hs, ed, fh, fe = (entry[k] for k in ("strata", "strata-eddsa", "floor", "floor-eddsa"))
            log(f"signing users/me c{conns}: strata HS256 {hs['rps']:,.0f} | EdDSA {ed['rps']:,.0f} req/s "
                f"(x{ed['rps'] / hs['rps']:.3f}); floor HS256 {fh['rps']:,.0f} | EdDSA {fe['rps']:,.0f}; "
                f"errors {hs['errors']}/{ed['errors']}/{fh['errors']}/{fe['errors']}")
        bench.results["signing"] = out
    finally:
        eddsa.stop()
        if floor:
            floor.stop()
