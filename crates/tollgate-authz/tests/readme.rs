//! The README's "Behind a gateway" snippets are the configurations the gateway tests
//! start (`tests/gateways/`), byte for byte.
#![allow(clippy::unwrap_used)]

fn body(template: &str) -> String {
    template
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_matches('\n')
        .to_owned()
}

#[test]
fn readme_shows_the_tested_gateway_configurations() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Behind a gateway").unwrap()..];
    for (name, template) in [
        (
            "nginx-server.conf",
            include_str!("gateways/nginx-server.conf"),
        ),
        ("Caddyfile", include_str!("gateways/Caddyfile")),
    ] {
        let b = body(template);
        assert!(
            section.contains(&b),
            "the README does not show tests/gateways/{name}:\n{b}"
        );
    }
}
