//! Does the migrated template pay? Time to get a ready test database by
//! copying the template (`TestDb::new`) against migrating a fresh file
//! (`TestDb::migrated_from_scratch`, the baseline), alternating, same run.
//!
//! Run: `cargo bench -p promptyard-test-support --bench fixtures`

#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use promptyard_test_support::TestDb;

const ROUNDS: usize = 200;

fn main() {
    // Build the template once, outside the measurement (as the first test
    // of a run does).
    drop(TestDb::new());
    let mut copy = Duration::ZERO;
    let mut scratch = Duration::ZERO;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        drop(TestDb::new());
        copy += start.elapsed();
        let start = Instant::now();
        drop(TestDb::migrated_from_scratch());
        scratch += start.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / ROUNDS as f64;
    println!(
        "TestDb::new (template copy): {:.2} ms; migrated from scratch (baseline): {:.2} ms; ratio {:.2}",
        per(copy),
        per(scratch),
        copy.as_secs_f64() / scratch.as_secs_f64()
    );
}
