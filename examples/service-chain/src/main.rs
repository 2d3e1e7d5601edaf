//! `cargo run -p service-chain`: the dev IdP, then gateway → orders → inventory with a
//! token exchanged at each hop; prints what each hop saw for one user call, then the
//! refused cases. Exits 0 when everything was as expected.

use std::process::ExitCode;

use service_chain::{Chain, Error, idp_clients, user_token};
use tollgate_testkit::DevIdp;

async fn run() -> Result<bool, Error> {
    let mut clients = tollgate_testkit::idp::default_clients();
    clients.extend(idp_clients());
    let idp = DevIdp::builder().clients(clients).start().await?;
    let chain = Chain::start(idp.issuer()).await?;
    chain.hops.print(true);
    let mut ok = true;

    println!("dev IdP {} (NOT FOR PRODUCTION)", idp.issuer());
    println!(
        "gateway {}  orders {}  inventory {}\n",
        chain.gateway, chain.orders, chain.inventory
    );
    println!("alice -> gateway /checkout -> orders /stock -> inventory GetItem:");
    let alice = user_token(&idp, "alice").await?;
    let (status, body) = chain.checkout(Some(&alice)).await?;
    println!("  => {status} {body}\n");
    ok &= status == 200;
    let hops = chain.hops.take();

    let mut check = |what: &str, expected: &str, got: String| {
        let good = expected == got;
        ok &= good;
        println!(
            "{} {what:<58} expected {expected:<16} got {got}",
            if good { "ok" } else { "XX" }
        );
    };
    if let (Some(orders), Some(inventory)) = (hops.get(1), hops.get(2)) {
        let (s, _) = chain.checkout(Some(inventory.token.secret())).await?;
        check(
            "inventory's token replayed at the gateway",
            "401",
            s.to_string(),
        );
        let (s, _) = chain.checkout(Some(orders.token.secret())).await?;
        check(
            "orders' token replayed at the gateway",
            "401",
            s.to_string(),
        );
        let (s, _) = chain.orders_stock(Some(inventory.token.secret())).await?;
        check("inventory's token replayed at orders", "401", s.to_string());
        let c = chain.inventory_get_item(orders.token.secret()).await?;
        check(
            "orders' token at inventory (aud orders)",
            "Unauthenticated",
            format!("{c:?}"),
        );
    } else {
        check("three hops recorded", "3", hops.len().to_string());
    }
    let own = idp
        .client_credentials_token("demo-full", &["inventory:read"], Some("inventory"))
        .await?;
    let c = chain.inventory_get_item(&own.access_token).await?;
    check(
        "demo-full's own token at inventory (no act: actor policy)",
        "Unauthenticated",
        format!("{c:?}"),
    );
    let (s, _) = chain.checkout(None).await?;
    check("gateway without a token", "401", s.to_string());
    let _ = chain.hops.take();
    Ok(ok)
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = tollgate_testkit::ops::init_logging() {
        eprintln!("service-chain: {e}");
        return ExitCode::from(2);
    }
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("service-chain: {e}");
            ExitCode::FAILURE
        }
    }
}
