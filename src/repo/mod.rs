//! A local repo as a tree of files: walking it with excludes, its content digest,
//! and copying it into a local workspace.

pub mod copy;
pub mod digest;
pub mod exclude;
pub mod walk;

pub use digest::{DigestCache, cached_repo_digest, repo_digest};
pub use exclude::Excludes;
