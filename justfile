# Day-to-day commands. Each recipe is a thin wrapper: the cargo command it
# runs works just as well without `just`.

# List the recipes.
default:
    @just --list

# Everything (unit, integration, migration, concurrency, SQLite config).
test:
    cargo nextest run --workspace

# Unit tests beside the code, in every crate.
test-unit:
    cargo nextest run --profile unit

# Whole flows over HTTP, and the promptyard binary as a process.
test-integration:
    cargo nextest run --profile integration

# Migrations up and down, schema checks.
test-migration:
    cargo nextest run --profile migration

# Many tasks at once through the real pools.
test-concurrency:
    cargo nextest run --profile concurrency

# PRAGMAs and foreign keys on every connection.
test-sqlite:
    cargo nextest run --profile sqlite

# Everything but the process and concurrency tests.
test-quick:
    cargo nextest run --profile quick

# The suite under coverage, then the per-crate table and the gates.
cov:
    cargo llvm-cov nextest --workspace --profile ci --no-report
    .ci/coverage

# clippy with warnings as errors, and rustfmt.
lint:
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    cargo fmt --all --check

# The docs with warnings denied, the doc tests, and the services example.
docs:
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace
    cargo test --doc --workspace
    cargo run -p promptyard-services --example first_conversation

# Run the server (release build) on the embedded SQLite default.
run:
    cargo run --release

# The benchmarks behind docs/benchmarks.md.
bench:
    cargo bench -p promptyard-repositories
    cargo bench -p promptyard-test-support --bench fixtures

# Mutation testing of repositories and services (cargo-mutants, nextest,
# the `mutants` profile; .cargo/mutants.toml). Options go to cargo-mutants:
# `just mutants --shard 3/16`, `just mutants -F 'limits\.rs'`.
mutants *args:
    scripts/mutants {{args}}

# Exactly what CI runs.
ci:
    .ci/run

# What load and growth do to the release binary: login storms (peak RSS,
# /me p99), posts/s by conversation length, 1024 clients. Needs oha
# (cargo install oha --locked).
bench-load:
    cargo build --release
    scripts/bench-load

# Schemathesis against the release binary: generated requests on every
# operation of the OpenAPI document (needs python3; installs schemathesis).
schemathesis seconds="60":
    cargo build --release
    scripts/schemathesis {{seconds}}

# The web playground in headless Chromium against the release binary
# (needs Debian's chromium and chromium-driver; skipped without them).
test-browser:
    cargo build --release
    PROMPTYARD_BIN=target/release/promptyard cargo nextest run -p promptyard-server --test browser

# The README's pictures, taken by the browser tests.
screenshots:
    cargo build --release
    PROMPTYARD_BIN=target/release/promptyard PROMPTYARD_SCREENSHOTS=docs/images cargo nextest run -p promptyard-server --test browser
