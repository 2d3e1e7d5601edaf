//! Scope parsing: `ScopeSet::parse_delimited` on arbitrary strings, and the serde path
//! (a `scope` string or an `scp` array) through `serde_json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::scope::{Scope, ScopeSet};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(set) = ScopeSet::parse_delimited(s) {
            // every member is a valid scope-token that occurs in the input; round trip
            for scope in set.iter() {
                assert!(Scope::new(scope.as_str().to_owned()).is_ok());
                assert!(s.split(' ').any(|p| p == scope.as_str()));
            }
            let json = serde_json::to_string(&set).expect("serialize");
            let back: ScopeSet = serde_json::from_str(&json).expect("round trip");
            assert_eq!(back, set);
        }
    }
    if let Ok(set) = serde_json::from_slice::<ScopeSet>(data) {
        let json = serde_json::to_string(&set).expect("serialize");
        let back: ScopeSet = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, set);
    }
    let _ = tollgate_core::Claims::<()>::from_json(data);
});
