# strata: `make run` serves on 127.0.0.1:8080 (SQLite + in-memory token store unless .env
# says otherwise); `make test` runs every suite on every backend it can reach.

CARGO   ?= cargo
SUMMARY := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/strata-test-summary.txt
TRYOUT_LOG := $(dir $(SUMMARY))generator-try-out.log
SHELL   := /bin/bash

export STRATA_TEST_BACKENDS STRATA_REQUIRE_ALL_BACKENDS

.PHONY: oidc-provider test-deps run migrate release soak test test-faults test-sqlite test-postgres test-mysql test-generator resource lint fmt clean-data help deps

# Every target, one line each.
help:
	@printf '%s\n' \
	  "make resource NAME=notes FIELDS='body:text:1..=500 pinned:bool=false'  a new resource (cargo xtask new-resource)" \
	  "make run            serve on 127.0.0.1:8080 (SQLite + in-memory store unless .env says otherwise)" \
	  "make test           every suite on every backend it can reach, then one line per suite and backend, and the failed tests" \
	  "make test-sqlite    the suites on SQLite + the in-memory store only (no server needed)" \
	  "make test-postgres  the suites on PostgreSQL + Redis only" \
	  "make test-mysql     the suites on MariaDB/MySQL + Redis only" \
	  "make test-faults    the fault tests only (Redis killed, database cut off, SIGTERM, bad start-ups)" \
	  "make test-generator cargo xtask new-resource tried in a scratch copy: lint and the new tests" \
	  "make test-browser   the page at / driven in headless Chromium" \
	  "make soak           about 60 s of mixed load against the release binary" \
	  "make bench          speed against the bare actix-web floor (BENCH_DB=sqlite|postgres|mysql)" \
	  "make bench-all      every backend in turn, then the plot" \
	  "make bench-plot     bench/plot.png from the results in target/bench" \
	  "make bench-build    the release binary and the floor, for the bench" \
	  "make bench-deps     wrk, valgrind and the build libraries, for the bench" \
	  "make release        the optimised binary: target/release/api" \
	  "make migrate        apply the pending migrations and exit" \
	  "make lint           cargo fmt --check and clippy -D warnings" \
	  "make fmt            cargo fmt" \
	  "make deps           install the C libraries the database drivers link against (as root)" \
	  "make test-deps      install the SMTP server the mail suite needs (as root)" \
	  "make clean-data     delete data/ (the SQLite file and the mails)"

# A fresh clone has no .env: make one from .env.example with new random secrets.
.env:
	@secret=$$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n'); \
	mfa=$$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n'); \
	kek=$$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n'); \
	sed -e "s/^JWT_API_SECRET=.*/JWT_API_SECRET=$$secret/" \
	    -e "s/^MFA_ENCRYPTION_KEY=.*/MFA_ENCRYPTION_KEY=$$mfa/" \
	    -e "s/^SIGNING_KEY_ENCRYPTION_KEY=.*/SIGNING_KEY_ENCRYPTION_KEY=$$kek/" .env.example > .env; \
	echo "created .env with a fresh JWT_API_SECRET, MFA_ENCRYPTION_KEY and SIGNING_KEY_ENCRYPTION_KEY"

# The C libraries the database drivers link against (Debian package names). A new machine
# of this kind has all but libmariadb-dev; as root they are installed, otherwise the one
# command to run is printed. Without dpkg (not Debian) nothing is checked.
BUILD_PKGS := pkg-config libpq-dev libmariadb-dev libmariadb-dev-compat libsqlite3-dev

deps:
	@command -v dpkg >/dev/null || exit 0; \
	missing=$$(for p in $(BUILD_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | tr '\n' ' '); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "strata links against C client libraries that are missing here. Run:"; \
	  echo "  sudo apt-get update && sudo apt-get install -y $$missing"; exit 1; \
	fi; \
	echo "installing the build dependencies: $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

# The OpenID provider the sign-in tests run (tests/oidc: panva's oidc-provider on Node).
# Without npm its cases are skipped (a failure with STRATA_REQUIRE_ALL_BACKENDS=1).
OIDC_DIR := tests/oidc

oidc-provider: $(OIDC_DIR)/node_modules/.package-lock.json

$(OIDC_DIR)/node_modules/.package-lock.json: $(OIDC_DIR)/package-lock.json $(OIDC_DIR)/package.json
	@if command -v npm >/dev/null; then cd $(OIDC_DIR) && npm ci --no-audit --no-fund; \
	else echo "npm is missing: the OpenID sign-in cases need Node (apt-get install nodejs npm)"; fi

# What the tests need beyond the build: a real SMTP server (aiosmtpd) the mail tests start
# on a free port, and PyJWT, the independent verifier of access tokens. Installed like the
# build packages; without them those tests are skipped (a failure under CI).
TEST_PKGS := python3-aiosmtpd python3-jwt python3-cryptography pgbouncer

test-deps:
	@command -v dpkg >/dev/null || exit 0; \
	missing=$$(for p in $(TEST_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | tr '\n' ' '); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "the mail tests need an SMTP server that is missing here (they are skipped). To run them:"; \
	  echo "  sudo apt-get install -y $$missing"; exit 0; \
	fi; \
	echo "installing the test dependencies: $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

run: deps .env
	$(CARGO) run -p api --bin api -- serve

migrate: deps .env
	$(CARGO) run -p api --bin api -- migrate

# After `cargo test` (its exit status in the shell variable `status`): what the suites wrote
# to $(SUMMARY), first one line per suite and backend, then every case that failed
# (testkit's run_suite writes those as "failed: " lines); exits with that status. A failed
# test of a standard harness writes no summary: it shows in cargo's own output.
REPORT = echo; echo "== backends =="; \
	if [ -s $(SUMMARY) ]; then grep -v '^failed: ' $(SUMMARY); else echo "(no suite ran)"; fi; \
	echo; echo "== failures =="; \
	if grep -q '^failed: ' $(SUMMARY) 2>/dev/null; then sed -n 's/^failed: //p' $(SUMMARY); \
	elif [ $$status -ne 0 ]; then echo "(none listed: see cargo's output above)"; \
	else echo "(none)"; fi; \
	exit $$status

# Runs every test of the default members (all but bench/floor), every suite even when one
# fails, then prints one line per suite and backend and every failed case.
# STRATA_TEST_BACKENDS narrows the backends; STRATA_REQUIRE_ALL_BACKENDS=1 turns an
# unreachable server from "skipped" into a failure.
test: deps test-deps oidc-provider
	@mkdir -p $(dir $(SUMMARY)) && rm -f $(SUMMARY)
	@$(CARGO) build -p api --bin api --features otlp  # the fault and ops tests run the real binary
	@STRATA_TEST_SUMMARY=$(SUMMARY) $(CARGO) test --no-fail-fast; status=$$?; \
	if xtask/try-generated.sh 2>&1 | tee $(TRYOUT_LOG); test $${PIPESTATUS[0]} -eq 0; then \
	  echo "generator try-out (xtask/try-generated.sh): passed" >> $(SUMMARY); \
	else status=1; { echo "failed: the generator's try-out (xtask/try-generated.sh), ending:"; \
	  grep -v '^ *\(Compiling\|Checking\|Blocking\)' $(TRYOUT_LOG) | tail -n 25 | sed 's/^/failed:   /'; } >> $(SUMMARY); fi; \
	$(REPORT)

# A new resource through every layer: `make resource NAME=notes FIELDS='…'` is
# `cargo xtask new-resource notes …` (docs/extending.md).
resource:
	@test -n "$(NAME)" || { echo "usage: make resource NAME=notes FIELDS='body:text:1..=500 pinned:bool=false'"; exit 2; }
	$(CARGO) xtask new-resource $(NAME) $(FIELDS)

# The generator tried in a scratch copy of the workspace (part of `make test` too): a
# resource with a field of every kind, then lint and its tests on every backend.
test-generator:
	xtask/try-generated.sh

# Only the fault tests (part of `make test` too): Redis killed, the database cut off,
# SIGTERM with requests in flight, start-ups that must fail.
test-faults: deps
	@mkdir -p $(dir $(SUMMARY)) && rm -f $(SUMMARY)
	@$(CARGO) build -p api --bin api --features otlp
	@STRATA_TEST_SUMMARY=$(SUMMARY) $(CARGO) test -p strata-e2e --test faults; status=$$?; $(REPORT)

# About 60 s of mixed load against the release binary on 127.0.0.1 (SOAK_DB, SOAK_SECONDS,
# SOAK_CLIENTS); fails on any 5xx, a lost write, or memory still growing at the end.
soak:
	$(CARGO) build --release -p api --bin api
	STRATA_API_BIN=$(CURDIR)/target/release/api $(CARGO) run --release -p strata-e2e --example soak

# The optimised binary: target/release/api (thin LTO, stripped).
release: deps
	$(CARGO) build --release -p api --bin api
	@ls -l target/release/api

test-sqlite:
	@$(MAKE) --no-print-directory test STRATA_TEST_BACKENDS=sqlite

test-postgres:
	@$(MAKE) --no-print-directory test STRATA_TEST_BACKENDS=postgres

test-mysql:
	@$(MAKE) --no-print-directory test STRATA_TEST_BACKENDS=mysql

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf data

# The browser page at / driven end to end in headless Chromium (tests/browser): Debian's
# chromium package (installed here if missing) through playwright-core from npm. Starts its
# own strata on a free port with a 5 s access-token lifetime; screenshot in
# target/browser/strata.png, server log in target/browser/strata.log.
BROWSER_DIR := tests/browser
CHROMIUM    ?= /usr/bin/chromium

.PHONY: test-browser
test-browser: $(BROWSER_DIR)/node_modules/.package-lock.json oidc-provider
	@[ -x $(CHROMIUM) ] || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	$(CARGO) build -p api --bin api --features otlp
	cd $(BROWSER_DIR) && CHROMIUM=$(CHROMIUM) node --test --test-reporter=spec strata.test.mjs

$(BROWSER_DIR)/node_modules/.package-lock.json: $(BROWSER_DIR)/package-lock.json $(BROWSER_DIR)/package.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund

# --- benchmarks (bench/, BENCHMARKS.md) ---------------------------------------------------
# `make bench` builds in release, starts strata and its floor (bench/floor) on BENCH_DB
# (sqlite | postgres | mysql; BENCH_STORE=memory for SQLite without Redis), seeds, drives
# wrk over loopback and prints the table with PASS/FAIL per target. BENCH_DURATION,
# BENCH_REPEAT and BENCH_CONNECTIONS shrink it; bench/run.py lists every setting.
BENCH_DB ?= sqlite
export BENCH_DB BENCH_STORE BENCH_DURATION BENCH_REPEAT BENCH_CONNECTIONS BENCH_SCENARIOS BENCH_BASELINE_BIN BENCH_BASELINE_ENV BENCH_INSTRUCTIONS BENCH_STRATA_ENV

.PHONY: bench bench-deps bench-build bench-all bench-plot

# wrk drives the load; the -dev packages are what the database drivers link against;
# python3-cryptography signs the passkey scenario's assertions (P-256).
BENCH_PKGS := wrk valgrind python3 python3-cryptography $(BUILD_PKGS)

bench-deps:
	@command -v dpkg >/dev/null || exit 0; \
	missing=$$(for p in $(BENCH_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

bench-build:
	$(CARGO) build --release -p api -p strata-bench-floor

bench: bench-deps bench-build
	python3 bench/run.py

# Every backend in turn (about 10 minutes each, each after waiting for a quiet machine),
# then the plot.
bench-all: bench-deps bench-build
	BENCH_WAIT_QUIET=1 BENCH_DB=sqlite BENCH_STORE=redis python3 bench/run.py
	BENCH_WAIT_QUIET=1 BENCH_DB=sqlite BENCH_STORE=memory python3 bench/run.py
	BENCH_WAIT_QUIET=1 BENCH_DB=postgres BENCH_STORE=redis python3 bench/run.py
	BENCH_WAIT_QUIET=1 BENCH_DB=mysql BENCH_STORE=redis python3 bench/run.py
	python3 bench/plot.py

# bench/plot.png from the results in target/bench (installs matplotlib with pip if missing).
bench-plot:
	python3 bench/plot.py
