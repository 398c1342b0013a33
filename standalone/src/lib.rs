//! The whole system in one process: the same routers and consumers as the
//! Lambda functions, wired to SQLite, the local filesystem and an
//! in-process dispatcher. This crate holds wiring only; every rule lives in
//! `subsidy-core` and the function crates.

pub mod auth;
pub mod batch_queue;
pub mod blobs;
pub mod demo;
pub mod dispatcher;
pub mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post, put};
use serde_json::json;
use subsidy_api::no_route;
use subsidy_core::Services;
use subsidy_core::identity::Tier;
use subsidy_core::jurisdiction::JurisdictionTree;
use subsidy_core::policy::Policy;
use subsidy_core::ports::{Clock, SystemClock};
use subsidy_infra::fs::FsBlobStore;
use subsidy_infra::jwt::Hs256;
use subsidy_infra::sqlite::{Durability, SqliteStore};

pub use dispatcher::Dispatcher;

pub use subsidy_infra::data::{SHENZHEN_JURISDICTIONS as SHENZHEN_JSON, SHENZHEN_POLICY as SHENZHEN_POLICY_JSON};

/// Issuer and audience of standalone tokens.
pub use subsidy_infra::jwt::{STANDALONE_AUDIENCE as AUDIENCE, STANDALONE_ISSUER as ISSUER};

/// Everything `serve` needs, read once at start.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub addr: SocketAddr,
    /// A policy file; the built-in Shenzhen 2020 policy when absent.
    pub policy_file: Option<PathBuf>,
    /// A jurisdiction file; the built-in Shenzhen tree when absent.
    pub jurisdictions_file: Option<PathBuf>,
    /// Seed demo data and staff, serve the dev login, and run the policy
    /// with its window moved to today.
    pub demo: bool,
    /// Allow `demo` on an address that is not loopback (anyone who reaches
    /// it can sign in as any demo account, finance included).
    pub demo_on_network: bool,
    /// Verify bearer tokens from this OIDC issuer instead of the server's own.
    pub oidc: Option<OidcSettings>,
    /// Run the dispatcher in the background (tests may drive it by hand).
    pub dispatch: bool,
    /// Recount, repair and write the daily reports at start and then at
    /// this interval (None: never; tests run it by hand).
    pub nightly_every: Option<std::time::Duration>,
    pub durability: Durability,
    /// The built web client (`web/dist`), served at `/`; None: API only.
    pub web_dir: Option<PathBuf>,
    /// The audit chains' MAC key: a file of its own, kept apart from the
    /// database (default `{data_dir}/audit.key`; better on another volume,
    /// readable only by the service). Created on a server's first start.
    pub audit_key_file: Option<PathBuf>,
    /// Create the audit key file when absent (a server's first start); the
    /// other commands need it to exist.
    pub create_audit_key: bool,
    /// The append-only file of the daily audit anchors (default
    /// `{data_dir}/audit-anchors.jsonl`; better on another volume, marked
    /// append-only: see docs/RELIABILITY.md).
    pub anchors_file: Option<PathBuf>,
    /// Where SMS go: a signed HTTP gateway; None: logged only, not sent.
    pub sms_gateway: Option<SmsGatewaySettings>,
}

/// An SMS gateway that takes a signed HTTP request
/// (`subsidy_infra::sms_http`).
#[derive(Clone, PartialEq, Eq)]
pub struct SmsGatewaySettings {
    pub url: String,
    /// The shared secret the requests are signed with.
    pub secret: String,
}

impl std::fmt::Debug for SmsGatewaySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsGatewaySettings").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The identity platform whose tokens a server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
}

impl Config {
    /// Refuses settings that would open the system to anyone: the demo's
    /// dev login on a network address, or demo tokens beside an issuer.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.demo && !self.addr.ip().is_loopback() && !self.demo_on_network {
            anyhow::bail!(
                "--demo serves a dev login with which anyone can sign in as any demo account, finance included; \
                 it listens only on a loopback address (127.0.0.1 or [::1]), not {}. \
                 Add --demo-on-network to serve the demo on a network anyway.",
                self.addr
            );
        }
        if self.demo && self.oidc.is_some() {
            anyhow::bail!(
                "--demo and --oidc-issuer exclude each other: with an issuer, the demo's own tokens are refused"
            );
        }
        if let Some(o) = &self.oidc {
            anyhow::ensure!(!o.audience.trim().is_empty(), "--oidc-audience is required with --oidc-issuer");
        }
        Ok(())
    }

    pub fn for_tests(data_dir: &Path) -> Config {
        Config {
            data_dir: data_dir.to_path_buf(),
            addr: "127.0.0.1:0".parse().expect("literal address"),
            policy_file: None,
            jurisdictions_file: None,
            demo: true,
            demo_on_network: false,
            oidc: None,
            dispatch: false,
            nightly_every: None,
            durability: Durability::Normal,
            web_dir: None,
            audit_key_file: None,
            create_audit_key: true,
            anchors_file: None,
            sms_gateway: None,
        }
    }

    /// Where the audit key file is.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit_key_file.clone().unwrap_or_else(|| self.data_dir.join("audit.key"))
    }

    /// Where the anchors file is.
    pub fn anchors_path(&self) -> PathBuf {
        anchors_path(&self.data_dir, self.anchors_file.as_deref())
    }
}

/// A running standalone stack.
pub struct Stack {
    pub addr: SocketAddr,
    pub services: Arc<Services>,
    pub store: SqliteStore,
    pub dispatcher: Arc<Dispatcher>,
    pub keys: Arc<Hs256>,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Option<tokio::task::JoinHandle<()>>,
}

fn read_or(file: &Option<PathBuf>, builtin: &str) -> anyhow::Result<String> {
    match file {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())),
        None => Ok(builtin.to_string()),
    }
}

/// The HMAC secret of this data directory, created on first start.
fn secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("secret.key");
    if let Ok(hex) = std::fs::read_to_string(&path) {
        return hex::decode(hex.trim()).context("secret.key is not hex");
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    std::fs::write(&path, hex::encode(key)).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key.to_vec())
}

/// The audit chains' MAC key from its file (hex), created with fresh
/// randomness if absent and `create`; otherwise an absent file is an error
/// that names it (verifying with a new key would call every chain broken).
pub fn audit_key(path: &Path, create: bool) -> anyhow::Result<subsidy_core::audit::AuditKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).with_context(|| format!("{} is not hex", path.display()))?;
            Ok(subsidy_core::audit::AuditKey::from_bytes(&bytes).with_context(|| format!("{}", path.display()))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            // create_new: never replace a key another process just made.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            std::io::Write::write_all(&mut f, hex::encode(key).as_bytes())?;
            f.sync_all()?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(subsidy_core::audit::AuditKey::from_bytes(&key)?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "no audit key at {} (the key the audit chains were written with; see --audit-key-file)",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The anchors file of a data directory: `file` if given.
pub fn anchors_path(data_dir: &Path, file: Option<&Path>) -> PathBuf {
    file.map_or_else(|| data_dir.join("audit-anchors.jsonl"), Path::to_path_buf)
}

/// Loads the policy into the store and returns the active one. In demo
/// mode the window moves to open now, once: restarts keep the same window.
async fn activate_policy(
    store: &SqliteStore,
    text: &str,
    demo: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Policy> {
    use subsidy_core::ports::PolicyStore;
    let file = Policy::from_json(text)?;
    let policy = if demo {
        let id = format!("{}-demo", file.id);
        match store.get_policy(&id).await? {
            Some(p) => p,
            None => {
                // Open from the start of the previous hour: a round instant.
                use chrono::DurationRound;
                let start = (now - chrono::Duration::hours(1)).duration_trunc(chrono::Duration::hours(1))?;
                Policy { id, ..file.shifted_to_open_at(start) }
            }
        }
    } else {
        file
    };
    store.put_policy(&policy).await?;
    Ok(policy)
}

/// Whether a data directory was seeded by `serve --demo` (its active
/// policy is then the demo copy), so that commands run against the same
/// policy as the server.
pub async fn seeded_with_demo_policy(data_dir: &Path) -> anyhow::Result<bool> {
    use subsidy_core::ports::PolicyStore;
    let store = SqliteStore::open(&data_dir.join("subsidy.db"), Durability::Normal)?;
    let id = format!("{}-demo", Policy::from_json(SHENZHEN_POLICY_JSON)?.id);
    Ok(store.get_policy(&id).await?.is_some())
}

/// The staff directory of a data directory, for the `staff` commands: the
/// database a running server uses (SQLite lets both write; each change is
/// one transaction), without seeding or activating anything.
pub fn staff_directory(
    data_dir: &Path,
    jurisdictions_file: Option<&Path>,
    audit_key_file: &Path,
) -> anyhow::Result<subsidy_core::identity::directory::StaffDirectory> {
    let db = data_dir.join("subsidy.db");
    anyhow::ensure!(db.exists(), "no database at {} (start `subsidy serve` on it once first)", db.display());
    let tree = JurisdictionTree::from_json(&read_or(&jurisdictions_file.map(Path::to_path_buf), SHENZHEN_JSON)?)?;
    let store = SqliteStore::open(&db, Durability::Full)?;
    let store = Arc::new(store);
    Ok(subsidy_core::identity::directory::StaffDirectory {
        key: audit_key(audit_key_file, false)?.into(),
        store: store.clone(),
        authority: store,
        tree: Arc::new(tree),
        clock: system_clock(),
    })
}

/// Storage and services opened on a data directory, not yet serving.
pub struct Opened {
    pub services: Arc<Services>,
    pub store: SqliteStore,
    pub blobs: Arc<FsBlobStore>,
    pub batch_queue: Arc<batch_queue::LocalBatchQueue>,
    pub secret: Vec<u8>,
}

impl Opened {
    /// Opens the data directory: database, token secret, active policy,
    /// and demo data if asked. `base_url` is where blob URLs point.
    pub async fn open(config: &Config, clock: Arc<dyn Clock>, base_url: &str) -> anyhow::Result<Opened> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
        let tree = Arc::new(JurisdictionTree::from_json(&read_or(&config.jurisdictions_file, SHENZHEN_JSON)?)?);
        let store = SqliteStore::open(&config.data_dir.join("subsidy.db"), config.durability)?;
        let secret = secret(&config.data_dir)?;
        let key = audit_key(&config.audit_key_path(), config.create_audit_key)?;
        let policy =
            activate_policy(&store, &read_or(&config.policy_file, SHENZHEN_POLICY_JSON)?, config.demo, clock.now())
                .await?;
        let blobs = Arc::new(FsBlobStore::new(&config.data_dir.join("blobs"), base_url, &secret));
        let batch_queue = Arc::new(batch_queue::LocalBatchQueue::default());
        let anchors = Arc::new(subsidy_infra::anchors_file::FileAnchors::new(config.anchors_path()));
        let services =
            Arc::new(store.services(blobs.clone(), batch_queue.clone(), tree, clock, &policy.id, key, anchors));
        if config.demo {
            demo::seed(&services).await.context("seeding demo data")?;
        }
        Ok(Opened { services, store, blobs, batch_queue, secret })
    }
}

impl Stack {
    /// Binds the address, opens the data directory and starts serving.
    pub async fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Stack> {
        config.check()?;
        // Discover the issuer before binding: a wrong URL fails the start.
        let oidc = match &config.oidc {
            Some(o) => Some(Arc::new(
                subsidy_infra::oidc::OidcVerifier::discover(&o.issuer, &o.audience)
                    .await
                    .with_context(|| format!("discovering the OIDC issuer {}", o.issuer))?,
            )),
            None => None,
        };
        let listener =
            tokio::net::TcpListener::bind(config.addr).await.with_context(|| format!("binding {}", config.addr))?;
        let addr = listener.local_addr()?;
        let Opened { services, store, blobs, batch_queue, secret } =
            Opened::open(&config, clock, &format!("http://{addr}")).await?;
        let keys = Arc::new(Hs256::new(&secret, ISSUER, AUDIENCE));
        let verifier = match oidc {
            Some(o) => auth::Verifier::Oidc(o),
            None => auth::Verifier::Own(keys.clone()),
        };
        let auth = auth::Auth { verifier: Arc::new(verifier), keys: keys.clone() };
        // The batch queue lives in memory: a batch a stop left half built
        // is queued again.
        for id in services.batches.building_batches().await.context("finding batches left building")? {
            tracing::info!(batch_id = %id, "going on building a batch");
            subsidy_core::payout::BatchQueue::request_export(batch_queue.as_ref(), &id).await?;
        }
        let notifier: Arc<dyn subsidy_core::notify::sms::Notifier> = match &config.sms_gateway {
            Some(g) => Arc::new(subsidy_infra::sms_http::HttpGateway::new(&g.url, g.secret.as_bytes())),
            None => Arc::new(subsidy_core::notify::sms::LogNotifier),
        };
        let sms = services.policy().await.context("reading the policy's SMS settings")?.sms.clone();
        let dispatcher = Dispatcher::new(store.clone(), services.clone(), batch_queue, sms, notifier);
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let background = config.dispatch.then(|| dispatcher.spawn(rx.clone()));
        if let Some(every) = config.nightly_every {
            spawn_nightly(services.clone(), dispatcher.clone(), every, rx.clone());
        }
        let app = app(services.clone(), store.clone(), blobs, auth, config.demo, config.web_dir.as_deref());
        let mut rx_server = rx;
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx_server.changed().await;
                })
                .await
        });
        Ok(Stack { addr, services, store, dispatcher, keys, shutdown, server, background })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and the dispatcher, and waits for both.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        if let Some(b) = self.background {
            let _ = b.await;
        }
        self.server.await??;
        // Nothing writes any more: leave the database file whole.
        if let Err(e) = self.store.checkpoint().await {
            tracing::warn!(error = %e, "the write-ahead log was not folded in; the next start does it");
        }
        Ok(())
    }

    /// Serves until Ctrl-C or SIGTERM, then stops cleanly (for `serve`).
    pub async fn wait(self) -> anyhow::Result<()> {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => { r?; }
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        tracing::info!("shutting down");
        self.stop().await
    }
}

/// Runs the nightly job (recount, repair, daily reports, audit anchor) now and then every
/// `every`, with the dispatcher paused so that the recount never races it.
fn spawn_nightly(
    services: Arc<Services>,
    dispatcher: Arc<Dispatcher>,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            let started = std::time::Instant::now();
            match dispatcher.exclusive(aggregation::nightly(&aggregation::App::new(&services.ports))).await {
                Ok(n) => tracing::info!(
                    drift = n.reconcile.drift.len(),
                    repaired = n.reconcile.repaired_units + n.reconcile.repaired_refs,
                    reports = n.reports_written,
                    anchor = n.anchor.anchor,
                    anchored_heads = n.anchor.heads,
                    ms = started.elapsed().as_millis() as u64,
                    "nightly recount, reports and audit anchor done"
                ),
                Err(e) => tracing::error!(error = %e, "nightly job failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

#[derive(Clone)]
struct Health {
    store: SqliteStore,
}

async fn health(State(h): State<Health>) -> Json<serde_json::Value> {
    match (h.store.outbox_stats().await, h.store.sms_counts().await) {
        (Ok(s), Ok(sms)) => Json(json!({"status": "ok", "outbox": {"pending": s.pending, "dead": s.dead},
            "sms": {"pending": sms.pending, "sent": sms.sent, "dead": sms.dead}})),
        _ => Json(json!({"status": "degraded"})),
    }
}

/// Routes only the standalone server has (beside the functions' routes and
/// the `/blobs/{token}` S3 stand-in, which is not part of the API).
pub const STANDALONE_ROUTES: &[(&str, &str)] = &[("GET", "/api/v1/health")];

/// Routes only `serve --demo` has: without `--demo` they are unknown (404).
pub const DEMO_ROUTES: &[(&str, &str)] = &[("POST", "/api/v1/auth/dev-login"), ("GET", "/api/v1/auth/dev-accounts")];

/// Every API route `serve --demo` serves, as (method, path).
pub fn api_routes() -> Vec<(&'static str, &'static str)> {
    submission::ROUTES
        .iter()
        .chain(review::ROUTES)
        .chain(aggregation::ROUTES)
        .chain(disbursement::ROUTES)
        .chain(STANDALONE_ROUTES)
        .chain(DEMO_ROUTES)
        .copied()
        .collect()
}

/// The API as one server: every function's router and the dev login behind
/// the bearer-token layer, plus `extra` routes. The standalone server adds
/// health and the local blob endpoint; the emulator tests add their own.
pub fn api_router(services: Arc<Services>, keys: Arc<Hs256>, extra: axum::Router) -> axum::Router {
    let auth = auth::Auth { verifier: Arc::new(auth::Verifier::Own(keys.clone())), keys };
    api_router_with(services, auth, true, extra, None)
}

/// [`api_router`] behind an OIDC issuer's tokens and without the dev
/// login, as API Gateway's JWT authorizer stands in front of the functions
/// (the emulator suites' stand-in for it).
pub fn api_router_oidc(
    services: Arc<Services>,
    oidc: Arc<subsidy_infra::oidc::OidcVerifier>,
    keys: Arc<Hs256>,
    extra: axum::Router,
) -> axum::Router {
    let auth = auth::Auth { verifier: Arc::new(auth::Verifier::Oidc(oidc)), keys };
    api_router_with(services, auth, false, extra, None)
}

/// [`api_router`], with the web client's files served for every path
/// outside `/api/` when `web_dir` is given.
fn api_router_with(
    services: Arc<Services>,
    auth: auth::Auth,
    demo: bool,
    extra: axum::Router,
    web_dir: Option<&Path>,
) -> axum::Router {
    let dev = if demo {
        axum::Router::new()
            .route("/api/v1/auth/dev-login", post(auth::dev_login))
            .route("/api/v1/auth/dev-accounts", get(auth::dev_accounts))
            .with_state(auth.clone())
    } else {
        axum::Router::new()
    };
    let router = axum::Router::new()
        .merge(submission::router(Arc::new(submission::App::new(&services.ports))))
        .merge(review::router(Arc::new(review::App::new(&services.ports)), &Tier::ALL))
        .merge(aggregation::router(Arc::new(aggregation::App::new(&services.ports))))
        .merge(disbursement::router(Arc::new(disbursement::App::new(&services.ports))))
        .merge(dev)
        .merge(extra);
    let router = match web_dir {
        Some(dir) => router.fallback_service(web::service(dir)),
        None => router.fallback(no_route),
    };
    router
        .layer(axum::middleware::from_fn_with_state(auth, auth::layer))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// The standalone server: [`api_router`] with health, the local blob
/// endpoint (the S3 stand-in) and, given `web_dir`, the web client.
pub fn app(
    services: Arc<Services>,
    store: SqliteStore,
    blob_store: Arc<FsBlobStore>,
    auth: auth::Auth,
    demo: bool,
    web_dir: Option<&Path>,
) -> axum::Router {
    let max_upload = 32 * 1024 * 1024;
    let extra = axum::Router::new().route("/api/v1/health", get(health)).with_state(Health { store }).merge(
        axum::Router::new()
            .route("/blobs/{token}", put(blobs::put).get(blobs::get))
            .layer(DefaultBodyLimit::max(max_upload))
            .with_state(blobs::Blobs { store: blob_store, services: services.clone() }),
    );
    api_router_with(services, auth, demo, extra, web_dir)
}

/// The default clock.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The machine's clock, `ahead` in the future (`serve --demo
/// --clock-offset-days`).
pub fn offset_clock(ahead: chrono::Duration) -> Arc<dyn Clock> {
    struct Ahead(chrono::Duration);
    impl Clock for Ahead {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            SystemClock.now() + self.0
        }
    }
    Arc::new(Ahead(ahead))
}
