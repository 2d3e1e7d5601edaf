//! The README's tollgate-authz configuration files (TOML blocks with `[[route]]`) are
//! accepted by the parser: the documentation cannot drift from it.
#![allow(clippy::unwrap_used)]

use tollgate_authz::AuthzConfig;

#[test]
fn readme_authz_files_parse() {
    let md = include_str!("../../../README.md");
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```toml") => cur = Some(String::new()),
            (Some(_), "```") => blocks.extend(cur.take()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    let authz: Vec<_> = blocks.iter().filter(|b| b.contains("[[route]]")).collect();
    assert!(!authz.is_empty(), "the README shows a tollgate-authz file");
    for b in authz {
        AuthzConfig::from_toml(b).unwrap_or_else(|e| panic!("{e}\n{b}"));
    }
}
