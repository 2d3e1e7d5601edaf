//! Memory of the in-memory DPoP replay store (issue 15): per entry and at its bound.
//!
//! `cargo bench -p tollgate-core --bench replay_memory` fills a default
//! `MemoryReplayStore` (100,000 entries, 16 shards, 10,000 per key thumbprint) with
//! distinct (jkt, jti) pairs until it refuses (full), reading the process's resident
//! memory (`VmRSS`) before and after, and prints it next to the figure computed from
//! the struct sizes.
#![allow(missing_docs, clippy::unwrap_used)]

use std::mem::size_of;

use tollgate_core::dpop::{MemoryReplayStore, ReplayKey, ReplayStore};
use tollgate_core::error::DpopError;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench --list
    }
    let now = 1_800_000_000;
    // the key and thumbprint hashes are computed beforehand: only the store grows
    let keys: Vec<ReplayKey> = (0..400_000u32)
        .map(|i| ReplayKey::new(&format!("jkt-{}", i % 1_000), &format!("jti-{i}")))
        .collect();
    let before = rss_kib();
    let store = MemoryReplayStore::default();
    let (mut ok, mut full) = (0usize, 0usize);
    let mut at_100k = None;
    for k in &keys {
        match store
            .check_and_insert(*k, now + 61, now)
            .now_or_never()
            .unwrap()
        {
            Ok(()) => ok += 1,
            Err(DpopError::ReplayStoreFull) => full += 1,
            Err(e) => panic!("{e}"),
        }
        if ok == 100_000 && at_100k.is_none() {
            at_100k = Some(rss_kib());
        }
        if full > 50_000 {
            break;
        }
    }
    let after = rss_kib();
    let held = store.len();
    let grown = after.saturating_sub(before);
    // live: HashMap<ReplayKey, i64> (hashbrown: one control byte per bucket, buckets a
    // power of two at most 7/8 full); order: VecDeque<(i64, ReplayKey)>; per_key:
    // HashMap<[u8; 32], usize> per distinct thumbprint in the shard
    let live = size_of::<(ReplayKey, i64)>() + 1;
    let order = size_of::<(i64, ReplayKey)>();
    println!(
        "replay store: {held} entries held after {ok} accepted and {full} refused as full (bound 100,000 over 16 shards)"
    );
    println!(
        "struct sizes: live-map entry {live} B (+ empty buckets), order entry {order} B (+ spare capacity), per-key entry {} B per thumbprint; minimum {} B per entry",
        size_of::<([u8; 32], usize)>() + 1,
        live + order
    );
    println!(
        "RSS: {before} KiB before, {after} KiB at the bound (+{grown} KiB = {:.0} B per entry held){}",
        grown as f64 * 1024.0 / held.max(1) as f64,
        at_100k.map_or(String::new(), |r| format!(
            "; {r} KiB when 100,000 had been accepted"
        ))
    );
}
