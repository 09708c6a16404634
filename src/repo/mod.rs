//! A local repo as a tree of files: walking it with excludes, its content digest,
//! copying it into a local workspace, and the trees one apply shares.

pub mod copy;
pub mod digest;
pub mod exclude;
pub mod tree;
pub mod walk;

pub use digest::{DigestCache, cached_repo_digest, repo_digest};
pub use exclude::Excludes;
pub use tree::{RepoTree, RepoTrees};

/// Names at the top of a workspace that start with this are sandboxer's own
/// (its marker, the marker's temporary file, the copy's temporary folder). A
/// repo never supplies them: every walk, digest and sync leaves them out, so a
/// repo cannot plant a link where sandboxer writes.
pub const RESERVED_PREFIX: &str = ".sandboxer-";
