//! Cross-crate integration tests for tollgate live in `tests/`; this library holds the
//! small real HTTP client they share, and the reader of token fixtures minted by other
//! libraries ([`fixtures`]).

pub mod fixtures;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// A header as a string ("" when absent).
    #[must_use]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as JSON (`null` when it is not JSON).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Serves `app` on 127.0.0.1 on a free port (in the current tokio runtime) and returns
/// its base URL, `http://127.0.0.1:<port>`.
///
/// # Panics
///
/// When no loopback port can be bound (tests only).
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Sends one HTTP/1.1 request over a real TCP connection.
///
/// # Panics
///
/// On connection errors (tests only).
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("valid request");
    let res = client.request(req).await.expect("request sent");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body read").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A call to an axum-orders instance at `base` with `Authorization: Bearer <token>`;
/// a POST carries a small JSON order (`{"item":"gear"}`).
pub async fn call_orders(base: &str, method: Method, path: &str, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    let (body, ct) = if method == Method::POST {
        (r#"{"item":"gear"}"#, "application/json")
    } else {
        ("", "text/plain")
    };
    send(
        method,
        &format!("{base}{path}"),
        &[("authorization", &auth), ("content-type", ct)],
        body,
    )
    .await
}

/// The README's Rust snippets, compiled as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeSnippets;

/// A proxy in front of an authorization server's introspection endpoint that forwards
/// each call and counts them (and the most at once): how the tests see how often the
/// resource server asked.
#[derive(Debug, Clone)]
pub struct CountingProxy {
    target: String,
    url: String,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    max_in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingProxy {
    /// Serves the proxy on 127.0.0.1 (in the current tokio runtime), forwarding to
    /// `target`, the introspection endpoint.
    pub async fn start(target: impl Into<String>) -> Self {
        let mut proxy = CountingProxy {
            target: target.into(),
            url: String::new(),
            calls: std::sync::Arc::default(),
            in_flight: std::sync::Arc::default(),
            max_in_flight: std::sync::Arc::default(),
        };
        let base = serve(
            axum::Router::new()
                .route("/introspect", axum::routing::post(Self::forward))
                .with_state(proxy.clone()),
        )
        .await;
        proxy.url = format!("{base}/introspect");
        proxy
    }

    /// The proxy's introspection URL (for `TOLLGATE_INTROSPECTION_URI`).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls forwarded so far.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most calls in flight at once so far.
    #[must_use]
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn forward(
        axum::extract::State(p): axum::extract::State<CountingProxy>,
        headers: HeaderMap,
        body: Bytes,
    ) -> http::Response<axum::body::Body> {
        use std::sync::atomic::Ordering::SeqCst;
        p.calls.fetch_add(1, SeqCst);
        let now = p.in_flight.fetch_add(1, SeqCst) + 1;
        p.max_in_flight.fetch_max(now, SeqCst);
        let h: Vec<(&str, &str)> = ["authorization", "content-type", "accept"]
            .into_iter()
            .filter_map(|n| headers.get(n).and_then(|v| v.to_str().ok()).map(|v| (n, v)))
            .collect();
        let r = send(
            Method::POST,
            &p.target,
            &h,
            std::str::from_utf8(&body).unwrap_or_default(),
        )
        .await;
        p.in_flight.fetch_sub(1, SeqCst);
        let mut res = http::Response::new(axum::body::Body::from(r.body.clone()));
        *res.status_mut() = r.status;
        if let Ok(v) = http::HeaderValue::from_str(r.header("content-type")) {
            res.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        res
    }
}

/// Statuses seen on the wire, in order (shared by the recorders of one test).
pub type StatusLog = std::sync::Arc<std::sync::Mutex<Vec<u16>>>;

/// The statuses recorded so far, leaving the log empty.
///
/// # Panics
///
/// When a recorder panicked while holding the log (tests only).
pub fn take_statuses(log: &StatusLog) -> Vec<u16> {
    std::mem::take(&mut *log.lock().expect("status log"))
}

/// tollgate-core's default HTTP client, recording each answer's status in a
/// [`StatusLog`] (what a token source saw at the token endpoint).
#[derive(Clone)]
pub struct RecordingClient {
    inner: tollgate_core::oauth::HyperClient,
    log: StatusLog,
}

impl RecordingClient {
    /// A recorder writing to `log`.
    ///
    /// # Panics
    ///
    /// When the default client cannot be built (tests only).
    #[must_use]
    pub fn new(log: &StatusLog) -> Self {
        RecordingClient {
            inner: tollgate_core::oauth::HyperClient::new().expect("the default HTTP client"),
            log: log.clone(),
        }
    }
}

impl std::fmt::Debug for RecordingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingClient").finish_non_exhaustive()
    }
}

impl tollgate_core::oauth::HttpClient for RecordingClient {
    fn send(
        &self,
        request: tollgate_core::oauth::HttpRequest,
    ) -> tollgate_core::oauth::BoxFuture<
        'static,
        Result<tollgate_core::oauth::HttpResponse, tollgate_core::oauth::HttpError>,
    > {
        let fut = self.inner.send(request);
        let log = self.log.clone();
        Box::pin(async move {
            let r = fut.await?;
            log.lock().expect("status log").push(r.status.as_u16());
            Ok(r)
        })
    }
}
