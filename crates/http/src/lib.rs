//! Promptyard's HTTP API on actix-web.
//!
//! Handlers are thin: extract, call one service, map the result. Errors are
//! RFC 9457 problem details with the contract's `code`s ([`ApiError`]).
//! Who is calling is decided in one place ([`extract`]); sessions live in
//! the `sessions` table ([`DbSessionStore`]).
//!
//! [`app`] builds the whole application — every route, the session, CORS
//! and body-limit middleware of `/api/v1`, request logging with a request
//! id — and the server binary and the tests build it the same way:
//!
//! ```no_run
//! # async fn demo(state: promptyard_http::AppState) -> std::io::Result<()> {
//! use actix_web::HttpServer;
//!
//! HttpServer::new(move || promptyard_http::app(state.clone()))
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! # }
//! ```

pub mod api_keys;
pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod health;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod playground;
pub mod problem;
pub mod routes;
pub mod session_store;
pub mod sse;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_session::SessionMiddleware;
use actix_session::config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, Next, from_fn};
use actix_web::{App, HttpMessage, web};
use promptyard_services::{
    ApiKeyService, AuthConfig, AuthService, Clock, Db, IdGenerator, PasswordHasher,
    PlaygroundService, ProviderRegistry, SessionService, SystemClock, UuidV7Ids,
    password::HashError,
};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_actix_web::scope;

pub use error::ApiError;
pub use session_store::DbSessionStore;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "session_id";

/// HTTP-level settings.
#[derive(Clone)]
pub struct HttpSettings {
    /// Signs the session cookie; at least 64 bytes of key material.
    pub cookie_key: Key,
    /// Adds `Secure` to the session cookie.
    pub cookie_secure: bool,
    /// Origins allowed to call the API from a browser, with credentials.
    pub cors_origins: Vec<String>,
    /// How long `/readyz` waits for the database.
    pub readiness_timeout: Duration,
    /// How long an event stream may stay silent before a keep-alive
    /// comment goes out (which is also how soon a departed client is
    /// noticed).
    pub sse_keep_alive: Duration,
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("cookie_key", &"[redacted]")
            .field("cookie_secure", &self.cookie_secure)
            .field("cors_origins", &self.cors_origins)
            .field("readiness_timeout", &self.readiness_timeout)
            .field("sse_keep_alive", &self.sse_keep_alive)
            .finish()
    }
}

impl HttpSettings {
    /// Settings with this cookie key, no `Secure`, no CORS, a 2 s readiness
    /// timeout and a keep-alive comment after 15 s of stream silence.
    pub fn new(cookie_key: Key) -> Self {
        Self {
            cookie_key,
            cookie_secure: false,
            cors_origins: Vec::new(),
            readiness_timeout: Duration::from_secs(2),
            sse_keep_alive: Duration::from_secs(15),
        }
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub auth: AuthService,
    pub sessions: SessionService,
    pub api_keys: ApiKeyService,
    pub playground: PlaygroundService,
    pub settings: HttpSettings,
    /// What `GET /metrics` renders ([`metrics::prometheus`]).
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl AppState {
    /// The state over `db` with the services built from `auth_config`, a
    /// system clock, UUIDv7 ids and a password hasher with the default
    /// configuration ([`with_hasher`](Self::with_hasher) replaces it).
    pub fn new(db: Db, auth_config: AuthConfig, settings: HttpSettings) -> Result<Self, HashError> {
        Self::with_clock(db, auth_config, settings, Arc::new(SystemClock))
    }

    /// The same with another clock (tests move time with a `ManualClock`).
    pub fn with_clock(
        db: Db,
        auth_config: AuthConfig,
        settings: HttpSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HashError> {
        Self::with_clock_and_ids(db, auth_config, settings, clock, Arc::new(UuidV7Ids))
    }

    /// The same with another clock and id source (tests pin both to see
    /// exact answers).
    pub fn with_clock_and_ids(
        db: Db,
        auth_config: AuthConfig,
        settings: HttpSettings,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Result<Self, HashError> {
        let auth = AuthService::new(
            db.clone(),
            PasswordHasher::new()?,
            Arc::clone(&clock),
            Arc::clone(&ids),
            auth_config,
        );
        let sessions = SessionService::new(db.clone(), Arc::clone(&clock), Arc::clone(&ids));
        let providers = Arc::new(ProviderRegistry::with_echo());
        let api_keys = ApiKeyService::new(
            db.clone(),
            Arc::clone(&clock),
            Arc::clone(&ids),
            Arc::clone(&providers),
        );
        let playground =
            PlaygroundService::new(db.clone(), Arc::clone(&clock), Arc::clone(&ids), providers);
        Ok(Self {
            db,
            auth,
            sessions,
            api_keys,
            playground,
            settings,
            metrics: metrics::prometheus(),
            clock,
            ids,
        })
    }

    /// What tells the time.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// What makes new ids.
    pub fn ids(&self) -> &dyn IdGenerator {
        self.ids.as_ref()
    }

    /// The same state with this password hasher (its workers, queue and
    /// longest wait).
    #[must_use]
    pub fn with_hasher(mut self, hasher: PasswordHasher) -> Self {
        self.auth = AuthService::new(
            self.db.clone(),
            hasher,
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            *self.auth.config(),
        );
        self
    }

    /// The same state with these LLM providers (the echo provider is in
    /// every registry).
    #[must_use]
    pub fn with_providers(mut self, providers: ProviderRegistry) -> Self {
        let providers = Arc::new(providers);
        self.api_keys = ApiKeyService::new(
            self.db.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            Arc::clone(&providers),
        );
        self.playground = PlaygroundService::new(
            self.db.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            providers,
        )
        .with_default_reserve(self.playground.default_reserve());
        self
    }

    /// The same state, reserving `tokens` completion tokens for a limited
    /// key's LLM request that sets no `max_tokens`.
    #[must_use]
    pub fn with_default_reserve(mut self, tokens: u32) -> Self {
        self.playground = self.playground.with_default_reserve(tokens);
        self
    }
}

/// The request id header every response carries (the same id is on every
/// log line of the request).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The whole application: [`configure`]d routes, a tracing span per request
/// with a request id (logged with method, route and status; never headers,
/// cookies or bodies), and that id in an `x-request-id` response header.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(configure(state))
        .wrap(from_fn(api_headers))
        .wrap(from_fn(request_id_header))
        .wrap(from_fn(metrics::record))
        .wrap(TracingLogger::default())
}

/// Whether `path` is under `/api/v1` or `/v1`.
fn is_api_path(path: &str) -> bool {
    ["/api/v1", "/v1"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The rules the contract sets on every answer, errors included:
/// `Cache-Control: no-store` under `/api/v1` and `/v1` (answers are
/// personal, and some show a secret once), and no CORS header at all for
/// an origin that is not listed (actix-cors would still send
/// `Access-Control-Allow-Credentials` and `-Expose-Headers` to it).
async fn api_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let api = is_api_path(req.path());
    let stranger = match req.headers().get(header::ORIGIN) {
        Some(origin) => !req.app_data::<web::Data<AppState>>().is_some_and(|state| {
            state
                .settings
                .cors_origins
                .iter()
                .any(|listed| listed.as_bytes() == origin.as_bytes())
        }),
        None => false,
    };
    let apply = |headers: &mut HeaderMap| {
        if api {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if stranger {
            let cors: Vec<HeaderName> = headers
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-"))
                .cloned()
                .collect();
            for name in cors {
                headers.remove(name);
            }
        }
    };
    match next.call(req).await {
        Ok(mut response) => {
            apply(response.headers_mut());
            Ok(response)
        }
        // An error a middleware answered with: the same answer, with the
        // same rules.
        Err(err) => {
            let mut response = err.error_response();
            apply(response.headers_mut());
            Err(InternalError::from_response(err.to_string(), response).into())
        }
    }
}

async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut response = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

/// Registers every route on an actix `App`, with problem+json answers for
/// unknown routes (404) and wrong methods (405).
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let ttl = state.auth.config().session_ttl;
        let sessions = SessionMiddleware::builder(
            DbSessionStore::new(state.sessions.clone()),
            state.settings.cookie_key.clone(),
        )
        .cookie_name(SESSION_COOKIE.to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".to_owned())
        .cookie_secure(state.settings.cookie_secure)
        .cookie_content_security(CookieContentSecurity::Signed)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(
                    actix_web::cookie::time::Duration::try_from(ttl)
                        .unwrap_or(actix_web::cookie::time::Duration::MAX),
                )
                .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build();
        let cors = cors(&state.settings.cors_origins);
        let gateway_cors = self::cors(&state.settings.cors_origins);
        utoipa_actix_web::service_config::ServiceConfig::new(cfg)
            .app_data(web::Data::new(state))
            .configure(routes::operations)
            .service(
                scope(routes::API_V1)
                    .configure(routes::api_v1)
                    .default_service(web::to(routes::no_route))
                    .wrap(from_fn(extract::authenticate_key))
                    .wrap(sessions)
                    .wrap(cors),
            )
            .service(
                scope(routes::GATEWAY)
                    .configure(routes::gateway)
                    .default_service(web::to(gateway::no_route))
                    .wrap(gateway_cors),
            )
            .default_service(web::to(routes::no_route));
        // After the API's scopes, so that their requests, the many, are
        // routed without trying the page's paths first.
        page::configure(cfg);
    }
}

/// CORS for the listed origins (with credentials); no CORS headers at all
/// when the list is empty or the origin is not listed.
fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::DELETE])
        .allowed_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
        .expose_headers([header::RETRY_AFTER])
        .supports_credentials()
        .block_on_origin_mismatch(false)
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}

#[cfg(test)]
pub(crate) mod test_app;
