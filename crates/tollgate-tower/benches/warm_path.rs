//! Time per request on the warm path (token already verified and cached), through
//! `AuthLayer` + `RequireScopeLayer` + a trivial handler, next to the same handler
//! without tollgate: `cargo bench -p tollgate-tower --bench warm_path`.
//! (Allocations are counted by the `allocs` bench, whose counting allocator would
//! distort these timings.)
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let (mut protected, mut bare, header) = common::setup();
    let mut g = c.benchmark_group("warm_path");
    g.bench_function("tollgate", |b| {
        b.iter(|| protected(common::request(&header)))
    });
    g.bench_function("bare", |b| b.iter(|| bare(common::request(&header))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
