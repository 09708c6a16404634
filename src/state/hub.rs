//! The State Hub as a state store: records, the project lock (a lease renewed in
//! the background), notes and the VM capability catalog over HTTP. Idempotent calls are retried with
//! jittered backoff on connection errors and 5xx; the token is sent as a bearer
//! header marked sensitive and never logged. Over https the client trusts the
//! built-in web roots, the system's CA store and the private CAs of a
//! [`HubCa`] file; a certificate it refuses is told apart from a hub that is
//! down.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::lock::LockError;
use super::{LockInfo, Note, Record, Snapshot, StateError, StateStore, vms};
use crate::address::Address;
use crate::hub::api::{
    ErrorBody, LOCK_HEADER, LeaseStatus, LockGranted, LockRequest, NOTES_PAGE_MAX, NoteList, PutResource, RenewRequest,
    ResourceEntry, ResourceList, SandboxList, VmCapabilities, VmList, Written,
};

/// Lease length asked for by default; renewed every third of it.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// Attempts of an idempotent call.
const ATTEMPTS: u32 = 4;

/// Certificates of private CAs that a hub client trusts besides the system's
/// store and the built-in web roots (`--hub-ca FILE`).
#[derive(Clone)]
pub struct HubCa {
    /// The file they were read from, for errors and hints.
    file: String,
    certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl std::fmt::Debug for HubCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubCa")
            .field("file", &self.file)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl HubCa {
    /// Reads `file`: PEM holding one or more certificates (other PEM sections,
    /// such as a key, and text around them are skipped). A file that cannot be
    /// read, holds no certificate or a certificate that does not parse is
    /// refused, naming it.
    pub fn read(file: &Path) -> Result<HubCa, StateError> {
        let name = file.display().to_string();
        let refuse = |problem: String| HubError::CaFile {
            file: name.clone(),
            problem,
        };
        // The bounded reader of every input file: a FIFO, a device or a huge
        // file (`/dev/zero` given by mistake) is refused before it is read.
        let bytes = crate::fsutil::read_input_bytes(file).map_err(|e| refuse(format!("cannot read it: {e}")))?;
        HubCa::from_pem(&name, &bytes)
    }

    /// The certificates in `pem`, read from `file` (named in errors).
    pub fn from_pem(file: &str, pem: &[u8]) -> Result<HubCa, StateError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let refuse = |problem: String| HubError::CaFile {
            file: file.to_string(),
            problem,
        };
        let mut certificates = Vec::new();
        for (n, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let certificate = item.map_err(|e| refuse(format!("certificate {} is not valid PEM: {e}", n + 1)))?;
            // Parsed as a trust anchor now, as the client would when it is
            // built, so that a broken one is named with its file.
            rustls::RootCertStore::empty()
                .add(certificate.clone())
                .map_err(|e| refuse(format!("certificate {} is not a usable CA certificate: {e}", n + 1)))?;
            certificates.push(certificate);
        }
        if certificates.is_empty() {
            return Err(
                refuse("no certificate in it (expected PEM: `-----BEGIN CERTIFICATE-----` ...)".to_string()).into(),
            );
        }
        Ok(HubCa {
            file: file.to_string(),
            certificates,
        })
    }

    /// The file the certificates were read from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The certificates.
    pub fn certificates(&self) -> &[rustls::pki_types::CertificateDer<'static>] {
        &self.certificates
    }
}

struct Inner {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
    /// (project, address) → version last read or written.
    versions: Mutex<HashMap<(String, Address), u64>>,
    /// The lock this process holds, sent with every write.
    lock_id: Mutex<Option<String>>,
    /// Lease length asked for (whole seconds, at least one); renewed every third of it.
    lease_ttl: Duration,
    /// Name of the environment variable the token comes from, for the 401 hint.
    token_env: String,
    /// The `--hub-ca` file trusted besides the system's store, for the hint of
    /// a refused certificate.
    ca_file: Option<String>,
}

/// A State Hub client.
#[derive(Clone)]
pub struct HubStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HubStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of debug output too.
        f.debug_struct("HubStore")
            .field("url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// A held project lease; renewed until released.
#[derive(Debug)]
pub struct HubLock {
    store: HubStore,
    project: String,
    lock_id: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl HubLock {
    /// Releases the lease (a lease not released expires by itself).
    pub async fn release(self) {
        self.renewal.abort();
        *self
            .store
            .inner
            .lock_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let path = format!("/v1/projects/{}/lock?lock_id={}", self.project, self.lock_id);
        if let Err(e) = self
            .store
            .call::<serde_json::Value>(Method::DELETE, &path, None::<&()>, true)
            .await
        {
            tracing::warn!("releasing the hub lock of {}: {e} (it expires by itself)", self.project);
        }
    }
}

/// A call to the State Hub failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Nothing answers at the URL.
    #[error("State Hub at {url}: unreachable: {detail}")]
    Unreachable {
        /// The hub's URL.
        url: String,
        /// What the connection attempt said.
        detail: String,
    },
    /// The hub took too long to answer.
    #[error("State Hub at {url}: no answer in time")]
    Timeout {
        /// The hub's URL.
        url: String,
    },
    /// The hub refused the token (or its absence).
    #[error("State Hub at {url}: 401 unauthorized: {message} ({} {token_env})", if *token_given { "the token in" } else { "no token: set" })]
    Unauthorized {
        /// The hub's URL.
        url: String,
        /// What the hub said.
        message: String,
        /// The variable the token is read from.
        token_env: String,
        /// Whether a token was sent.
        token_given: bool,
    },
    /// The hub's TLS certificate was refused: nothing was sent.
    #[error("State Hub at {url}: its TLS certificate is not trusted: {problem}")]
    Untrusted {
        /// The hub's URL.
        url: String,
        /// What is wrong with the certificate.
        problem: String,
        /// Whether no trusted CA signed it (the case `--hub-ca` is for).
        unknown_issuer: bool,
        /// The `--hub-ca` file that was trusted, if any.
        ca_file: Option<String>,
    },
    /// A `--hub-ca` file was refused: nothing was sent.
    #[error("hub CA file {file}: {problem}")]
    CaFile {
        /// The file as given.
        file: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Any other failure, as the hub or the client said it.
    #[error("State Hub at {url}: {message}")]
    Failed {
        /// The hub's URL.
        url: String,
        /// What failed.
        message: String,
    },
}

impl HubError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            HubError::Unreachable { url, .. } | HubError::Timeout { url } => Some(format!(
                "check that `sandboxer hub serve` runs there (`curl {url}/v1/health`), or point --hub / SANDBOXER_HUB_URL / the manifest's hub.url at the right place"
            )),
            HubError::Unauthorized {
                token_env,
                token_given: true,
                ..
            } => Some(format!(
                "{token_env} holds a token the hub does not accept: ask the hub's operator for the current one"
            )),
            HubError::Unauthorized { token_env, .. } => Some(format!(
                "set {token_env} to the hub's token (the manifest's hub.token_env names another variable if it should be read from one)"
            )),
            HubError::Untrusted {
                unknown_issuer: true,
                ca_file: None,
                ..
            } => Some(
                "pass --hub-ca FILE (or set SANDBOXER_HUB_CA) with the PEM certificate of the CA that signed the hub's certificate, or add that CA to the system's CA store".to_string(),
            ),
            HubError::Untrusted {
                unknown_issuer: true,
                ca_file: Some(file),
                ..
            } => Some(format!(
                "neither {file} (--hub-ca) nor the system's CA store holds the CA that signed the hub's certificate: pass --hub-ca FILE (or set SANDBOXER_HUB_CA) with that CA's PEM certificate"
            )),
            HubError::Untrusted { .. } => Some(
                "the hub's TLS proxy must present a current certificate naming the host of the hub's URL; --hub-ca FILE (or SANDBOXER_HUB_CA) adds a private CA".to_string(),
            ),
            HubError::CaFile { .. } => Some(
                "give --hub-ca (or SANDBOXER_HUB_CA) a readable PEM file with the CA's certificate (`openssl x509 -inform DER -in ca.der -out ca.pem` converts a DER one)".to_string(),
            ),
            HubError::Failed { .. } => None,
        }
    }
}

enum CallError {
    Status(StatusCode, ErrorBody),
    Other(StateError),
}

impl HubStore {
    /// A client for the hub at `url`, trusting the built-in web roots and the
    /// system's CA store.
    pub fn new(url: &str, token: Option<String>, token_env: &str) -> Result<Self, StateError> {
        HubStore::trusting(url, token, token_env, None)
    }

    /// A client for the hub at `url` that also trusts the CAs of `ca`.
    pub fn trusting(url: &str, token: Option<String>, token_env: &str, ca: Option<&HubCa>) -> Result<Self, StateError> {
        let cannot = |e: reqwest::Error| StateError::Io {
            path: url.to_string(),
            message: format!("cannot make an HTTP client: {}", error_chain(&e)),
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(ca) = ca {
            tracing::debug!(
                "hub: trusting {} CA certificate(s) of {}",
                ca.certificates.len(),
                ca.file
            );
        }
        for certificate in ca.iter().flat_map(|ca| &ca.certificates) {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(certificate).map_err(cannot)?);
        }
        let client = builder.build().map_err(cannot)?;
        Ok(HubStore {
            inner: Arc::new(Inner {
                base: url.trim_end_matches('/').to_string(),
                client,
                token,
                versions: Mutex::new(HashMap::new()),
                lock_id: Mutex::new(None),
                lease_ttl: LEASE_TTL,
                token_env: token_env.to_string(),
                ca_file: ca.map(|ca| ca.file.clone()),
            }),
        })
    }

    /// The same client asking for leases of `ttl` (whole seconds, at least one)
    /// instead of [`LEASE_TTL`]. For tests of lease expiry; call it on a fresh
    /// client, before it is cloned (a clone keeps the TTL it was made with).
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        let ttl = Duration::from_secs(ttl.as_secs().max(1));
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.lease_ttl = ttl;
        }
        self
    }

    /// The hub's URL.
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    fn error(&self, message: impl Into<String>) -> StateError {
        HubError::Failed {
            url: self.inner.base.clone(),
            message: message.into(),
        }
        .into()
    }

    async fn call_raw<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotent: bool,
    ) -> Result<Vec<u8>, CallError> {
        let url = format!("{}{path}", self.inner.base);
        let mut delay = Duration::from_millis(150);
        let attempts = if idempotent { ATTEMPTS } else { 1 };
        for attempt in 1..=attempts {
            let mut request = self.inner.client.request(method.clone(), &url);
            if let Some(token) = &self.inner.token {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| CallError::Other(self.error("the hub token is not a valid header value")))?;
                value.set_sensitive(true);
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            let lock_id = self
                .inner
                .lock_id
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            if let Some(id) = lock_id {
                request = request.header(LOCK_HEADER, id);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            tracing::debug!("hub: {method} {path}");
            let retryable = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let bytes = response
                        .bytes()
                        .await
                        .map_err(|e| CallError::Other(self.error(format!("reading the answer: {e}"))))?;
                    if status.is_success() {
                        return Ok(bytes.to_vec());
                    }
                    let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                        error: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
                        current_version: None,
                        holder: None,
                    });
                    if !status.is_server_error() || attempt == attempts {
                        return Err(CallError::Status(status, body));
                    }
                    format!("{status}: {}", body.error)
                }
                Err(e) => {
                    let url = self.inner.base.clone();
                    // The same certificate is refused again: no retry.
                    if let Some((problem, unknown_issuer)) = certificate_problem(&e) {
                        return Err(CallError::Other(
                            HubError::Untrusted {
                                url,
                                problem,
                                unknown_issuer,
                                ca_file: self.inner.ca_file.clone(),
                            }
                            .into(),
                        ));
                    }
                    let failure = if e.is_connect() {
                        HubError::Unreachable {
                            url,
                            detail: error_chain(&e),
                        }
                    } else if e.is_timeout() {
                        HubError::Timeout { url }
                    } else {
                        HubError::Failed {
                            url,
                            message: error_chain(&e),
                        }
                    };
                    let text = failure.to_string();
                    if attempt == attempts {
                        return Err(CallError::Other(failure.into()));
                    }
                    text
                }
            };
            // Jitter keeps many clients from retrying in step.
            let jitter = Duration::from_millis(u64::from(crate::id::random_id(2).as_bytes()[0] % 100));
            tracing::info!(
                "hub: {method} {path} failed ({retryable}); retrying in {:?}",
                delay + jitter
            );
            tokio::time::sleep(delay + jitter).await;
            delay *= 2;
        }
        Err(CallError::Other(self.error("no attempt made")))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        idempotent: bool,
    ) -> Result<T, StateError> {
        match self.call_raw(method, path, body, idempotent).await {
            Ok(bytes) if bytes.is_empty() => serde_json::from_slice(b"null").map_err(|e| self.error(e.to_string())),
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| self.error(format!("unexpected answer to {path}: {e}")))
            }
            Err(CallError::Status(status, body)) => Err(self.status_error(status, &body)),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    fn status_error(&self, status: StatusCode, body: &ErrorBody) -> StateError {
        match status {
            StatusCode::UNAUTHORIZED => HubError::Unauthorized {
                url: self.inner.base.clone(),
                message: body.error.clone(),
                token_env: self.inner.token_env.clone(),
                token_given: self.inner.token.is_some(),
            }
            .into(),
            StatusCode::LOCKED => StateError::Lock(LockError::Held {
                holder: body.error.clone(),
            }),
            other => self.error(format!("{other}: {}", body.error)),
        }
    }

    fn remember(&self, project: &str, address: &Address, version: u64) {
        let mut versions = self
            .inner
            .versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        versions.insert((project.to_string(), address.clone()), version);
    }

    fn version_of(&self, project: &str, address: &Address) -> u64 {
        let versions = self
            .inner
            .versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        versions
            .get(&(project.to_string(), address.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// Takes the project's lease, waiting up to `timeout` for the holder to finish.
    pub async fn lock(&self, project: &str, info: LockInfo, timeout: Duration) -> Result<HubLock, StateError> {
        let deadline = Instant::now() + timeout;
        let path = format!("/v1/projects/{project}/lock");
        let lease_ttl = self.inner.lease_ttl;
        let request = LockRequest {
            holder: info.into(),
            ttl_seconds: lease_ttl.as_secs(),
        };
        let granted: LockGranted = loop {
            match self.call_raw(Method::POST, &path, Some(&request), false).await {
                Ok(bytes) => break serde_json::from_slice(&bytes).map_err(|e| self.error(e.to_string()))?,
                Err(CallError::Status(StatusCode::LOCKED, body)) if Instant::now() < deadline => {
                    tracing::info!("waiting for the hub lock: {}", body.error);
                    tokio::time::sleep(
                        Duration::from_millis(250).min(deadline.saturating_duration_since(Instant::now())),
                    )
                    .await;
                }
                Err(CallError::Status(status, body)) => return Err(self.status_error(status, &body)),
                Err(CallError::Other(e)) => return Err(e),
            }
        };
        *self
            .inner
            .lock_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(granted.lock_id.clone());
        let store = self.clone();
        let (project_name, lock_id) = (project.to_string(), granted.lock_id.clone());
        let renewal = tokio::spawn(async move {
            let renew = RenewRequest {
                lock_id: lock_id.clone(),
                ttl_seconds: lease_ttl.as_secs(),
            };
            loop {
                tokio::time::sleep(lease_ttl / 3).await;
                let path = format!("/v1/projects/{project_name}/lock");
                if let Err(e) = store.call::<LockGranted>(Method::PUT, &path, Some(&renew), true).await {
                    tracing::warn!("renewing the hub lock of {project_name}: {e}");
                }
            }
        });
        Ok(HubLock {
            store: self.clone(),
            project: project.to_string(),
            lock_id: granted.lock_id,
            renewal,
        })
    }

    /// Who holds the project's lease, if anyone; takes, renews and releases nothing.
    pub async fn lease(&self, project: &str) -> Result<Option<LockGranted>, StateError> {
        let status: LeaseStatus = self
            .call(Method::GET, &format!("/v1/projects/{project}/lock"), None::<&()>, true)
            .await?;
        Ok(status.lease)
    }

    /// Removes a lease by id (force-unlock).
    pub async fn force_unlock(&self, project: &str, lock_id: &str) -> Result<(), StateError> {
        // Release is idempotent in the contract; a renew by that id proves the lease is there.
        let renew = RenewRequest {
            lock_id: lock_id.to_string(),
            ttl_seconds: 1,
        };
        let path = format!("/v1/projects/{project}/lock");
        match self.call_raw(Method::PUT, &path, Some(&renew), true).await {
            Ok(_) => {}
            Err(CallError::Status(StatusCode::CONFLICT, _)) => {
                return Err(self.error(format!("project {project} holds no live lease with lock id {lock_id}")));
            }
            Err(CallError::Status(status, body)) => return Err(self.status_error(status, &body)),
            Err(CallError::Other(e)) => return Err(e),
        }
        self.call::<serde_json::Value>(
            Method::DELETE,
            &format!("/v1/projects/{project}/lock?lock_id={lock_id}"),
            None::<&()>,
            true,
        )
        .await
        .map(|_| ())
    }

    /// The error for a 404 from a catalog route: only a hub older than the
    /// catalog answers one there.
    fn no_catalog(&self) -> StateError {
        self.error(
            "404 Not Found: this hub keeps no VM catalog (`/v1/vms` is newer than it): upgrade `sandboxer hub serve`",
        )
    }

    /// The capability catalog: every VM's entry, sorted by name.
    pub async fn vms(&self) -> Result<Vec<VmCapabilities>, StateError> {
        match self.call_raw(Method::GET, "/v1/vms", None::<&()>, true).await {
            Ok(bytes) => serde_json::from_slice::<VmList>(&bytes)
                .map(|list| list.vms)
                .map_err(|e| self.error(format!("unexpected answer to /v1/vms: {e}"))),
            Err(CallError::Status(StatusCode::NOT_FOUND, _)) => Err(self.no_catalog()),
            Err(CallError::Status(status, body)) => Err(self.status_error(status, &body)),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    /// Stores `entry` in the hub's catalog, replacing what it held of that VM:
    /// no lease, the last write wins. An entry the hub would refuse (a bad
    /// name, too many values, a long text) is refused before it is sent.
    pub async fn put_vm(&self, entry: &VmCapabilities) -> Result<(), StateError> {
        vms::check_vm_entry(entry).map_err(|e| self.error(format!("catalog entry refused: {e}")))?;
        let path = format!("/v1/vms/{}", entry.name);
        // The same body again gives the same result: safe to retry.
        match self.call_raw(Method::PUT, &path, Some(entry), true).await {
            Ok(bytes) => serde_json::from_slice::<VmCapabilities>(&bytes)
                .map(|_| ())
                .map_err(|e| self.error(format!("unexpected answer to {path}: {e}"))),
            Err(CallError::Status(StatusCode::NOT_FOUND, _)) => Err(self.no_catalog()),
            Err(CallError::Status(status, body)) => Err(self.status_error(status, &body)),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    /// The current record of `address`, if any (with its version remembered).
    pub async fn get(&self, project: &str, address: &Address) -> Result<Option<Record>, StateError> {
        match self
            .call_raw(
                Method::GET,
                &format!("/v1/projects/{project}/resources/{address}"),
                None::<&()>,
                true,
            )
            .await
        {
            Ok(bytes) => {
                let entry: ResourceEntry = serde_json::from_slice(&bytes).map_err(|e| self.error(e.to_string()))?;
                self.remember(project, address, entry.version);
                Ok(Some(entry.record))
            }
            Err(CallError::Status(StatusCode::NOT_FOUND, _)) => Ok(None),
            Err(CallError::Status(status, body)) => Err(self.status_error(status, &body)),
            Err(CallError::Other(e)) => Err(e),
        }
    }
}

/// What rustls said of the hub's certificate, if that is why `e` failed, and
/// whether the problem is an unknown issuer.
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<(String, bool)> {
    use rustls::CertificateError;
    match tls_error(e, 0)? {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => Some((
            "unknown issuer: no CA this client trusts signed it (invalid peer certificate: UnknownIssuer)".to_string(),
            true,
        )),
        rustls::Error::InvalidCertificate(other) => Some((format!("invalid peer certificate: {other}"), false)),
        _ => None,
    }
}

/// The rustls error in `e`'s chain. It reaches reqwest inside an `io::Error`
/// (inside another, from hyper-rustls), whose `source()` skips what it
/// wraps: each is looked inside too.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static), depth: usize) -> Option<&'a rustls::Error> {
    // Chains are a handful of links; the bound only guards against a cycle.
    if depth > 32 {
        return None;
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let wrapped = e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
    if let Some(inner) = wrapped
        && let Some(tls) = tls_error(inner, depth + 1)
    {
        return Some(tls);
    }
    tls_error(e.source()?, depth + 1)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

impl StateStore for HubStore {
    async fn load(&self, project: &str) -> Result<Snapshot, StateError> {
        let list: ResourceList = self
            .call(
                Method::GET,
                &format!("/v1/projects/{project}/resources"),
                None::<&()>,
                true,
            )
            .await?;
        let mut records = BTreeMap::new();
        for entry in list.resources {
            self.remember(project, &entry.record.address, entry.version);
            records.insert(entry.record.address.clone(), entry.record);
        }
        Ok(Snapshot {
            lineage: list.lineage,
            serial: list.serial,
            records,
        })
    }

    async fn load_all(&self) -> Result<BTreeMap<String, Snapshot>, StateError> {
        let list: SandboxList = self.call(Method::GET, "/v1/sandboxes", None::<&()>, true).await?;
        let mut projects: BTreeMap<String, Snapshot> = BTreeMap::new();
        for entry in list.sandboxes {
            self.remember(&entry.project, &entry.record.address, entry.version);
            let snapshot = projects.entry(entry.project.clone()).or_insert_with(|| Snapshot {
                lineage: list.lineage.clone(),
                ..Snapshot::default()
            });
            snapshot.records.insert(entry.record.address.clone(), entry.record);
        }
        Ok(projects)
    }

    async fn put(&self, project: &str, record: &Record) -> Result<u64, StateError> {
        let version = self.version_of(project, &record.address);
        let path = format!("/v1/projects/{project}/resources/{}", record.address);
        let body = PutResource {
            record: record.clone(),
            version,
        };
        match self.call_raw(Method::PUT, &path, Some(&body), true).await {
            Ok(bytes) => {
                let written: Written = serde_json::from_slice(&bytes).map_err(|e| self.error(e.to_string()))?;
                self.remember(project, &record.address, written.version);
                Ok(written.serial)
            }
            Err(CallError::Status(StatusCode::CONFLICT, conflict)) => {
                // A retried write whose first answer was lost finds its own record there.
                if self.get(project, &record.address).await?.as_ref() == Some(record) {
                    return Ok(0);
                }
                Err(self.error(format!(
                    "{} changed on the hub since it was read ({}); nothing was overwritten — run plan again",
                    record.address, conflict.error
                )))
            }
            Err(CallError::Status(status, body)) => Err(self.status_error(status, &body)),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    async fn remove(&self, project: &str, address: &Address) -> Result<u64, StateError> {
        let version = self.version_of(project, address);
        let path = format!("/v1/projects/{project}/resources/{address}?version={version}");
        match self.call_raw(Method::DELETE, &path, None::<&()>, true).await {
            Ok(bytes) => {
                let written: Written = serde_json::from_slice(&bytes).map_err(|e| self.error(e.to_string()))?;
                self.remember(project, address, 0);
                Ok(written.serial)
            }
            Err(CallError::Status(StatusCode::NOT_FOUND, _)) => Ok(0),
            Err(CallError::Status(StatusCode::CONFLICT, conflict)) => Err(self.error(format!(
                "{address} changed on the hub since it was read ({}); nothing was removed — run plan again",
                conflict.error
            ))),
            Err(CallError::Status(status, body)) => Err(self.status_error(status, &body)),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    async fn add_note(&self, id: &str, note: &Note) -> Result<(), StateError> {
        self.call::<serde_json::Value>(Method::POST, &format!("/v1/sandboxes/{id}/notes"), Some(note), false)
            .await
            .map(|_| ())
    }

    async fn ensure_lineage(&self, project: &str) -> Result<String, StateError> {
        // The hub's lineage is set when its data folder is made.
        Ok(self.load(project).await?.lineage)
    }

    /// The project's key, kept by the hub (made there on first request).
    async fn sensitive_key(&self, project: &str) -> Result<crate::sensitive::SensitiveKey, StateError> {
        let path = format!("/v1/projects/{project}/sensitive-key");
        let body: crate::hub::api::SensitiveKeyBody = self.call(Method::GET, &path, None::<&()>, true).await?;
        crate::sensitive::SensitiveKey::from_hex(&body.key).map_err(|e| self.error(format!("{path}: {e}")))
    }

    async fn notes(&self, id: &str, limit: usize) -> Result<Vec<Note>, StateError> {
        let page = |since: u64, limit: usize| format!("/v1/sandboxes/{id}/notes?since={since}&limit={limit}");
        // The first page says how many notes there are, so the last `limit` are
        // read page by page from there.
        let first: NoteList = self.call(Method::GET, &page(0, 1), None::<&()>, true).await?;
        let mut notes = Vec::new();
        if first.cursor > first.latest {
            // A hub from before pages says no `latest`: it answers up to 10000 at once.
            let all: NoteList = self.call(Method::GET, &page(0, 10_000), None::<&()>, true).await?;
            notes = all.notes;
        } else {
            let mut since = first.latest.saturating_sub(limit as u64);
            while since < first.latest {
                let next: NoteList = self
                    .call(Method::GET, &page(since, NOTES_PAGE_MAX), None::<&()>, true)
                    .await?;
                notes.extend(next.notes);
                if !next.more || next.cursor <= since {
                    break;
                }
                since = next.cursor;
            }
        }
        let older = notes.len().saturating_sub(limit);
        Ok(notes.split_off(older))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_30_s_by_default_and_a_shorter_one_is_whole_seconds_of_at_least_one() {
        let ttl = |store: &HubStore| store.inner.lease_ttl;
        let hub = HubStore::new("http://127.0.0.1:1", None, "SANDBOXER_HUB_TOKEN").expect("a client");
        assert_eq!(ttl(&hub), Duration::from_secs(30));
        let short = hub.with_lease_ttl(Duration::from_millis(3_700));
        assert_eq!(ttl(&short), Duration::from_secs(3));
        let tiny = short.with_lease_ttl(Duration::from_millis(200));
        assert_eq!(ttl(&tiny), Duration::from_secs(1));
    }

    /// A self-signed CA certificate (public only; made with `openssl req -x509`).
    const CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUBdR8HgHGDS+rFWTlviv0NxDG+FAwCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWc2FuZGJveGVyIHVuaXQgdGVzdCBDQTAgFw0yNjEyMDUxMDUw
MzJaGA8yMTI2MTExMTEwNTAzMlowITEfMB0GA1UEAwwWc2FuZGJveGVyIHVuaXQg
dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD4O8A0Tl85STMgD6Pjl
/IDVMylt/VBG2Udzum39dMmu18gtdpBxEf3gMNxfPTMvqehvt0X/rESGb0uPcP0o
LeSjUzBRMB0GA1UdDgQWBBQJiD4zcTKWlwwSgDs1JqIMW0S6FTAfBgNVHSMEGDAW
gBQJiD4zcTKWlwwSgDs1JqIMW0S6FTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0gAMEUCIFEZ708kze9Ss30iytb3IoV1qMhLv3E3X+sVcqg+BsRsAiEAnw2u
J+gs75WXAngnG3wIJ1lVXTyoWbPAPPJJMZJAiwg=
-----END CERTIFICATE-----
";

    fn refusal(pem: &str) -> String {
        let error = HubCa::from_pem("ca.pem", pem.as_bytes()).expect_err("refused");
        let text = error.to_string();
        assert!(text.starts_with("hub CA file ca.pem: "), "{text}");
        assert!(error.hint().is_some_and(|h| h.contains("--hub-ca")), "{text}");
        text
    }

    #[test]
    fn a_ca_file_holds_one_or_more_pem_certificates_and_text_around_them() {
        let one = HubCa::from_pem("ca.pem", CA_PEM.as_bytes()).expect("one certificate");
        assert_eq!((one.file(), one.certificates.len()), ("ca.pem", 1));
        let bundle = format!("# our CAs\n{CA_PEM}\nsubject=...\n{CA_PEM}");
        let two = HubCa::from_pem("bundle.pem", bundle.as_bytes()).expect("a bundle");
        assert_eq!(two.certificates.len(), 2);
        assert!(format!("{two:?}").contains("certificates: 2"));
        HubStore::trusting("https://127.0.0.1:1", None, "T", Some(&two)).expect("a client trusting them");
    }

    #[test]
    fn a_ca_file_without_a_usable_certificate_is_refused_naming_it() {
        for empty in [
            "",
            "not PEM at all",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(refusal(empty).contains("no certificate in it"), "{empty:?}");
        }
        let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(refusal(bad_base64).contains("certificate 1 is not valid PEM"));
        let not_a_certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let text = refusal(&format!("{CA_PEM}{not_a_certificate}"));
        assert!(text.contains("certificate 2 is not a usable CA certificate"), "{text}");
    }

    #[test]
    fn a_ca_file_that_cannot_be_read_is_refused_naming_it() {
        let missing = Path::new("/nonexistent/sandboxer-ca.pem");
        let text = HubCa::read(missing).expect_err("refused").to_string();
        assert!(
            text.starts_with("hub CA file /nonexistent/sandboxer-ca.pem: cannot read it:"),
            "{text}"
        );
    }

    #[test]
    fn a_refused_certificate_is_found_inside_the_nested_io_errors_of_the_connector() {
        use rustls::CertificateError;
        let wrapped = |e: rustls::Error| {
            // As tokio-rustls, then hyper-rustls wrap it.
            std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        let unknown = wrapped(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        let (problem, unknown_issuer) = certificate_problem(&unknown).expect("found");
        assert!(problem.starts_with("unknown issuer"), "{problem}");
        assert!(unknown_issuer);
        let expired = wrapped(rustls::Error::InvalidCertificate(CertificateError::Expired));
        assert_eq!(certificate_problem(&expired).map(|(_, unknown)| unknown), Some(false));
        let other = wrapped(rustls::Error::HandshakeNotComplete);
        assert_eq!(certificate_problem(&other), None);
        assert_eq!(certificate_problem(&std::io::Error::other("refused")), None);
    }

    #[test]
    fn the_hint_of_an_unknown_issuer_names_hub_ca_and_the_file_that_was_given() {
        let untrusted = |ca_file: Option<&str>| HubError::Untrusted {
            url: "https://hub".into(),
            problem: "unknown issuer".into(),
            unknown_issuer: true,
            ca_file: ca_file.map(str::to_string),
        };
        let hint = untrusted(None).hint().expect("a hint");
        assert!(
            hint.contains("--hub-ca FILE") && hint.contains("SANDBOXER_HUB_CA"),
            "{hint}"
        );
        let hint = untrusted(Some("/etc/ours.pem")).hint().expect("a hint");
        assert!(hint.contains("/etc/ours.pem"), "{hint}");
    }
}
