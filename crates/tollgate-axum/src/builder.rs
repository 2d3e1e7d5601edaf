//! [`Tollgate`]: one configuration, the layers that use it.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use tollgate_core::alg::Algorithm;
use tollgate_core::authenticate::Authenticate;
use tollgate_core::introspect::{IntrospectorBuilder, JwtOrIntrospect, Routing};
use tollgate_core::remote::{IssuerConfig, Issuers, RefreshConfig};
use tollgate_core::scope::ScopePolicy;
use tollgate_core::{TokenProfile, Validation};
use tollgate_tower::{AuthLayer, BearerRejector, Mode, RequireScopeLayer};

/// An authenticator plus the rejector configuration, handing out matching layers.
///
/// `X` is your own claims type (`()` for none); `A` the authenticator
/// ([`Issuers`] for remote keys, `StaticKeys` for fixed ones).
#[must_use]
pub struct Tollgate<X = (), A = Issuers> {
    layer: AuthLayer<A, X, BearerRejector>,
    rejector: BearerRejector,
    _claims: PhantomData<fn() -> X>,
}

impl<X, A> Clone for Tollgate<X, A> {
    fn clone(&self) -> Self {
        Tollgate {
            layer: self.layer.clone(),
            rejector: self.rejector.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X, A> fmt::Debug for Tollgate<X, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tollgate")
            .field("rejector", &self.rejector)
            .finish_non_exhaustive()
    }
}

impl<A> Tollgate<(), A>
where
    A: Authenticate<()> + Clone,
{
    /// Uses any authenticator (e.g. `StaticKeys` for a fixed key set), with no
    /// application claims type (`Claims<()>`). See [`Tollgate::with_claims`] for your own.
    pub fn new(auth: A) -> Self {
        Self::with_claims(auth)
    }
}

impl<X, A> Tollgate<X, A>
where
    A: Authenticate<X> + Clone,
{
    /// Uses any authenticator, deserializing your own claims `X` from each token:
    /// `Tollgate::<MyClaims, _>::with_claims(auth)`.
    pub fn with_claims(auth: A) -> Self {
        let rejector = BearerRejector::default();
        Tollgate {
            layer: AuthLayer::new(auth),
            rejector,
            _claims: PhantomData,
        }
    }

    /// The `realm` of every challenge (default `api`).
    pub fn realm(self, realm: impl Into<String>) -> Self {
        self.rejector(BearerRejector::new(realm))
    }

    /// Uses this rejector configuration (realm, RFC 9728 metadata URL, problem bodies).
    pub fn rejector(mut self, rejector: BearerRejector) -> Self {
        self.layer = self.layer.rejector(rejector.clone());
        self.rejector = rejector;
        self
    }

    /// Lets requests without a token through without claims (see [`Mode::Optional`]).
    pub fn optional(mut self) -> Self {
        self.layer = self.layer.mode(Mode::Optional);
        self
    }

    /// The authentication layer: put it on the router with `.layer(..)`.
    pub fn layer(&self) -> AuthLayer<A, X, BearerRejector> {
        self.layer.clone()
    }

    /// A per-route scope check: use with `.route_layer(..)`.
    pub fn require(&self, policy: ScopePolicy) -> RequireScopeLayer<X, BearerRejector> {
        RequireScopeLayer::with_rejector(policy, self.rejector.clone())
    }
}

impl<X> Tollgate<X, Issuers> {
    /// Configure remote keys (JWKS URL or discovery) for one issuer.
    pub fn builder() -> TollgateBuilder<X> {
        TollgateBuilder {
            validation: Validation::builder(),
            issuer: None,
            source: Source::None,
            refresh: RefreshConfig::default(),
            realm: None,
            _claims: PhantomData,
        }
    }
}

enum Source {
    None,
    Jwks(String),
    Discovery,
}

/// Builder of a [`Tollgate`] over remote keys.
#[must_use]
pub struct TollgateBuilder<X = ()> {
    validation: tollgate_core::validation::ValidationBuilder,
    issuer: Option<String>,
    source: Source,
    refresh: RefreshConfig,
    realm: Option<String>,
    _claims: PhantomData<fn() -> X>,
}

impl<X> fmt::Debug for TollgateBuilder<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TollgateBuilder")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The configuration could not be turned into a [`Tollgate`].
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// No issuer configured.
    NoIssuer,
    /// Neither a JWKS URL nor discovery configured.
    NoKeySource,
    /// The validation policy is incomplete.
    Validation(tollgate_core::BuildError),
    /// The key source failed (bad URL, unreachable at start-up, issuer mismatch...).
    Keys(tollgate_core::BuildError),
    /// The introspection configuration failed (no endpoint, discovery failed...).
    Introspection(tollgate_core::BuildError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoIssuer => f.write_str("no issuer configured"),
            BuildError::NoKeySource => {
                f.write_str("no key source: call .jwks_uri(..) or .discover()")
            }
            BuildError::Validation(e) => write!(f, "invalid validation policy: {e}"),
            BuildError::Keys(e) => write!(f, "key source: {e}"),
            BuildError::Introspection(e) => write!(f, "introspection: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Validation(e) | BuildError::Keys(e) | BuildError::Introspection(e) => {
                Some(e)
            }
            BuildError::NoIssuer | BuildError::NoKeySource => None,
        }
    }
}

impl<X> TollgateBuilder<X>
where
    X: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    /// The issuer (exact `iss` value).
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        let iss = iss.into();
        self.validation = self.validation.issuer(&iss);
        self.issuer = Some(iss);
        self
    }

    /// An accepted audience (call again for more).
    pub fn audience(mut self, aud: impl AsRef<str>) -> Self {
        self.validation = self.validation.audience(aud);
        self
    }

    /// The algorithm allow-list (default: all asymmetric ones).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.validation = self.validation.algorithms(algs);
        self
    }

    /// The token profile (default RFC 9068 access tokens).
    pub fn profile(mut self, profile: TokenProfile) -> Self {
        self.validation = self.validation.profile(profile);
        self
    }

    /// Clock-skew leeway (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validation = self.validation.leeway(leeway);
        self
    }

    /// Keys from this JWKS URL.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.source = Source::Jwks(url.into());
        self
    }

    /// Keys from the issuer's discovery metadata (`jwks_uri`).
    pub fn discover(mut self) -> Self {
        self.source = Source::Discovery;
        self
    }

    /// Refresh timings (cooldown, intervals, timeouts).
    pub fn refresh(mut self, refresh: RefreshConfig) -> Self {
        self.refresh = refresh;
        self
    }

    /// The `realm` of every challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Also accepts opaque tokens through RFC 7662 introspection: tokens that are not
    /// JWTs (by default; see [`IntrospectingBuilder::routing`]) are introspected with
    /// `introspector`, JWTs are verified with the remote keys. Unless `introspector`
    /// has its own, it checks answers with this builder's validation policy (issuer,
    /// audiences, leeway).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tollgate_axum::BuildError> {
    /// use tollgate_axum::Tollgate;
    /// use tollgate_core::introspect::{ClientAuth, Introspector};
    ///
    /// let gate = Tollgate::<()>::builder()
    ///     .issuer("https://idp.example")
    ///     .audience("orders")
    ///     .discover()
    ///     .introspection(
    ///         Introspector::builder()
    ///             .discover() // introspection_endpoint from the metadata
    ///             .client_auth(ClientAuth::client_secret_basic("orders-api", "secret")),
    ///     )
    ///     .build()
    ///     .await?;
    /// # let _ = gate;
    /// # Ok(())
    /// # }
    /// ```
    pub fn introspection(self, introspector: IntrospectorBuilder) -> IntrospectingBuilder<X> {
        IntrospectingBuilder {
            base: self,
            introspector,
            routing: Routing::default(),
        }
    }

    fn issuers(
        self,
    ) -> Result<(tollgate_core::remote::IssuersBuilder, Option<String>), BuildError> {
        self.issuers_and_validation()
            .map(|(b, realm, _)| (b, realm))
    }

    #[allow(clippy::type_complexity)]
    fn issuers_and_validation(
        self,
    ) -> Result<
        (
            tollgate_core::remote::IssuersBuilder,
            Option<String>,
            Validation,
        ),
        BuildError,
    > {
        if self.issuer.is_none() {
            return Err(BuildError::NoIssuer);
        }
        let validation = self.validation.build().map_err(BuildError::Validation)?;
        let cfg = IssuerConfig::new(validation.clone());
        let cfg = match self.source {
            Source::None => return Err(BuildError::NoKeySource),
            Source::Jwks(url) => cfg.jwks_uri(url),
            Source::Discovery => cfg.discover(),
        };
        Ok((
            Issuers::builder().issuer(cfg).refresh(self.refresh),
            self.realm,
            validation,
        ))
    }

    /// Builds, waiting for the first key set (up to the refresh config's start-up
    /// timeout): a clear error names the issuer and URL when it cannot be had.
    ///
    /// # Errors
    ///
    /// See [`BuildError`].
    pub async fn build(self) -> Result<Tollgate<X, Issuers>, BuildError> {
        let (b, realm) = self.issuers()?;
        let issuers = b.build().await.map_err(BuildError::Keys)?;
        Ok(finish(Tollgate::with_claims(issuers), realm))
    }

    /// Builds without waiting: requests get 503 until the first key set arrives.
    ///
    /// # Errors
    ///
    /// See [`BuildError`].
    pub fn build_lazy(self) -> Result<Tollgate<X, Issuers>, BuildError> {
        let (b, realm) = self.issuers()?;
        let issuers = b.build_lazy().map_err(BuildError::Keys)?;
        Ok(finish(Tollgate::with_claims(issuers), realm))
    }
}

fn finish<X, A>(t: Tollgate<X, A>, realm: Option<String>) -> Tollgate<X, A>
where
    X: serde::de::DeserializeOwned + Send + Sync + 'static,
    A: Authenticate<X> + Clone,
{
    match realm {
        Some(r) => t.realm(r),
        None => t,
    }
}

/// Builder of a [`Tollgate`] over remote keys plus introspection (from
/// [`TollgateBuilder::introspection`]).
#[must_use]
pub struct IntrospectingBuilder<X = ()> {
    base: TollgateBuilder<X>,
    introspector: IntrospectorBuilder,
    routing: Routing,
}

impl<X> fmt::Debug for IntrospectingBuilder<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectingBuilder")
            .field("base", &self.base)
            .field("introspector", &self.introspector)
            .field("routing", &self.routing)
            .finish()
    }
}

impl<X> IntrospectingBuilder<X>
where
    X: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    /// Which tokens are introspected (default [`Routing::NonJwt`]: only tokens that
    /// are not JWTs; [`Routing::All`]: every token).
    pub fn routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// Builds, waiting for the first key set and reading the introspection endpoint
    /// from discovery when asked to.
    ///
    /// # Errors
    ///
    /// See [`BuildError`].
    pub async fn build(self) -> Result<Tollgate<X, JwtOrIntrospect<Issuers>>, BuildError> {
        let (b, realm, validation) = self.base.issuers_and_validation()?;
        let introspector = if self.introspector.has_validation() {
            self.introspector
        } else {
            self.introspector.validation(validation)
        };
        let introspector = introspector
            .build()
            .await
            .map_err(BuildError::Introspection)?;
        let issuers = b.build().await.map_err(BuildError::Keys)?;
        let auth = JwtOrIntrospect::new(issuers, introspector).routing(self.routing);
        Ok(finish(Tollgate::with_claims(auth), realm))
    }
}
