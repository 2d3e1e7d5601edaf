//! Allocations per request on the warm path (token already verified and cached),
//! through `AuthLayer` + `RequireScopeLayer` + a trivial handler, next to the same
//! handler without tollgate.
//!
//! `cargo bench -p tollgate-tower --bench allocs` prints
//! `allocations per request: <with tollgate> (bare handler: <without>)`. Heap blocks
//! are counted with dhat's global allocator (slow: timings are in `warm_path`).
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::hint::black_box;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn count_blocks(mut f: impl FnMut()) -> f64 {
    const N: u64 = 1_000;
    f();
    let before = dhat::HeapStats::get().total_blocks;
    for _ in 0..N {
        f();
    }
    let after = dhat::HeapStats::get().total_blocks;
    (after - before) as f64 / N as f64
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let recorder = common::install_recorder_if_asked();
    let (mut protected, mut bare, header) = common::setup();
    let with = count_blocks(|| {
        black_box(protected(common::request(&header)));
    });
    let without = count_blocks(|| {
        black_box(bare(common::request(&header)));
    });
    println!(
        "allocations per request: {with} (bare handler: {without}; tollgate adds {}){}",
        with - without,
        if recorder.is_some() {
            ", metrics recorded"
        } else {
            ""
        }
    );
}
