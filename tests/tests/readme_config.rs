//! Every TOML block of the README is a configuration file the gate accepts, with the
//! presets it names: the documentation cannot drift from the parser.
#![allow(clippy::unwrap_used)]

use tollgate_core::preset::Preset;
use tollgate_tower::GateConfig;

fn toml_blocks(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```toml") => cur = Some(String::new()),
            (Some(_), "```") => out.extend(cur.take()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn readme_configuration_files_parse() {
    let blocks = toml_blocks(include_str!("../../README.md"));
    assert!(!blocks.is_empty(), "the README shows a configuration file");
    let mut presets = Vec::new();
    for b in &blocks {
        // gate files only: tollgate-authz's files (with [authz] / [[route]]) are
        // checked by that crate
        if !b.contains("[[issuer]]") || b.contains("[authz]") || b.contains("[[route]]") {
            continue;
        }
        let c = GateConfig::from_toml(b).unwrap_or_else(|e| panic!("{e}\n{b}"));
        presets.extend(c.issuers.iter().map(|i| i.preset));
    }
    for p in [
        Preset::Keycloak,
        Preset::Entra,
        Preset::Auth0,
        Preset::Okta,
        Preset::Cognito,
    ] {
        assert!(presets.contains(&p), "{p} has a README snippet");
    }
}
