//! Where ssh masters keep their control sockets: a folder only this user can
//! enter, and one socket name per connection, keyed like OpenSSH's `%C`.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::RemoteError;

/// The longest socket name below the folder: a key, `-`, a run's 8-character tag.
const NAME_MAX: usize = KEY_HEX + 1 + 8;

/// Hex digits of the key: 80 bits, plenty to keep connections apart.
const KEY_HEX: usize = 20;

/// A Unix socket path holds 107 bytes; ssh binds a temporary name first (the
/// path, `.` and 16 random characters) and links it into place.
const SOCKET_PATH_MAX: usize = 107 - 17;

/// Where the control folder may go, as the command line found them (the library
/// reads no environment).
#[derive(Debug, Clone, Default)]
pub struct ControlRoots {
    /// `$XDG_RUNTIME_DIR`: used when set, ours and private (mode 0700).
    pub runtime_dir: Option<PathBuf>,
    /// The home folder: `~/.cache/sandboxer/ssh` otherwise.
    pub home: Option<PathBuf>,
}

impl ControlRoots {
    /// The control folder, made (mode 0700) when missing: `$XDG_RUNTIME_DIR/sandboxer`
    /// when that folder is usable, else `~/.cache/sandboxer/ssh`. A folder that is
    /// not ours, or that others may enter, is refused.
    pub fn folder(&self) -> Result<PathBuf, RemoteError> {
        let me = my_uid()?;
        let runtime = self
            .runtime_dir
            .as_deref()
            .filter(|dir| dir.is_absolute())
            .filter(|dir| private_and_ours(dir, me).is_ok());
        let dir = match (runtime, &self.home) {
            (Some(runtime), _) => {
                let dir = runtime.join("sandboxer");
                make_dir(&dir, false)?;
                dir
            }
            (None, Some(home)) => {
                let dir = home.join(".cache/sandboxer/ssh");
                make_dir(&dir, true)?;
                dir
            }
            (None, None) => {
                return Err(RemoteError::ControlDir {
                    path: "$XDG_RUNTIME_DIR/sandboxer".into(),
                    message: "neither XDG_RUNTIME_DIR (a private folder of yours) nor HOME is set".into(),
                });
            }
        };
        private_and_ours(&dir, me).map_err(|problem| RemoteError::ControlDirUnsafe {
            path: dir.display().to_string(),
            problem,
        })?;
        let longest = dir.as_os_str().len() + 1 + NAME_MAX;
        if longest > SOCKET_PATH_MAX {
            return Err(RemoteError::ControlDirUnsafe {
                path: dir.display().to_string(),
                problem: format!(
                    "too long for ssh control sockets ({longest} bytes with a socket name; at most {SOCKET_PATH_MAX})"
                ),
            });
        }
        Ok(dir)
    }
}

/// Makes `dir` with mode 0700 (and, with `parents`, the folders above it that are
/// missing, also 0700); an existing folder is kept as it is, to be checked.
fn make_dir(dir: &Path, parents: bool) -> Result<(), RemoteError> {
    match std::fs::DirBuilder::new().mode(0o700).recursive(parents).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(RemoteError::ControlDir {
            path: dir.display().to_string(),
            message: e.to_string(),
        }),
    }
}

/// Why `dir` must not hold control sockets, if it must not: not a folder (a
/// link is not followed), someone else's, or open to the group or the world.
fn private_and_ours(dir: &Path, me: u32) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("it is not a folder".into());
    }
    if meta.uid() != me {
        return Err(format!("it belongs to user {}, not to you (user {me})", meta.uid()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!("others may enter it (mode {mode:o})"));
    }
    Ok(())
}

/// This process's user: the owner of `/proc/self`.
fn my_uid() -> Result<u32, RemoteError> {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| RemoteError::ControlDir {
            path: "/proc/self".into(),
            message: format!("cannot tell which user runs sandboxer: {e}"),
        })
}

/// What tells one master from another: the ssh config file in use and what ssh
/// resolves for the target (user, host, port, jump host), as `%C` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionKey {
    /// `-F FILE`, or none for the operator's own configuration.
    pub config_file: Option<PathBuf>,
    /// The alias given to ssh.
    pub alias: String,
    /// The user ssh logs in as.
    pub user: String,
    /// The host ssh connects to.
    pub hostname: String,
    /// The port.
    pub port: String,
    /// The jump host(s), or `none`.
    pub jump: String,
}

impl ConnectionKey {
    /// The socket name: a hash of every part, short enough for the socket path limit.
    pub fn name(&self) -> String {
        let mut hash = Sha256::new();
        let config = self
            .config_file
            .as_ref()
            .map_or_else(|| "-".to_string(), |p| p.display().to_string());
        for part in [&config, &self.alias, &self.user, &self.hostname, &self.port, &self.jump] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        let mut name = String::with_capacity(KEY_HEX);
        for byte in digest.iter().take(KEY_HEX / 2) {
            name.push_str(&format!("{byte:02x}"));
        }
        name
    }

    /// Reads `ssh -G` output (one `keyword value` per line) for what the key needs;
    /// what ssh did not say stays as it was given.
    pub fn with_resolved(mut self, ssh_g: &str) -> Self {
        for line in ssh_g.lines() {
            let Some((word, value)) = line.split_once(' ') else {
                continue;
            };
            let value = value.trim().to_string();
            match word {
                "user" => self.user = value,
                "hostname" => self.hostname = value,
                "port" => self.port = value,
                "proxyjump" => self.jump = value,
                _ => {}
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ConnectionKey {
        ConnectionKey {
            config_file: Some(PathBuf::from("/home/me/.ssh/config")),
            alias: "vm1".into(),
            user: "root".into(),
            hostname: "127.0.0.1".into(),
            port: "2222".into(),
            jump: "none".into(),
        }
    }

    #[test]
    fn every_part_of_the_key_changes_the_name() {
        let base = key().name();
        assert_eq!(base.len(), KEY_HEX);
        assert!(base.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(key().name(), base, "the name is stable");
        let changed = [
            ConnectionKey {
                config_file: None,
                ..key()
            },
            ConnectionKey {
                alias: "vm2".into(),
                ..key()
            },
            ConnectionKey {
                user: "build".into(),
                ..key()
            },
            ConnectionKey {
                hostname: "127.0.0.2".into(),
                ..key()
            },
            ConnectionKey {
                port: "2223".into(),
                ..key()
            },
            ConnectionKey {
                jump: "bastion".into(),
                ..key()
            },
        ];
        for other in changed {
            assert_ne!(other.name(), base, "{other:?}");
        }
    }

    #[test]
    fn ssh_g_output_fills_the_key() {
        let resolved =
            key().with_resolved("user build\nhostname 10.0.0.7\nport 22\nproxyjump bastion\nforwardagent no\n");
        assert_eq!(resolved.user, "build");
        assert_eq!(resolved.hostname, "10.0.0.7");
        assert_eq!(resolved.port, "22");
        assert_eq!(resolved.jump, "bastion");
    }

    #[test]
    fn the_runtime_folder_is_used_when_private_and_the_cache_otherwise() {
        let base = tempfile::tempdir().expect("a temporary folder");
        let runtime = base.path().join("run");
        let home = base.path().join("home");
        std::fs::create_dir(&runtime).expect("runtime folder");
        std::fs::create_dir(&home).expect("home folder");

        // Open to others: not usable, the cache is.
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let roots = ControlRoots {
            runtime_dir: Some(runtime.clone()),
            home: Some(home.clone()),
        };
        let dir = roots.folder().expect("the cache folder");
        assert_eq!(dir, home.join(".cache/sandboxer/ssh"));
        for made in [home.join(".cache/sandboxer"), dir.clone()] {
            let mode = std::fs::metadata(&made).expect("made").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", made.display());
        }

        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(roots.folder().expect("the runtime folder"), runtime.join("sandboxer"));

        // Our folder, opened to the group: refused, with what is wrong.
        std::fs::set_permissions(runtime.join("sandboxer"), std::fs::Permissions::from_mode(0o770)).expect("chmod");
        let refused = roots.folder().expect_err("a folder others may enter");
        assert!(
            refused.to_string().contains("others may enter it (mode 770)"),
            "{refused}"
        );
        assert!(
            refused.hint().is_some_and(|h| h.contains("chmod 700")),
            "{:?}",
            refused.hint()
        );

        // A link in its place is not followed.
        std::fs::remove_dir(runtime.join("sandboxer")).expect("rmdir");
        std::os::unix::fs::symlink(&home, runtime.join("sandboxer")).expect("symlink");
        let refused = roots.folder().expect_err("a link");
        assert!(refused.to_string().contains("not a folder"), "{refused}");
    }

    #[test]
    fn a_folder_too_long_for_socket_paths_is_refused() {
        let base = tempfile::tempdir().expect("a temporary folder");
        let home = base.path().join("h".repeat(80));
        std::fs::create_dir(&home).expect("home folder");
        let roots = ControlRoots {
            runtime_dir: None,
            home: Some(home),
        };
        let refused = roots.folder().expect_err("too long");
        assert!(refused.to_string().contains("too long"), "{refused}");
    }
}
