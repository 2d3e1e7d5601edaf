//! Time per request on the warm path (token already verified and cached), through
//! `AuthLayer` + `RequireScopeLayer` + a trivial handler, next to the same handler
//! without tollgate: `cargo bench -p tollgate-tower --bench warm_path`.
//! (Allocations are counted by the `allocs` bench, whose counting allocator would
//! distort these timings.)
//!
//! Metrics recording on vs off (issue 17): with `TOLLGATE_BENCH_RECORDER=1` a
//! Prometheus recorder is installed before the gate is built, so every decision and
//! cache hit is recorded; without it the `metrics` calls go to the no-op recorder.
//! Compare the `tollgate` / `bare` ratio of the two runs (see BENCHMARKS.md):
//! `cargo bench -p tollgate-tower --bench warm_path` and
//! `TOLLGATE_BENCH_RECORDER=1 cargo bench -p tollgate-tower --bench warm_path`.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use criterion::{Criterion, criterion_group};

fn bench(c: &mut Criterion) {
    let (mut protected, mut bare, header) = common::setup();
    let mut g = c.benchmark_group("warm_path");
    g.bench_function("tollgate", |b| {
        b.iter(|| protected(common::request(&header)))
    });
    g.bench_function("bare", |b| b.iter(|| bare(common::request(&header))));
    // what the warm path records per request: the decision and the cache hit (two
    // counter increments through the registered handles)
    g.bench_function("recording", |b| {
        b.iter(|| {
            tollgate_tower::audit::record_allowed();
            tollgate_tower::audit::record_allowed();
        });
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    let recorder = common::install_recorder_if_asked();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if let Some(handle) = recorder {
        // proof that the decisions were recorded
        for line in handle.render().lines() {
            if line.starts_with("tollgate_requests_total{outcome=\"allowed\"") {
                eprintln!("{line}");
            }
        }
    }
}
