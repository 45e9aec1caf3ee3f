#!/usr/bin/env bash
# `make test-generator`: the generator tried as a team would use it. Copies the workspace
# (every file git tracks or would track) to a scratch folder, generates a resource with a
# field of every kind there, and runs the checks a team runs: rustfmt, clippy, and the new
# resource's repos, services, e2e and hostile tests on every backend the suites reach.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$root/target/generated/workspace
# A target folder of its own: cargo names a workspace's artifacts by paths relative to the
# workspace, so two copies of one workspace must never share one.
export CARGO_TARGET_DIR=$root/target/generated/target
# A second build of everything: no debug info and no incremental state keep it to about a
# third of the disk (a machine whose disk is shared may have little to spare).
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 CARGO_INCREMENTAL=0

rm -rf "$scratch" && mkdir -p "$scratch"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 cp --parents --no-dereference -t "$scratch" 2>/dev/null || true)
# The OpenID provider's packages (not tracked): the e2e suite starts it.
[ -d "$root/tests/oidc/node_modules" ] && ln -s "$root/tests/oidc/node_modules" "$scratch/tests/oidc/node_modules"
cd "$scratch"

step() { printf '\n== generated resource: %s\n' "$*"; }
step "cargo xtask new-resource gadgets …"
cargo xtask new-resource gadgets label:text:1..=120 weight:int:0..=5000=0 fragile:bool=false \
  shipped_at:datetime? memo:text:0..=20000? read:bool?   # `read`: a word MariaDB reserves
step "make lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
step "its tests"
cargo build -p api --bin api --features otlp   # the hostile suite's log check runs the binary
# No `-p`: every command selects the same packages, so one set of features and one build.
cargo test --lib -- documented_limits
cargo test --test gadgets
cargo test --test repos -- gadget
cargo test --test e2e -- gadget
cargo test --test hostile
