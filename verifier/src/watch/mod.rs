//! Continuous verification (`watch`, `validation-agent`): verify, then keep checking.
//!
//! A check is cheap between full re-hashes: the signature file and the trust material are
//! stat'ed (the signature is verified again when they change), the model's metadata is walked
//! ([`scan`]), and only the files whose identity or metadata changed ([`snapshot`]) are read and
//! compared with the signed manifest ([`check`]). Where sound, the metadata is looked at
//! through descriptors held since the last walk ([`held`]), with the checker's own inotify
//! watch ([`names`]) saying that no name changed; otherwise it is walked by path. [`inotify`]
//! wakes a check at once where the filesystem delivers events; [`probe_server`] answers the
//! kubelet's probes.

pub mod check;
pub mod held;
pub mod inotify;
pub mod interval;
pub mod names;
pub mod probe_server;
pub mod scan;
pub mod snapshot;
pub mod trim;
