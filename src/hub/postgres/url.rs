//! `--store postgres://USER@HOST:PORT/DB`: the database a hub keeps its data in,
//! and where its password comes from. The password is never printed: what
//! messages and logs show is [`StoreUrl::shown`], the URL without it.

use tokio_postgres::config::Host;

/// A parsed store URL with its password resolved.
#[derive(Clone)]
pub struct StoreUrl {
    config: tokio_postgres::Config,
    shown: String,
    /// CA certificates the database's certificate may also chain to (`--store-ca`).
    ca: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out of debug output too.
        f.debug_tuple("StoreUrl").field(&self.shown).finish()
    }
}

/// A store URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreUrlError {
    /// What is wrong (never the password).
    pub message: String,
    /// How to put it right.
    pub hint: String,
}

/// Where the password comes from when the URL has none.
#[derive(Debug, Clone, Copy)]
pub enum PasswordSource<'a> {
    /// `$PGPASSWORD`, if set.
    Default,
    /// This variable, which must be set.
    Env(&'a str),
    /// This password (read from a file by the caller).
    Given(&'a str),
}

impl StoreUrl {
    /// Reads `url`. The password is the URL's, else the one `source` gives, else none.
    pub fn parse(url: &str, source: PasswordSource<'_>) -> Result<StoreUrl, StoreUrlError> {
        // Nothing of what was given is echoed until it is read: it may hold a password.
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreUrlError {
                message: "the store is not a PostgreSQL URL".into(),
                hint: "write postgres://USER@HOST:PORT/DATABASE (the file store is --data DIR)".into(),
            });
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreUrlError {
            // tokio-postgres's words name the part that is wrong, never its value.
            message: format!("cannot read the store URL: {e}"),
            hint: "write postgres://USER@HOST:PORT/DATABASE, with `@`, `/` and `:` in the password percent-encoded (%40, %2F, %3A)".into(),
        })?;
        // A raw `@` in the password ends the user part early and makes the
        // rest of the password part of the host name, which would be shown.
        let stray = config.get_hosts().iter().any(|host| match host {
            Host::Tcp(name) => name.contains('@'),
            Host::Unix(path) => path.to_string_lossy().contains('@'),
        });
        if stray {
            return Err(StoreUrlError {
                message: "the store URL's host name holds an `@`: the password has one that is not percent-encoded"
                    .into(),
                hint: "write `@` in the password as %40".into(),
            });
        }
        if config.get_user().is_none() {
            return Err(StoreUrlError {
                message: format!("the store URL {} names no user", shown(&config)),
                hint: "write postgres://USER@HOST:PORT/DATABASE".into(),
            });
        }
        if config.get_dbname().is_none() {
            return Err(StoreUrlError {
                message: format!("the store URL {} names no database", shown(&config)),
                hint: "write postgres://USER@HOST:PORT/DATABASE".into(),
            });
        }
        if config.get_password().is_none() {
            let found = match source {
                // Through the secret store: a variable kept from children at start is still read.
                PasswordSource::Env(var) => match crate::secret_env::var(var) {
                    Some(password) if !password.is_empty() => Some(password),
                    _ => {
                        return Err(StoreUrlError {
                            message: format!("--store-password-env names {var}, which is not set"),
                            hint: format!("export {var}=<the database password>, or leave --store-password-env out"),
                        });
                    }
                },
                PasswordSource::Given(password) => Some(password.to_string()),
                PasswordSource::Default => crate::secret_env::var("PGPASSWORD").filter(|p| !p.is_empty()),
            };
            if let Some(password) = found {
                config.password(password);
            }
        }
        // The variables that held it reach no child process.
        if let PasswordSource::Env(var) = source {
            crate::secret_env::register(var);
        }
        crate::secret_env::register("PGPASSWORD");
        let shown = shown(&config);
        Ok(StoreUrl {
            config,
            shown,
            ca: Vec::new(),
        })
    }

    /// Trusts the CA certificates `ca` too, for `sslmode=require`.
    pub fn with_ca(mut self, ca: Vec<rustls::pki_types::CertificateDer<'static>>) -> StoreUrl {
        self.ca = ca;
        self
    }

    /// The CA certificates given besides the system's.
    pub fn ca(&self) -> &[rustls::pki_types::CertificateDer<'static>] {
        &self.ca
    }

    /// Whether connections use TLS: `sslmode=require` in the URL.
    pub fn tls(&self) -> bool {
        self.config.get_ssl_mode() == tokio_postgres::config::SslMode::Require
    }

    /// The connection settings, password included.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// `postgres://USER@HOST:PORT/DB`, without the password: what is printed.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// The URL a config stands for, without its password.
fn shown(config: &tokio_postgres::Config) -> String {
    let user = config.get_user().unwrap_or_default();
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    format!(
        "postgres://{user}@{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        let url =
            StoreUrl::parse("postgres://hub:s3cret@db.internal:5433/state", PasswordSource::Default).expect("a URL");
        assert_eq!(url.shown(), "postgres://hub@db.internal:5433/state");
        assert_eq!(url.config().get_password(), Some(&b"s3cret"[..]));
        assert!(!format!("{url:?}").contains("s3cret"));
        let bad = StoreUrl::parse(
            "postgres://hub:s3cret@db.internal:notaport/state",
            PasswordSource::Default,
        )
        .expect_err("bad port");
        assert!(!bad.message.contains("s3cret"), "{}", bad.message);
        let keywords =
            StoreUrl::parse("host=db password=s3cret dbname=x", PasswordSource::Default).expect_err("no URL");
        assert!(!keywords.message.contains("s3cret"), "{}", keywords.message);
        let query =
            StoreUrl::parse("postgres://hub@db:bad/x?password=s3cret", PasswordSource::Default).expect_err("bad port");
        assert!(!query.message.contains("s3cret"), "{}", query.message);
        let at = StoreUrl::parse("postgres://hub:p@ss@db/x", PasswordSource::Default).expect_err("a raw @");
        assert!(!at.message.contains("ss@db"), "{}", at.message);
        let encoded = StoreUrl::parse("postgres://hub:p%40ss@db/x", PasswordSource::Default).expect("encoded");
        assert_eq!(encoded.config().get_password(), Some(&b"p@ss"[..]));
        assert_eq!(encoded.shown(), "postgres://hub@db:5432/x");
        let given = StoreUrl::parse("postgres://hub@db/state", PasswordSource::Given("from-a-file")).expect("a URL");
        assert_eq!(given.config().get_password(), Some(&b"from-a-file"[..]));
        let url_wins = StoreUrl::parse("postgres://hub:in-url@db/state", PasswordSource::Given("file")).expect("a URL");
        assert_eq!(url_wins.config().get_password(), Some(&b"in-url"[..]));
    }

    #[test]
    fn a_url_needs_the_scheme_a_user_and_a_database() {
        assert!(StoreUrl::parse("/var/lib/hub", PasswordSource::Default).is_err());
        assert!(StoreUrl::parse("postgres://db.internal/state", PasswordSource::Default).is_err());
        assert!(StoreUrl::parse("postgres://hub@db.internal", PasswordSource::Default).is_err());
        let missing = StoreUrl::parse(
            "postgres://hub@db/state",
            PasswordSource::Env("SBX_TEST_UNSET_PASSWORD_VAR"),
        )
        .expect_err("unset");
        assert!(missing.message.contains("SBX_TEST_UNSET_PASSWORD_VAR"));
    }
}
