//! The inventory service (`inventory.v1.Inventory`): generated code, handlers, the
//! per-method scope map and configuration, shared by the binary and the tests.
//!
//! | method | kind | needs |
//! |---|---|---|
//! | `GetItem` | unary | `inventory:read` |
//! | `ReserveItem` | unary | `inventory:write` |
//! | `WatchStock` | server streaming | `inventory:read` |
//! | `ReserveMany` | client streaming | `inventory:write` |
//! | `SyncStock` | bidirectional streaming | `inventory:read` |
//! | `WhoAmI` | unary | any valid token |
//! | any other method | | refused (deny-all default) |
//! | `grpc.health.v1.Health/*`, server reflection (v1, v1alpha) | | nothing (public) |
//!
//! [`routes`] protects the inventory service alone with either
//! [`GrpcAuthLayer`](tollgate_tonic::GrpcAuthLayer) ([`Guard::Layer`], the default) or [`GrpcInterceptor`](tollgate_tonic::GrpcInterceptor)
//! ([`Guard::Interceptor`]: authentication in the interceptor, the same per-method map
//! checked by each handler), leaving health and reflection public.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio_stream::{Stream, StreamExt};
use tollgate_tonic::{
    Claims, GateConfig, GrpcGate, MethodScopes, RequestExt, Scope, ScopePolicy, Tollgate,
    TollgateBuilder, VerifyError,
};
use tonic::service::Routes;
use tonic::{Request, Response, Status, Streaming};

/// The generated protobuf and gRPC code of `proto/inventory.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("inventory.v1");
}

use pb::inventory_server::{Inventory, InventoryServer};
use pb::{
    Caller, GetItemRequest, Item, Reservation, ReserveItemRequest, StockLevel, WatchStockRequest,
    WhoAmIRequest,
};

/// The encoded `FileDescriptorSet` of `proto/inventory.proto` (served by reflection,
/// and the list of real methods the scope map is checked against).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/inventory_descriptor.bin"));

/// Full method paths of `inventory.v1.Inventory`.
pub mod methods {
    /// `GetItem`.
    pub const GET_ITEM: &str = "/inventory.v1.Inventory/GetItem";
    /// `ReserveItem`.
    pub const RESERVE_ITEM: &str = "/inventory.v1.Inventory/ReserveItem";
    /// `WatchStock`.
    pub const WATCH_STOCK: &str = "/inventory.v1.Inventory/WatchStock";
    /// `ReserveMany`.
    pub const RESERVE_MANY: &str = "/inventory.v1.Inventory/ReserveMany";
    /// `SyncStock`.
    pub const SYNC_STOCK: &str = "/inventory.v1.Inventory/SyncStock";
    /// `WhoAmI`.
    pub const WHO_AM_I: &str = "/inventory.v1.Inventory/WhoAmI";
}

/// The per-method scope map, checked against [`FILE_DESCRIPTOR_SET`] so a misspelled
/// method fails at start-up. Unlisted methods are refused.
///
/// # Errors
///
/// A key that names no method of the proto.
pub fn scopes() -> Result<MethodScopes, VerifyError> {
    let read = ScopePolicy::all_of([Scope::from_static("inventory:read")]);
    let write = ScopePolicy::all_of([Scope::from_static("inventory:write")]);
    MethodScopes::new()
        .method(methods::GET_ITEM, read.clone())
        .method(methods::WATCH_STOCK, read.clone())
        .method(methods::SYNC_STOCK, read)
        .method(methods::RESERVE_ITEM, write.clone())
        .method(methods::RESERVE_MANY, write)
        .method(methods::WHO_AM_I, ScopePolicy::authenticated())
        .verify_descriptor(FILE_DESCRIPTOR_SET)
}

/// The inventory: an in-memory stock table.
#[derive(Debug, Clone)]
pub struct InventoryService {
    stock: Arc<Mutex<HashMap<String, (String, u32)>>>,
    // Set in the interceptor variant: each handler checks its own method's policy.
    handler_scopes: Option<Arc<MethodScopes>>,
}

impl Default for InventoryService {
    fn default() -> Self {
        Self::new()
    }
}

type Stocks = HashMap<String, (String, u32)>;

impl InventoryService {
    /// Two items: `widget` (stock 10) and `gadget` (stock 3).
    #[must_use]
    pub fn new() -> Self {
        let mut stock = HashMap::new();
        stock.insert("widget".to_owned(), ("Widget".to_owned(), 10));
        stock.insert("gadget".to_owned(), ("Gadget".to_owned(), 3));
        InventoryService {
            stock: Arc::new(Mutex::new(stock)),
            handler_scopes: None,
        }
    }

    /// Makes every handler check `scopes` for its own method (for use behind
    /// [`GrpcInterceptor`](tollgate_tonic::GrpcInterceptor), which cannot see the method path).
    #[must_use]
    pub fn check_scopes_in_handlers(mut self, scopes: MethodScopes) -> Self {
        self.handler_scopes = Some(Arc::new(scopes));
        self
    }

    fn authorize<T>(&self, request: &Request<T>, method: &str) -> Result<Arc<Claims>, Status> {
        if let Some(scopes) = &self.handler_scopes {
            request.require_scopes::<()>(scopes.policy_for(method))?;
        }
        Ok(request.claims::<()>()?.clone())
    }

    fn with_stock<R>(&self, f: impl FnOnce(&mut Stocks) -> R) -> Result<R, Status> {
        let mut guard = self
            .stock
            .lock()
            .map_err(|_| Status::internal("stock table poisoned"))?;
        Ok(f(&mut guard))
    }

    fn level(&self, id: &str) -> Result<StockLevel, Status> {
        self.with_stock(|s| s.get(id).map(|(_, n)| *n))?
            .map(|stock| StockLevel {
                id: id.to_owned(),
                stock,
            })
            .ok_or_else(|| Status::not_found("no such item"))
    }

    fn reserve(&self, id: &str, quantity: u32) -> Result<(), Status> {
        self.with_stock(|s| match s.get_mut(id) {
            None => Err(Status::not_found("no such item")),
            Some((_, n)) if *n < quantity => Err(Status::failed_precondition("not enough stock")),
            Some((_, n)) => {
                *n -= quantity;
                Ok(())
            }
        })?
    }
}

type StockStream = Pin<Box<dyn Stream<Item = Result<StockLevel, Status>> + Send>>;

#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn get_item(&self, request: Request<GetItemRequest>) -> Result<Response<Item>, Status> {
        self.authorize(&request, methods::GET_ITEM)?;
        let id = request.into_inner().id;
        let item = self
            .with_stock(|s| s.get(&id).cloned())?
            .ok_or_else(|| Status::not_found("no such item"))?;
        Ok(Response::new(Item {
            id,
            name: item.0,
            stock: item.1,
        }))
    }

    async fn reserve_item(
        &self,
        request: Request<ReserveItemRequest>,
    ) -> Result<Response<Reservation>, Status> {
        let claims = self.authorize(&request, methods::RESERVE_ITEM)?;
        let req = request.into_inner();
        self.reserve(&req.id, req.quantity)?;
        Ok(Response::new(Reservation {
            reservation_id: format!("r-{}", req.id),
            quantity: req.quantity,
            reserved_by: claims.sub.clone().unwrap_or_default(),
        }))
    }

    type WatchStockStream = StockStream;

    async fn watch_stock(
        &self,
        request: Request<WatchStockRequest>,
    ) -> Result<Response<Self::WatchStockStream>, Status> {
        self.authorize(&request, methods::WATCH_STOCK)?;
        let level = self.level(&request.into_inner().id)?;
        // three snapshots; a real service would push on change
        let items = vec![Ok(level.clone()), Ok(level.clone()), Ok(level)];
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    async fn reserve_many(
        &self,
        request: Request<Streaming<ReserveItemRequest>>,
    ) -> Result<Response<Reservation>, Status> {
        let claims = self.authorize(&request, methods::RESERVE_MANY)?;
        let mut stream = request.into_inner();
        let mut total = 0u32;
        while let Some(item) = stream.next().await {
            let item = item?;
            self.reserve(&item.id, item.quantity)?;
            total = total.saturating_add(item.quantity);
        }
        Ok(Response::new(Reservation {
            reservation_id: "r-many".to_owned(),
            quantity: total,
            reserved_by: claims.sub.clone().unwrap_or_default(),
        }))
    }

    type SyncStockStream = StockStream;

    async fn sync_stock(
        &self,
        request: Request<Streaming<WatchStockRequest>>,
    ) -> Result<Response<Self::SyncStockStream>, Status> {
        self.authorize(&request, methods::SYNC_STOCK)?;
        let this = self.clone();
        let out = request
            .into_inner()
            .map(move |q| q.and_then(|q| this.level(&q.id)));
        Ok(Response::new(Box::pin(out)))
    }

    async fn who_am_i(&self, request: Request<WhoAmIRequest>) -> Result<Response<Caller>, Status> {
        let claims = self.authorize(&request, methods::WHO_AM_I)?;
        Ok(Response::new(Caller {
            sub: claims.sub.clone().unwrap_or_default(),
            client_id: claims.client_id.clone().unwrap_or_default(),
            scopes: claims
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        }))
    }
}

/// How the inventory service is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Guard {
    /// [`GrpcAuthLayer`](tollgate_tonic::GrpcAuthLayer) around the service: authentication and the per-method map.
    #[default]
    Layer,
    /// [`GrpcInterceptor`](tollgate_tonic::GrpcInterceptor) (authentication only), with the per-method map checked by
    /// each handler.
    Interceptor,
}

/// Errors building the routes.
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// The inventory service protected by `auth` per `guard`, next to the public health
/// (reporting the inventory service as serving) and reflection services.
///
/// # Errors
///
/// A scope map entry naming no method, a reflection descriptor that does not decode, or
/// [`Guard::Interceptor`] on a gate with DPoP on (the interceptor cannot check DPoP).
pub async fn routes(gate: &Tollgate, guard: Guard) -> Result<Routes, BuildError> {
    let scopes = scopes()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<InventoryServer<InventoryService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let routes = Routes::new(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok(match guard {
        Guard::Layer => routes.add_service(
            gate.grpc_layer(scopes)
                .named(InventoryServer::new(InventoryService::new())),
        ),
        Guard::Interceptor => routes.add_service(InventoryServer::with_interceptor(
            InventoryService::new().check_scopes_in_handlers(scopes),
            gate.grpc_interceptor(ScopePolicy::authenticated())?,
        )),
    })
}

/// Configuration from the environment: the gate's settings ([`GateConfig`], the same
/// `TOLLGATE_*` variables as `axum-orders`, DPoP included: `TOLLGATE_DPOP`,
/// `TOLLGATE_DPOP_NONCE`, `TOLLGATE_DPOP_NONCE_SECRET`, `TOLLGATE_PUBLIC_URL`, default
/// `http://<BIND>`) plus `BIND`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The gate's settings.
    pub gate: GateConfig,
    /// `BIND` (default `127.0.0.1:50051`).
    pub bind: String,
}

impl Config {
    /// Reads the configuration through `get` (e.g. `|k| std::env::var(k).ok()`).
    ///
    /// # Errors
    ///
    /// A missing or bad variable, named in the message.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, tollgate_tonic::BuildError> {
        Ok(Config {
            gate: GateConfig::from_lookup(&get)?,
            bind: get("BIND")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "127.0.0.1:50051".to_owned()),
        })
    }

    /// Makes `http://<addr>` (the address the service listens on) the public URL DPoP
    /// proofs name in `htu` (followed by the method path, e.g.
    /// `http://127.0.0.1:50051/inventory.v1.Inventory/GetItem`), unless
    /// `TOLLGATE_PUBLIC_URL` (or the file's `public_url`) names one. Call it once
    /// bound, before [`Self::tollgate`].
    pub fn listening_on(&mut self, addr: std::net::SocketAddr) {
        self.gate
            .public_url
            .get_or_insert_with(|| format!("http://{addr}"));
    }

    /// The gate builder for this configuration (`.build().await` waits for the first
    /// key set). The configuration may come from the TOML file named by
    /// `TOLLGATE_CONFIG` or from the `TOLLGATE_*` variables.
    pub fn tollgate(&self) -> TollgateBuilder<()> {
        self.gate.builder()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_errors() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = Config::from_lookup(env(&[
            ("TOLLGATE_ISSUER", "https://idp.example"),
            ("TOLLGATE_AUDIENCE", "inventory, other"),
        ]))
        .unwrap();
        assert_eq!(c.bind, "127.0.0.1:50051");
        assert_eq!(c.gate.issuers[0].audiences, ["inventory", "other"]);
        assert_eq!(c.gate.issuers[0].jwks_uri, None);
        let e = Config::from_lookup(env(&[("TOLLGATE_ISSUER", "x")])).unwrap_err();
        assert_eq!(e.to_string(), "TOLLGATE_AUDIENCE is required");
        let e = Config::from_lookup(env(&[
            ("TOLLGATE_ISSUER", "x"),
            ("TOLLGATE_AUDIENCE", "y"),
            ("TOLLGATE_ALGORITHMS", "RS256,none"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("\"none\""), "{e}");
    }

    #[test]
    fn scope_map_matches_the_proto() {
        let m = scopes().unwrap();
        let all = tollgate_tonic::descriptor_methods(FILE_DESCRIPTOR_SET).unwrap();
        assert_eq!(all.len(), 6);
        for path in &all {
            assert!(m.methods().any(|(k, _)| k == path), "{path} has no policy");
        }
        let typo = MethodScopes::new()
            .method(
                "/inventory.v1.Inventory/GetItems",
                ScopePolicy::authenticated(),
            )
            .verify_descriptor(FILE_DESCRIPTOR_SET)
            .unwrap_err();
        assert_eq!(typo.unknown(), ["/inventory.v1.Inventory/GetItems"]);
    }
}
