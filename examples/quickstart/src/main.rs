//! The quickstart, README's first command (`cargo run -p quickstart`).
//!
//! Starts, in this one process and on free loopback ports, the dev identity provider
//! (`tollgate_testkit::idp`, NOT FOR PRODUCTION), the `axum-orders` HTTP service and
//! the `tonic-inventory` gRPC service, both finding the IdP by discovery. It obtains
//! tokens with client credentials as two clients (`demo-full`, `demo-reader`), makes
//! allowed and refused HTTP and gRPC calls (no token, an expired token, a token for
//! another audience, insufficient scope) and prints a table: call, expected, got, and
//! the `WWW-Authenticate` header or gRPC message. Exits 0 when every call got what was
//! expected, 1 otherwise.
//!
//! axum-orders runs with `TOLLGATE_DPOP=allowed` (DPoP, RFC 9449), and a second
//! instance adds `TOLLGATE_DPOP_NONCE=required`: rows for a DPoP-bound token (`cnf.jkt`,
//! `token_type` `DPoP`, obtained at the IdP's token endpoint with a DPoP proof) with a
//! fresh proof, the proof replayed, a proof
//! for another URL, the bound token sent as Bearer, the token with another key's
//! proof, and the nonce round trip (401 `use_dpop_nonce` with a `DPoP-Nonce`, then 200).
//!
//! It also runs examples/service-chain (gateway → orders → inventory, a token exchanged
//! per hop, RFC 8693) and adds its rows: what each hop saw (`sub`, audience, scopes,
//! the `act` chain) and downstream tokens refused upstream.
//!
//! `cargo run -p quickstart -- --serve` keeps the three servers running afterwards and
//! prints copy-paste `curl` (and `grpcurl`) commands with a fresh token.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tollgate_testkit::idp::{DevIdp, form_encode};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_inventory::pb::inventory_client::InventoryClient;
use tonic_inventory::pb::{GetItemRequest, ReserveItemRequest};

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: quickstart [--serve]
  Runs the dev IdP, axum-orders and tonic-inventory on free loopback ports, makes allowed
  and refused calls, prints what happened; exits 0 when everything was as expected.
  --serve  keep running afterwards and print curl commands with a fresh token";

/// One row of the table.
struct Row {
    call: String,
    expected: String,
    got: String,
    detail: String,
}

impl Row {
    fn ok(&self) -> bool {
        self.expected == self.got
    }
}

/// The running servers and clients.
struct Tour {
    idp: DevIdp,
    orders: String,
    /// A second axum-orders with DPoP nonces required.
    orders_nonce: String,
    inventory: SocketAddr,
    http: Client<HttpConnector, Full<Bytes>>,
    grpc: InventoryClient<Channel>,
    chain: service_chain::Chain,
    rows: Vec<Row>,
}

struct Reply {
    status: u16,
    /// Every `WWW-Authenticate` value, joined by ` || `.
    www_authenticate: String,
    dpop_nonce: Option<String>,
    body: Value,
}

/// `401 invalid_token` from a status and the challenge's `error` parameter.
fn outcome(status: u16, challenge: &str) -> String {
    match challenge
        .split("error=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
    {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    }
}

/// `PermissionDenied` → `PERMISSION_DENIED`.
fn code_name(code: tonic::Code) -> String {
    let mut out = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn grpc_request<T>(message: T, token: Option<&str>) -> Result<tonic::Request<T>, Error> {
    let mut req = tonic::Request::new(message);
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse()?);
    }
    Ok(req)
}

impl Tour {
    async fn start() -> Result<Tour, Error> {
        let mut clients = tollgate_testkit::idp::default_clients();
        clients.extend(service_chain::idp_clients());
        let idp = DevIdp::builder().clients(clients).start().await?;
        let env = |aud: &str| -> HashMap<&'static str, String> {
            [
                ("TOLLGATE_ISSUER", idp.issuer().to_owned()),
                ("TOLLGATE_AUDIENCE", aud.to_owned()),
            ]
            .into_iter()
            .collect()
        };

        // axum-orders, keys by discovery from the IdP, DPoP allowed; a second one with
        // DPoP nonces required
        let mut orders_env = env("orders");
        orders_env.insert("TOLLGATE_DPOP", "allowed".to_owned());
        let orders = serve_orders(&orders_env).await?;
        orders_env.insert("TOLLGATE_DPOP_NONCE", "required".to_owned());
        let orders_nonce = serve_orders(&orders_env).await?;

        // tonic-inventory, the same way (DPoP allowed too)
        let mut inventory_env = env("inventory");
        inventory_env.insert("TOLLGATE_DPOP", "allowed".to_owned());
        let mut config = tonic_inventory::Config::from_lookup(|k| inventory_env.get(k).cloned())?;
        let incoming = TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let inventory = incoming.local_addr()?;
        config.listening_on(inventory);
        let gate = config.tollgate().build().await?;
        let routes = tonic_inventory::routes(&gate, tonic_inventory::Guard::Layer).await?;
        tokio::spawn(
            Server::builder()
                .add_routes(routes)
                .serve_with_incoming(incoming),
        );
        let channel = Channel::from_shared(format!("http://{inventory}"))?
            .connect()
            .await?;

        let chain = service_chain::Chain::start(idp.issuer()).await?;

        Ok(Tour {
            chain,
            idp,
            orders,
            orders_nonce,
            inventory,
            http: Client::builder(TokioExecutor::new()).build_http(),
            grpc: InventoryClient::new(channel),
            rows: Vec::new(),
        })
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Reply, Error> {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .http
            .request(req.body(Full::new(Bytes::from(body.to_owned())))?)
            .await?;
        let status = res.status().as_u16();
        let www_authenticate = res
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(" || ");
        let dpop_nonce = res
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            www_authenticate,
            dpop_nonce,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        })
    }

    /// A token request at the IdP's token endpoint; records a row.
    async fn token(
        &mut self,
        call: &str,
        expected: &str,
        client: (&str, &str),
        basic: bool,
        params: &str,
    ) -> Result<Option<String>, Error> {
        self.token_request(call, expected, client, basic, params, None)
            .await
    }

    /// [`Self::token`], with a `DPoP` proof header when `dpop_proof` is set (the row's
    /// result then names the `token_type` answered).
    async fn token_request(
        &mut self,
        call: &str,
        expected: &str,
        client: (&str, &str),
        basic: bool,
        params: &str,
        dpop_proof: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let (id, secret) = client;
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                form_encode(id),
                form_encode(secret)
            ))
        );
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        let mut body = format!("grant_type=client_credentials{params}");
        if basic {
            headers.push(("authorization", &auth));
        }
        if let Some(p) = dpop_proof {
            headers.push(("dpop", p));
        }
        if !basic {
            let _ = write!(
                body,
                "&client_id={}&client_secret={}",
                form_encode(id),
                form_encode(secret)
            );
        }
        let r = self
            .send(Method::POST, &self.idp.token_endpoint(), &headers, &body)
            .await?;
        let got = match (r.body["error"].as_str(), r.body["token_type"].as_str()) {
            (Some(e), _) => format!("{} {e}", r.status),
            (None, Some(t)) if dpop_proof.is_some() => format!("{} token_type {t}", r.status),
            (None, _) => r.status.to_string(),
        };
        let detail = match (&r.body["scope"], &r.body["error_description"]) {
            (Value::String(s), _) => format!("scope \"{s}\""),
            (_, Value::String(d)) => d.clone(),
            _ => String::new(),
        };
        self.rows.push(Row {
            call: format!("IdP   {call}"),
            expected: expected.into(),
            got,
            detail,
        });
        Ok(r.body["access_token"].as_str().map(str::to_owned))
    }

    async fn http(
        &mut self,
        call: &str,
        expected: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> Result<(), Error> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let body = if method == Method::POST {
            r#"{"item":"widget","qty":1}"#
        } else {
            ""
        };
        let url = format!("{}{path}", self.orders);
        let r = self.send(method.clone(), &url, &headers, body).await?;
        self.rows.push(Row {
            call: format!("HTTP  {method} {path} {call}"),
            expected: expected.into(),
            got: outcome(r.status, &r.www_authenticate),
            detail: r.www_authenticate,
        });
        Ok(())
    }

    /// `GET <base>/orders` with `authorization` and a `DPoP` proof; records a row
    /// and returns the `DPoP-Nonce` answered, if any.
    async fn dpop(
        &mut self,
        call: &str,
        expected: &str,
        base: &str,
        authorization: &str,
        proof: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let mut headers = vec![("authorization", authorization)];
        if let Some(p) = proof {
            headers.push(("dpop", p));
        }
        let url = format!("{base}/orders");
        let r = self.send(Method::GET, &url, &headers, "").await?;
        let mut detail = r.www_authenticate.clone();
        if let Some(n) = &r.dpop_nonce {
            if !detail.is_empty() {
                detail.push_str(" · ");
            }
            let _ = write!(detail, "DPoP-Nonce: {n}");
        }
        self.rows.push(Row {
            call: format!("DPoP  GET /orders {call}"),
            expected: expected.into(),
            got: outcome(r.status, &r.www_authenticate),
            detail,
        });
        Ok(r.dpop_nonce)
    }

    /// DPoP (RFC 9449) against axum-orders (`TOLLGATE_DPOP=allowed`, and the second
    /// instance with `TOLLGATE_DPOP_NONCE=required`) and tonic-inventory. The bound
    /// token (`cnf.jkt` = the client key's RFC 7638 thumbprint, `token_type` `DPoP`)
    /// comes from the dev IdP's token endpoint, asked with a DPoP proof (`htm` POST,
    /// `htu` the token endpoint).
    async fn dpop_rows(&mut self) -> Result<(), Error> {
        let client_key = tollgate_testkit::TestKey::p256("quickstart-dpop-client");
        let other_key = tollgate_testkit::TestKey::p256("quickstart-other-client");
        let token_proof =
            tollgate_testkit::DpopProof::new(&client_key, "POST", &self.idp.token_endpoint())
                .sign();
        let bound = self
            .token_request(
                "token demo-full with a DPoP proof",
                "200 token_type DPoP",
                ("demo-full", "demo-full-secret"),
                true,
                "",
                Some(&token_proof),
            )
            .await?
            .ok_or("the IdP issued no DPoP-bound token")?;
        let dpop_auth = format!("DPoP {bound}");
        let orders = self.orders.clone();
        let proof = |key: &tollgate_testkit::TestKey, base: &str, path: &str| {
            tollgate_testkit::DpopProof::new(key, "GET", &format!("{base}{path}"))
                .access_token(&bound)
        };
        let p = proof(&client_key, &orders, "/orders").sign();
        self.dpop("bound token + proof", "200", &orders, &dpop_auth, Some(&p))
            .await?;
        self.dpop(
            "the same proof replayed",
            "401 invalid_dpop_proof",
            &orders,
            &dpop_auth,
            Some(&p),
        )
        .await?;
        let p = proof(&client_key, &orders, "/me").sign();
        self.dpop(
            "proof for another URL (/me)",
            "401 invalid_dpop_proof",
            &orders,
            &dpop_auth,
            Some(&p),
        )
        .await?;
        self.dpop(
            "bound token sent as Bearer",
            "401 invalid_token",
            &orders,
            &format!("Bearer {bound}"),
            None,
        )
        .await?;
        let p = proof(&other_key, &orders, "/orders").sign();
        self.dpop(
            "token with another key's proof",
            "401 invalid_dpop_proof",
            &orders,
            &dpop_auth,
            Some(&p),
        )
        .await?;

        // nonces required: the first proof is answered with a nonce, the retry carries it
        let nonce_orders = self.orders_nonce.clone();
        let p = proof(&client_key, &nonce_orders, "/orders").sign();
        let nonce = self
            .dpop(
                "no nonce (nonces required)",
                "401 use_dpop_nonce",
                &nonce_orders,
                &dpop_auth,
                Some(&p),
            )
            .await?
            .ok_or("no DPoP-Nonce with use_dpop_nonce")?;
        let p = proof(&client_key, &nonce_orders, "/orders")
            .nonce(&nonce)
            .sign();
        self.dpop(
            "with the server's nonce",
            "200",
            &nonce_orders,
            &dpop_auth,
            Some(&p),
        )
        .await?;

        // the same over gRPC, with the same bound token: tonic-inventory with DPoP
        // allowed (htm POST, htu the method's full URL)
        let get_item = format!("http://{}/inventory.v1.Inventory/GetItem", self.inventory);
        let call = |authorization: &str, proof: Option<&str>| -> Result<_, Error> {
            let mut req = tonic::Request::new(GetItemRequest {
                id: "widget".into(),
            });
            req.metadata_mut()
                .insert("authorization", authorization.parse()?);
            if let Some(p) = proof {
                req.metadata_mut().insert("dpop", p.parse()?);
            }
            Ok(req)
        };
        let mut c = self.grpc.clone();
        let dpop_auth = format!("DPoP {bound}");
        let p = tollgate_testkit::DpopProof::new(&client_key, "POST", &get_item)
            .access_token(&bound)
            .sign();
        let r = c.get_item(call(&dpop_auth, Some(&p))?).await;
        self.grpc("GetItem DPoP bound token + proof", "OK", r);
        let r = c.get_item(call(&dpop_auth, Some(&p))?).await;
        self.grpc("GetItem DPoP the same proof replayed", "UNAUTHENTICATED", r);
        let r = c.get_item(call(&format!("Bearer {bound}"), None)?).await;
        self.grpc(
            "GetItem DPoP-bound token sent as Bearer",
            "UNAUTHENTICATED",
            r,
        );
        Ok(())
    }

    fn grpc<T>(&mut self, call: &str, expected: &str, result: Result<T, tonic::Status>) {
        let (got, detail) = match result {
            Ok(_) => ("OK".to_owned(), String::new()),
            Err(s) => (code_name(s.code()), s.message().to_owned()),
        };
        self.rows.push(Row {
            call: format!("gRPC  {call}"),
            expected: expected.into(),
            got,
            detail,
        });
    }

    async fn run(&mut self) -> Result<(), Error> {
        let full = ("demo-full", "demo-full-secret");
        let reader = ("demo-reader", "demo-reader-secret");
        let missing = || -> Error { "the IdP issued no token".into() };

        // tokens from the dev IdP (client credentials)
        let full_token = self
            .token(
                "token demo-full (client_secret_basic)",
                "200",
                full,
                true,
                "",
            )
            .await?
            .ok_or_else(missing)?;
        let reader_token = self
            .token(
                "token demo-reader (client_secret_post)",
                "200",
                reader,
                false,
                "",
            )
            .await?
            .ok_or_else(missing)?;
        let inventory_reader = self
            .token(
                "token demo-full, resource=inventory scope=inventory:read",
                "200",
                full,
                true,
                "&resource=inventory&scope=inventory%3Aread",
            )
            .await?
            .ok_or_else(missing)?;
        self.token(
            "token demo-reader asks scope=orders:write",
            "400 invalid_scope",
            reader,
            true,
            "&scope=orders%3Awrite",
        )
        .await?;
        self.token(
            "token demo-reader, wrong secret",
            "401 invalid_client",
            ("demo-reader", "guess"),
            true,
            "",
        )
        .await?;
        // signed by the IdP's key, expired an hour ago (the IdP itself never issues one)
        let expired = self.idp.token_builder("demo-full").expired();

        // HTTP: axum-orders (audience "orders")
        self.http("(public)", "200", Method::GET, "/health", None)
            .await?;
        self.http("no token", "401", Method::GET, "/orders", None)
            .await?;
        self.http(
            "demo-reader",
            "200",
            Method::GET,
            "/orders",
            Some(&reader_token),
        )
        .await?;
        self.http(
            "demo-reader",
            "403 insufficient_scope",
            Method::POST,
            "/orders",
            Some(&reader_token),
        )
        .await?;
        self.http(
            "demo-full",
            "201",
            Method::POST,
            "/orders",
            Some(&full_token),
        )
        .await?;
        self.http(
            "expired token",
            "401 invalid_token",
            Method::GET,
            "/orders",
            Some(&expired),
        )
        .await?;
        self.http(
            "token for aud inventory",
            "401 invalid_token",
            Method::GET,
            "/orders",
            Some(&inventory_reader),
        )
        .await?;
        self.http(
            "broken token",
            "401 invalid_token",
            Method::GET,
            "/orders",
            Some("not-a-token"),
        )
        .await?;

        // gRPC: tonic-inventory (audience "inventory")
        let get = || GetItemRequest {
            id: "widget".into(),
        };
        let reserve = || ReserveItemRequest {
            id: "widget".into(),
            quantity: 1,
        };
        let mut c = self.grpc.clone();
        let r = c.get_item(grpc_request(get(), None)?).await;
        self.grpc("GetItem no token", "UNAUTHENTICATED", r);
        let r = c.get_item(grpc_request(get(), Some(&full_token))?).await;
        self.grpc("GetItem demo-full", "OK", r);
        let r = c
            .reserve_item(grpc_request(reserve(), Some(&full_token))?)
            .await;
        self.grpc("ReserveItem demo-full", "OK", r);
        let r = c
            .get_item(grpc_request(get(), Some(&inventory_reader))?)
            .await;
        self.grpc("GetItem inventory:read token", "OK", r);
        let r = c
            .reserve_item(grpc_request(reserve(), Some(&inventory_reader))?)
            .await;
        self.grpc("ReserveItem inventory:read token", "PERMISSION_DENIED", r);
        let r = c.get_item(grpc_request(get(), Some(&expired))?).await;
        self.grpc("GetItem expired token", "UNAUTHENTICATED", r);
        let r = c.get_item(grpc_request(get(), Some(&reader_token))?).await;
        self.grpc("GetItem demo-reader (aud orders)", "UNAUTHENTICATED", r);
        self.dpop_rows().await?;
        self.chain_rows().await
    }

    /// examples/service-chain: one user call through three hops, then replays.
    async fn chain_rows(&mut self) -> Result<(), Error> {
        let alice = service_chain::user_token(&self.idp, "alice").await?;
        let (status, _) = self.chain.checkout(Some(&alice)).await?;
        self.rows.push(Row {
            call: "CHAIN alice → gateway → orders → inventory (exchange per hop)".into(),
            expected: "200".into(),
            got: status.to_string(),
            detail: String::new(),
        });
        let hops = self.chain.hops.take();
        let expected = [
            ("gateway", "inventory:read orders:read orders:write", ""),
            ("orders", "inventory:read orders:read", "gateway"),
            ("inventory", "inventory:read", "orders-svc <- gateway"),
        ];
        for (i, (service, scope, act)) in expected.into_iter().enumerate() {
            let got = hops.get(i).map_or_else(
                || "missing".to_owned(),
                |h| {
                    format!(
                        "sub={} aud={} act=[{}]",
                        h.sub,
                        h.aud.join(","),
                        h.act.join(" <- ")
                    )
                },
            );
            self.rows.push(Row {
                call: format!("CHAIN   hop {service}"),
                expected: format!("sub=alice aud={service} act=[{act}]"),
                got,
                detail: hops
                    .get(i)
                    .map(|h| format!("scope \"{}\"", h.scopes))
                    .unwrap_or_default(),
            });
            if let Some(h) = hops.get(i) {
                let want = scope.to_owned();
                if h.scopes != want {
                    self.rows.push(Row {
                        call: format!("CHAIN   hop {service} scopes"),
                        expected: want,
                        got: h.scopes.clone(),
                        detail: String::new(),
                    });
                }
            }
        }
        if let Some(inventory) = hops.get(2) {
            let (status, _) = self.chain.checkout(Some(inventory.token.secret())).await?;
            self.rows.push(Row {
                call: "CHAIN inventory's token replayed at the gateway".into(),
                expected: "401".into(),
                got: status.to_string(),
                detail: "wrong audience".into(),
            });
        }
        let _ = self.chain.hops.take();
        Ok(())
    }

    fn table(&self) -> String {
        let headers = [
            "",
            "call",
            "expected",
            "got",
            "WWW-Authenticate / gRPC message",
        ];
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    if r.ok() { "ok" } else { "XX" }.to_owned(),
                    r.call.clone(),
                    r.expected.clone(),
                    r.got.clone(),
                    r.detail.clone(),
                ]
            })
            .collect();
        let mut width = headers.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cols: &[String]| {
            let mut s = String::new();
            for (i, (c, w)) in cols.iter().zip(width).enumerate() {
                if i + 1 == cols.len() {
                    s.push_str(c);
                } else {
                    let _ = write!(s, "{c:<w$}  ");
                }
            }
            s.trim_end().to_owned()
        };
        let mut out = String::new();
        out.push_str(&line(&headers.map(str::to_owned)));
        out.push('\n');
        out.push_str(&line(&width.map(|w| "-".repeat(w.max(2)))));
        out.push('\n');
        for row in &cells {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    async fn serve(&self) -> Result<(), Error> {
        let token = self
            .idp
            .client_credentials_token("demo-full", &[], None)
            .await?;
        let (idp, orders, inv) = (self.idp.issuer(), &self.orders, self.inventory);
        println!(
            "\nServing until Ctrl-C:\n  \
             dev IdP          {idp}  (NOT FOR PRODUCTION; clients demo-full/demo-full-secret, \
             demo-reader/demo-reader-secret)\n  \
             axum-orders      {orders}\n  \
             tonic-inventory  {inv}  (gRPC, reflection on)\n\n\
             A token for demo-full (all scopes, audiences orders and inventory), valid {} s:\n\n  \
             TOKEN={}\n\n  \
             curl -i -H \"Authorization: Bearer $TOKEN\" {orders}/orders\n  \
             curl -i -X POST -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' \
             -d '{{\"item\":\"widget\",\"qty\":1}}' {orders}/orders\n  \
             curl -i {orders}/orders        # 401, no token\n  \
             grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" -d '{{\"id\":\"widget\"}}' \
             {inv} inventory.v1.Inventory/GetItem\n\n\
             A fresh token (or one with fewer scopes):\n\n  \
             curl -s -u demo-full:demo-full-secret -d grant_type=client_credentials {token_url}\n  \
             curl -s -u demo-reader:demo-reader-secret -d grant_type=client_credentials {token_url}\n",
            token.expires_in,
            token.access_token,
            token_url = self.idp.token_endpoint(),
        );
        tokio::signal::ctrl_c().await?;
        Ok(())
    }
}

/// Starts axum-orders on a free loopback port with `env` (its public URL, for DPoP
/// proofs: the address it listens on); its base URL.
async fn serve_orders(env: &HashMap<&'static str, String>) -> Result<String, Error> {
    let mut config = axum_orders::Config::from_lookup(|k| env.get(k).cloned())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    config.listening_on(addr);
    let gate = config.tollgate().build().await?;
    let app = axum_orders::router(&gate);
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

/// A few lines of the Prometheus scrape: the decisions that happened, and the keys.
fn print_metrics(scrape: &str) {
    println!(
        "\nMetrics (what /metrics on TOLLGATE_ADMIN_BIND serves; decisions of both services):"
    );
    for line in scrape.lines() {
        let shown = (line.starts_with("tollgate_requests_total")
            || line.starts_with("tollgate_jwks_keys")
            || line.starts_with("tollgate_token_cache_hits_total"))
            && !line.ends_with(" 0");
        if shown {
            println!("  {line}");
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut serve = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--serve" => serve = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("quickstart: unknown argument {other}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(e) = tollgate_testkit::ops::init_logging() {
        eprintln!("quickstart: {e}");
        return ExitCode::from(2);
    }
    // metrics: the recorder before the services; /metrics on TOLLGATE_ADMIN_BIND if set
    let admin = tollgate_testkit::ops::admin_from_env(|k| std::env::var(k).ok(), "");
    let metrics = match admin.await {
        Ok(Some((addr, handle))) => {
            println!("admin listening on http://{addr}/metrics");
            Some(handle)
        }
        Ok(None) => tollgate_testkit::ops::install_metrics().ok(),
        Err(e) => {
            eprintln!("quickstart: {e}");
            return ExitCode::from(2);
        }
    };
    let mut tour = match Tour::start().await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("quickstart: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "dev IdP {} (NOT FOR PRODUCTION) · axum-orders {} · tonic-inventory {}\n",
        tour.idp.issuer(),
        tour.orders,
        tour.inventory
    );
    if let Err(e) = tour.run().await {
        print!("{}", tour.table());
        eprintln!("quickstart: a call failed: {e}");
        return ExitCode::FAILURE;
    }
    print!("{}", tour.table());
    let good = tour.rows.iter().filter(|r| r.ok()).count();
    let all = good == tour.rows.len();
    println!(
        "\n{good}/{} calls as expected{}",
        tour.rows.len(),
        if all { "" } else { " (XX: unexpected)" }
    );
    if let Some(handle) = metrics {
        print_metrics(&handle.render());
    }
    if serve && let Err(e) = tour.serve().await {
        eprintln!("quickstart: {e}");
        return ExitCode::FAILURE;
    }
    if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
