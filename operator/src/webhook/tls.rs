//! The webhook's serving certificate: loaded from PEM files, checked before binding, re-read
//! when the files change, and a self-signed one for `--dev`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

/// Why the certificate could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The files do not hold a usable certificate chain and private key.
    #[error("{} and {} do not hold a usable PEM certificate chain and private key", cert.display(), key.display())]
    Invalid {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The self-signed development certificate could not be made or written.
    #[error("cannot create the development certificate in {}", dir.display())]
    DevCertificate {
        /// Where it was to be written.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The certificate and key files (`tls.crt` and `tls.key` of a `kubernetes.io/tls` Secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// `dir/cert_name` and `dir/key_name`.
    pub fn in_dir(dir: &Path, cert_name: &str, key_name: &str) -> Self {
        Self {
            cert: dir.join(cert_name),
            key: dir.join(key_name),
        }
    }

    async fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        let read = |path: PathBuf| async move {
            tokio::fs::read(&path)
                .await
                .map_err(|source| TlsError::Read { path, source })
        };
        Ok((
            read(self.cert.clone()).await?,
            read(self.key.clone()).await?,
        ))
    }

    fn invalid(&self, source: std::io::Error) -> TlsError {
        TlsError::Invalid {
            cert: self.cert.clone(),
            key: self.key.clone(),
            source,
        }
    }

    /// Loads the files into a server configuration (fails before binding when they are bad).
    pub async fn load(&self) -> Result<RustlsConfig, TlsError> {
        let (cert, key) = self.read().await?;
        RustlsConfig::from_pem(cert, key)
            .await
            .map_err(|e| self.invalid(e))
    }
}

/// Polls the files every `interval` and swaps the certificate into `config` when their content
/// changed and parses. A half-written or broken pair is logged and the old certificate kept;
/// the next poll tries again. Runs until dropped.
pub async fn reload_on_change(config: RustlsConfig, files: TlsFiles, interval: Duration) {
    let mut current = files.read().await.ok();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let next = match files.read().await {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read the webhook certificate; keeping the current one");
                continue;
            }
        };
        if current.as_ref() == Some(&next) {
            continue;
        }
        match config.reload_from_pem(next.0.clone(), next.1.clone()).await {
            Ok(()) => {
                tracing::info!(cert = %files.cert.display(), "Webhook certificate reloaded");
                current = Some(next);
            }
            Err(e) => {
                let e = files.invalid(e);
                tracing::warn!(error = %e, "New webhook certificate rejected; keeping the current one");
            }
        }
    }
}

/// Writes a self-signed certificate for `localhost` and `127.0.0.1` to `dir` (`tls.crt`,
/// `tls.key`), as upstream's `make run` does.
pub fn write_dev_certificate(dir: &Path) -> Result<TlsFiles, TlsError> {
    let wrap = |source: Box<dyn std::error::Error + Send + Sync>| TlsError::DevCertificate {
        dir: dir.to_path_buf(),
        source,
    };
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| wrap(Box::new(e)))?;
    let files = TlsFiles::in_dir(dir, "tls.crt", "tls.key");
    std::fs::create_dir_all(dir).map_err(|e| wrap(Box::new(e)))?;
    std::fs::write(&files.cert, ck.cert.pem()).map_err(|e| wrap(Box::new(e)))?;
    std::fs::write(&files.key, ck.signing_key.serialize_pem()).map_err(|e| wrap(Box::new(e)))?;
    Ok(files)
}

/// Serves `router` over TLS on `addr` until `handle` shuts it down.
pub async fn serve_tls(
    addr: SocketAddr,
    config: RustlsConfig,
    router: Router,
    handle: Handle<SocketAddr>,
) -> std::io::Result<()> {
    let mut server = axum_server::bind_rustls(addr, config).handle(handle);
    // Slow or idle clients (port scanners) must not hold connections open.
    server
        .http_builder()
        .http1()
        .header_read_timeout(Duration::from_secs(5));
    server.serve(router.into_make_service()).await
}
