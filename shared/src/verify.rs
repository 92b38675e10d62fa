//! The `verify` command line, compatible with `model_signing verify` 1.1.1 (and upstream HEAD).
//!
//! Every flag is accepted in its 1.1.1 spelling and in the other spelling (hyphens for
//! underscores and back), as upstream HEAD does. [`VerifyCommand::to_args`] renders the canonical
//! 1.1.1 spelling, so the arguments the operator injects also work with the Python CLI image.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::signer::{Pattern, PatternError, SignerIdentity};
pub use crate::sigstore_flags::SigstoreFlags;
pub use crate::walk::{ColdReads, OciArgs, WalkArgs};

/// The verification methods, as named on the command line.
pub const METHODS: [&str; 3] = ["sigstore", "key", "certificate"];

/// `verify [METHOD] MODEL_PATH --signature PATH ...`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum VerifyMethod {
    /// Verify a Sigstore (keyless) signature: Fulcio certificate, Rekor entry, identity.
    Sigstore(SigstoreArgs),
    /// Verify a signature made with an elliptic-curve private key.
    Key(KeyArgs),
    /// Verify a signature made with a certificate that chains to a trusted root.
    Certificate(CertificateArgs),
}

impl VerifyMethod {
    /// The method's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sigstore(_) => "sigstore",
            Self::Key(_) => "key",
            Self::Certificate(_) => "certificate",
        }
    }

    /// The options shared by every method.
    pub fn common(&self) -> &CommonVerifyArgs {
        match self {
            Self::Sigstore(a) => &a.common,
            Self::Key(a) => &a.common,
            Self::Certificate(a) => &a.common,
        }
    }
}

/// Options of `verify sigstore`.
///
/// On the command line the trusted signers are pairs of flags, matched by position:
/// the n-th `--identity` with the n-th `--identity_provider` (exact), and the n-th
/// `--identity-regexp` with the n-th `--identity-provider-regexp` (regular expressions, whole
/// value). At least one pair in all. Parsing goes through [`SigstoreFlags`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreArgs {
    pub common: CommonVerifyArgs,
    /// The trusted signers (at least one), in command-line order: a certificate is admitted when
    /// one of them matches both its identity and its issuer.
    pub signers: Vec<SignerIdentity>,
    /// Trust material: a ClientTrustConfig JSON (as `model_signing` takes) or a bare
    /// `trusted_root.json`. Default: the public-good Sigstore root embedded in the binary.
    pub trust_config: Option<PathBuf>,
    /// Use the embedded Sigstore staging root instead of the public-good one.
    pub use_staging: bool,
}

/// Options of `verify key`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    pub common: CommonVerifyArgs,
    /// PEM file with an EC public key (P-256, P-384 or P-521). Extension: repeat the flag to trust
    /// several keys; the signature verifies if any of them verifies it.
    #[arg(
        long = "public_key",
        visible_alias = "public-key",
        value_name = "PEM",
        required = true
    )]
    pub public_keys: Vec<PathBuf>,
}

/// Options of `verify certificate`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CertificateArgs {
    #[command(flatten)]
    pub common: CommonVerifyArgs,
    /// PEM file(s) with the trusted certificates; the path from the signing certificate must end
    /// at a self-signed certificate found here. Repeat the flag for several files.
    #[arg(
        long = "certificate_chain",
        visible_alias = "certificate-chain",
        value_name = "PEM"
    )]
    pub certificate_chain: Vec<PathBuf>,
    /// Log the SHA-256 fingerprints of the certificates (to stderr).
    #[arg(long = "log_fingerprints", visible_alias = "log-fingerprints")]
    pub log_fingerprints: bool,
}

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// `Verification succeeded` / `Verification failed with error: ...`, as `model_signing`.
    #[default]
    Text,
    /// One JSON object on stdout with the method, the signer, the root digest and the counts.
    Json,
}

/// Options every `verify` method takes.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CommonVerifyArgs {
    /// The model and how it is walked.
    #[command(flatten)]
    pub walk: WalkArgs,
    /// The signature (a Sigstore bundle, usually `model.sig`).
    #[arg(long, value_name = "PATH")]
    pub signature: PathBuf,
    /// Only check the files the signature lists; unsigned extra files are not looked at.
    #[arg(
        long = "ignore_unsigned_files",
        visible_alias = "ignore-unsigned-files",
        overrides_with = "no_ignore_unsigned_files"
    )]
    pub ignore_unsigned_files: bool,
    /// Fail on files the signature does not list (default).
    #[arg(
        long = "no-ignore_unsigned_files",
        visible_alias = "no-ignore-unsigned-files",
        overrides_with = "ignore_unsigned_files"
    )]
    pub no_ignore_unsigned_files: bool,
    /// Output format (extension: `json` is for CI pipelines).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Extension: also write the result as one line of JSON ([`TerminationReport`]) to this file,
    /// on success and on failure. The operator passes the container's termination-message path
    /// (`/dev/termination-log`), so the result shows in the pod status.
    #[arg(
        long = "termination-log",
        visible_alias = "termination_log",
        value_name = "PATH"
    )]
    pub termination_log: Option<PathBuf>,
    /// Extension: report a failed verification (stderr, termination log) but exit 0, so the pod
    /// starts. The operator passes it for `ModelValidation`s in `Warn` mode. Usage errors still
    /// exit 2.
    #[arg(long = "warn-only", visible_alias = "warn_only")]
    pub warn_only: bool,
}

impl CommonVerifyArgs {
    /// Options with the defaults of `model_signing` for the given model and signature.
    pub fn new(model_path: impl Into<PathBuf>, signature: impl Into<PathBuf>) -> Self {
        Self {
            walk: WalkArgs::new(model_path),
            signature: signature.into(),
            ignore_unsigned_files: false,
            no_ignore_unsigned_files: false,
            output: OutputFormat::Text,
            termination_log: None,
            warn_only: false,
        }
    }

    /// Whether only the signed files are checked.
    pub fn effective_ignore_unsigned_files(&self) -> bool {
        self.ignore_unsigned_files
    }
}

/// A whole `verify` invocation, the arguments after the program name.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "verify", no_binary_name = true)]
pub struct VerifyCommand {
    #[command(subcommand)]
    pub method: VerifyMethod,
}

impl VerifyCommand {
    /// Parses the arguments that follow `verify` (the method comes first; a missing method means
    /// `sigstore`, as in `model_signing`).
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        Self::try_parse_from(default_method(args))
    }

    /// The canonical arguments after `verify`, in the spelling `model_signing` 1.1.1 accepts.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = vec![self.method.name().to_owned()];
        let c = self.method.common();
        let w = &c.walk;
        if w.oci.is_set() {
            out.extend(w.oci.to_args());
        } else {
            out.push(path_arg(&w.model_path));
        }
        push_option(&mut out, "--signature", path_arg(&c.signature));
        for p in &w.ignore_paths {
            push_option(&mut out, "--ignore-paths", path_arg(p));
        }
        if w.no_ignore_git_paths {
            out.push("--no-ignore-git-paths".into());
        }
        match w.symlink_policy() {
            Some(true) => out.push("--allow_symlinks".into()),
            // Not a model_signing flag: only for the native verifier.
            Some(false) => out.push("--no-allow_symlinks".into()),
            None => {}
        }
        if c.ignore_unsigned_files {
            out.push("--ignore_unsigned_files".into());
        }
        if c.output != OutputFormat::Text {
            out.push("--output".into());
            out.push("json".into());
        }
        if let Some(p) = &c.termination_log {
            push_option(&mut out, "--termination-log", path_arg(p));
        }
        if c.warn_only {
            out.push("--warn-only".into());
        }
        match w.cold_reads {
            ColdReads::Direct => {}
            ColdReads::Cached => out.extend(["--cold-reads".into(), "cached".into()]),
        }
        match &self.method {
            VerifyMethod::Sigstore(s) => {
                for signer in &s.signers {
                    push_signer(&mut out, signer);
                }
                if let Some(t) = &s.trust_config {
                    push_option(&mut out, "--trust_config", path_arg(t));
                }
                if s.use_staging {
                    out.push("--use_staging".into());
                }
            }
            VerifyMethod::Key(k) => {
                for p in &k.public_keys {
                    push_option(&mut out, "--public_key", path_arg(p));
                }
            }
            VerifyMethod::Certificate(c) => {
                for p in &c.certificate_chain {
                    push_option(&mut out, "--certificate_chain", path_arg(p));
                }
                if c.log_fingerprints {
                    out.push("--log_fingerprints".into());
                }
            }
        }
        out
    }
}

/// The one-line JSON the verifier writes to `--termination-log` (the operator reads it back from
/// the pod's `status.initContainerStatuses[].state.terminated.message`).
///
/// Example: `{"outcome":"verified","method":"key","rootDigest":"sha256:…","files":3,"bytes":1024,"seconds":0.02}`
/// or `{"outcome":"failed","method":"key","reason":"signature does not match","warnOnly":true}`.
/// Keep it well under the kubelet's 4096-byte limit for termination messages: the verifier
/// truncates `reason` to 1024 bytes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminationReport {
    /// The result.
    pub outcome: Outcome,
    /// `sigstore`, `key` or `certificate`.
    pub method: String,
    /// Digest over the whole model (`<algorithm>:<hex>`), on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_digest: Option<String>,
    /// Number of files verified, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Bytes hashed, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Wall-clock seconds the verification took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Why verification failed (the same text as on stderr), on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether `--warn-only` was given (the process exited 0 despite a failure).
    #[serde(default)]
    pub warn_only: bool,
}

/// Outcome in a [`TerminationReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The model matches its signature.
    Verified,
    /// Verification failed (see `reason`).
    Failed,
}

/// One state change of `model-verifier watch --output json`, one JSON object per stdout line
/// (the operator reads the last one from the continuous-validation sidecar's log).
///
/// Example: `{"event":"drift-detected","ready":false,"method":"key","model":"/data/model",
/// "check":"inotify","kind":"mismatch","reason":"…","files":["weights.bin"],
/// "changes":["weights.bin: modified"],"warnOnly":false,"unixTime":1790000000}`.
/// Decoding is lenient (every field but `event` may be missing), so an older or newer agent's
/// line still tells its event.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStateLine {
    /// `verified` (first check), `failed` (first check), `drift-detected`, `restored`.
    pub event: String,
    /// What `/ready` answers after this change.
    #[serde(default)]
    pub ready: bool,
    /// What triggered the check: `initial`, `baseline`, `inotify`, `interval`, `full`.
    #[serde(default)]
    pub check: String,
    /// Kind of failure (e.g. `mismatch`), on failure.
    #[serde(default)]
    pub kind: Option<String>,
    /// Why verification failed, on failure.
    #[serde(default)]
    pub reason: Option<String>,
    /// The files concerned (relative to the model), on failure.
    #[serde(default)]
    pub files: Vec<String>,
    /// How many files are concerned in all (`files` may be a prefix).
    #[serde(default)]
    pub file_count: Option<usize>,
    /// `<file>: <what changed>` for the files whose metadata changed.
    #[serde(default)]
    pub changes: Vec<String>,
    /// Digest over the whole model, when known.
    #[serde(default)]
    pub root_digest: Option<String>,
    /// Whether the agent runs with `--warn-only`.
    #[serde(default)]
    pub warn_only: bool,
    /// When the change was seen (seconds since the epoch).
    #[serde(default)]
    pub unix_time: i64,
}

/// The event names of [`AgentStateLine::event`].
pub mod agent_event {
    /// The first check verified the model.
    pub const VERIFIED: &str = "verified";
    /// The first check failed.
    pub const FAILED: &str = "failed";
    /// A later check failed (the model changed).
    pub const DRIFT_DETECTED: &str = "drift-detected";
    /// A check verified the model again after a failure.
    pub const RESTORED: &str = "restored";
}

/// Appends an option and its value: two arguments (`--flag`, `value`), as `model_signing`'s
/// documentation writes them, or one (`--flag=value`) when the value starts with `-` and would
/// otherwise be read as an option (an OIDC issuer `--x` in a ModelValidation made a command
/// line the verifier refused).
pub(crate) fn push_option(out: &mut Vec<String>, flag: &str, value: String) {
    if value.starts_with('-') {
        out.push(format!("{flag}={value}"));
    } else {
        out.push(flag.to_owned());
        out.push(value);
    }
}

/// One signer as a pair of flags: `--identity X --identity_provider Y` when both halves are exact
/// (`model_signing`'s flags), else `--identity-regexp`/`--identity-provider-regexp` with an exact
/// half escaped.
fn push_signer(out: &mut Vec<String>, signer: &SignerIdentity) {
    if signer.is_exact() {
        push_option(out, "--identity", signer.identity.as_str().to_owned());
        push_option(
            out,
            "--identity_provider",
            signer.issuer.as_str().to_owned(),
        );
    } else {
        push_option(out, "--identity-regexp", signer.identity.to_regexp());
        push_option(out, "--identity-provider-regexp", signer.issuer.to_regexp());
    }
}

pub(crate) fn path_arg(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Inserts `sigstore` when the first argument after `verify` is neither a method nor an option,
/// as `model_signing verify MODEL --signature ...` does.
pub fn default_method(mut args: Vec<OsString>) -> Vec<OsString> {
    let needs_default = match args.first().and_then(|a| a.to_str()) {
        Some(first) => !first.starts_with('-') && !METHODS.contains(&first) && first != "help",
        None => false,
    };
    if needs_default {
        args.insert(0, OsString::from("sigstore"));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> VerifyCommand {
        VerifyCommand::try_parse_args(args.iter().copied()).unwrap()
    }

    fn roundtrip(cmd: &VerifyCommand) {
        let args = cmd.to_args();
        let back = VerifyCommand::try_parse_args(args.clone()).unwrap();
        assert_eq!(&back, cmd, "args: {args:?}");
    }

    #[test]
    fn every_method_round_trips_through_its_arguments() {
        let mut common = CommonVerifyArgs::new("/data/model dir", "/data/model dir/model.sig");
        common.walk.ignore_paths = vec!["/data/model dir/ignore-me".into(), "x".into()];
        common.walk.no_ignore_git_paths = true;
        common.walk.allow_symlinks = true;
        common.ignore_unsigned_files = true;
        common.output = OutputFormat::Json;
        common.termination_log = Some("/dev/termination-log".into());
        common.warn_only = true;
        common.walk.cold_reads = ColdReads::Cached;
        for public_keys in [
            vec!["/keys/key.pub".into()],
            vec![
                "/keys/a.pub".into(),
                "/keys/b.pub".into(),
                "/keys/a.pub".into(),
            ],
        ] {
            roundtrip(&VerifyCommand {
                method: VerifyMethod::Key(KeyArgs {
                    common: common.clone(),
                    public_keys,
                }),
            });
        }
        roundtrip(&VerifyCommand {
            method: VerifyMethod::Certificate(CertificateArgs {
                common: common.clone(),
                certificate_chain: vec!["/ca/a.pem".into(), "/ca/b.pem".into()],
                log_fingerprints: true,
            }),
        });
        let exact = |i: &str, p: &str| SignerIdentity::exact(i, p);
        let re = |i: &str, p: &str| SignerIdentity::regexp(i, p);
        for signers in [
            vec![exact("someone@example.com", "https://accounts.example.com")],
            vec![re(r".*@example\.com", r"https://accounts\.example\.com")],
            // Several, exact and regexp interleaved: the order is kept.
            vec![
                re("b.*", "Y"),
                exact("a@example.com", "X"),
                re("c", "Z|W"),
                exact("d", "X"),
            ],
            // The same identity from two issuers.
            vec![exact("a", "X"), exact("a", "Y")],
        ] {
            roundtrip(&VerifyCommand {
                method: VerifyMethod::Sigstore(SigstoreArgs {
                    common: CommonVerifyArgs::new("/m", "/m/model.sig"),
                    signers,
                    trust_config: Some("/trust/root.json".into()),
                    use_staging: true,
                }),
            });
        }
    }

    /// A pair with one regular expression is written as a regexp pair (the exact half escaped),
    /// so it parses back as that pair: same meaning, and the arguments are stable.
    #[test]
    fn a_mixed_signer_renders_as_a_regexp_pair() {
        let mixed = SignerIdentity {
            identity: Pattern::Exact("a.b@example.com".into()),
            issuer: Pattern::RegExp("https://.*".into()),
        };
        let cmd = VerifyCommand {
            method: VerifyMethod::Sigstore(SigstoreArgs {
                common: CommonVerifyArgs::new("/m", "/m/model.sig"),
                signers: vec![SignerIdentity::exact("x", "y"), mixed.clone()],
                trust_config: None,
                use_staging: false,
            }),
        };
        let args = cmd.to_args();
        let tail: Vec<&str> = args[args.len() - 8..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "--identity",
                "x",
                "--identity_provider",
                "y",
                "--identity-regexp",
                r"a\.b@example\.com",
                "--identity-provider-regexp",
                "https://.*",
            ]
        );
        let back = VerifyCommand::try_parse_args(args.clone()).unwrap();
        let VerifyMethod::Sigstore(s) = &back.method else {
            panic!("{back:?}");
        };
        assert_eq!(
            s.signers,
            [SignerIdentity::exact("x", "y"), mixed.as_regexp_pair()]
        );
        assert_eq!(back.to_args(), args);
    }

    #[test]
    fn identity_flags_pair_by_position() {
        let base = ["sigstore", "m", "--signature", "s"];
        let parse_signers = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            VerifyCommand::try_parse_args(args).map(|cmd| match cmd.method {
                VerifyMethod::Sigstore(s) => s.signers,
                other => panic!("{other:?}"),
            })
        };
        let exact = |i: &str, p: &str| SignerIdentity::exact(i, p);
        let re = |i: &str, p: &str| SignerIdentity::regexp(i, p);
        let ok: [(&[&str], Vec<SignerIdentity>); 5] = [
            (
                &["--identity", "a", "--identity_provider", "X"],
                vec![exact("a", "X")],
            ),
            // The n-th identity goes with the n-th provider, wherever they are.
            (
                &[
                    "--identity",
                    "a",
                    "--identity",
                    "b",
                    "--identity-provider",
                    "X",
                    "--identity_provider",
                    "Y",
                ],
                vec![exact("a", "X"), exact("b", "Y")],
            ),
            (
                &[
                    "--identity_provider",
                    "X",
                    "--identity-regexp",
                    "r.*",
                    "--identity",
                    "a",
                    "--identity_provider_regexp",
                    "R",
                ],
                vec![re("r.*", "R"), exact("a", "X")],
            ),
            (
                &[
                    "--identity_regexp=r1",
                    "--identity-regexp",
                    "r2",
                    "--identity-provider-regexp",
                    "P1",
                    "--identity-provider-regexp=P2",
                ],
                vec![re("r1", "P1"), re("r2", "P2")],
            ),
            // A value that looks like a flag, in the `=` form.
            (
                &["--identity=-a", "--identity_provider=--b"],
                vec![exact("-a", "--b")],
            ),
        ];
        for (extra, want) in ok {
            assert_eq!(parse_signers(extra).unwrap(), want, "{extra:?}");
        }
        let usage_errors: [(&[&str], &str); 7] = [
            (&[], "a trusted signer is required"),
            (
                &["--identity", "a"],
                "got 1 --identity and 0 --identity_provider",
            ),
            (
                &[
                    "--identity",
                    "a",
                    "--identity",
                    "b",
                    "--identity_provider",
                    "X",
                ],
                "got 2 --identity and 1 --identity_provider",
            ),
            (&["--identity_provider", "X"], "got 0 --identity and 1"),
            (
                &[
                    "--identity-regexp",
                    "a",
                    "--identity-provider-regexp",
                    "X",
                    "--identity-regexp",
                    "b",
                ],
                "--identity-regexp and --identity-provider-regexp are paired by position, so they \
                 must be given the same number of times (got 2 --identity-regexp and 1 \
                 --identity-provider-regexp)",
            ),
            (
                &["--identity-regexp", "a(", "--identity-provider-regexp", "X"],
                "invalid value 'a(' for '--identity-regexp <REGEXP>'",
            ),
            (
                &[
                    "--identity-regexp",
                    "a",
                    "--identity-provider-regexp",
                    "a)|(b",
                ],
                "invalid value 'a)|(b' for '--identity-provider-regexp <REGEXP>'",
            ),
        ];
        for (extra, want) in usage_errors {
            let err = parse_signers(extra).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{extra:?}");
            let text = err.to_string();
            assert!(text.contains(want), "{extra:?}: {text}");
        }
    }

    /// Found by the `model_validation` fuzz target: a ModelValidation whose
    /// `certificateOidcIssuer` (or identity, or any path) starts with `-` passed the spec checks
    /// and became `--identity_provider --ignore_git_p…`, which the verifier refused as a usage
    /// error. Such values are written as `--flag=value`.
    #[test]
    fn values_that_look_like_flags_round_trip() {
        for value in ["--ignore_git_paths", "-x", "--", "-", "--identity=a"] {
            let mut common = CommonVerifyArgs::new("/m", value);
            common.walk.ignore_paths = vec![value.into()];
            common.termination_log = Some(value.into());
            roundtrip(&VerifyCommand {
                method: VerifyMethod::Sigstore(SigstoreArgs {
                    common: common.clone(),
                    signers: vec![
                        SignerIdentity::exact(value, format!("-{value}")),
                        SignerIdentity::regexp(value, format!("-{value}")),
                    ],
                    trust_config: Some(value.into()),
                    use_staging: false,
                }),
            });
            roundtrip(&VerifyCommand {
                method: VerifyMethod::Key(KeyArgs {
                    common: common.clone(),
                    public_keys: vec![value.into(), format!("-{value}").into()],
                }),
            });
            roundtrip(&VerifyCommand {
                method: VerifyMethod::Certificate(CertificateArgs {
                    common: common.clone(),
                    certificate_chain: vec![value.into(), "/ca.pem".into()],
                    log_fingerprints: false,
                }),
            });
            // An image replaces the model directory (which parses back as its default, `.`).
            let mut oci = common.clone();
            oci.walk.model_path = ".".into();
            oci.walk.oci.oci_layout = Some(value.into());
            oci.walk.oci.image = Some(value.into());
            roundtrip(&VerifyCommand {
                method: VerifyMethod::Key(KeyArgs {
                    common: oci,
                    public_keys: vec!["/k".into()],
                }),
            });
        }
    }

    #[test]
    fn both_spellings_of_every_flag_are_accepted() {
        let a = parse(&[
            "key",
            "m",
            "--signature",
            "s",
            "--public_key",
            "k",
            "--allow_symlinks",
            "--ignore_paths",
            "i",
            "--no_ignore_git_paths",
            "--ignore-unsigned-files",
        ]);
        let b = parse(&[
            "key",
            "m",
            "--signature",
            "s",
            "--public-key",
            "k",
            "--allow-symlinks",
            "--ignore-paths",
            "i",
            "--no-ignore-git-paths",
            "--ignore_unsigned_files",
        ]);
        assert_eq!(a, b);
        let c = a.method.common();
        assert!(!c.walk.effective_ignore_git_paths());
        assert!(c.effective_ignore_unsigned_files());
        assert!(c.walk.allow_symlinks);
    }

    #[test]
    fn the_last_of_a_flag_pair_wins() {
        let cmd = parse(&[
            "key",
            "m",
            "--signature",
            "s",
            "--public_key",
            "k",
            "--no-ignore-git-paths",
            "--ignore-git-paths",
        ]);
        assert!(cmd.method.common().walk.effective_ignore_git_paths());
        let cmd = parse(&[
            "key",
            "m",
            "--signature",
            "s",
            "--public_key",
            "k",
            "--ignore-git-paths",
            "--no-ignore-git-paths",
        ]);
        assert!(!cmd.method.common().walk.effective_ignore_git_paths());
    }

    #[test]
    fn symlink_policy_is_unset_allow_or_deny_and_round_trips() {
        let base = ["key", "m", "--signature", "s", "--public_key", "k"];
        for (extra, want) in [
            (&[][..], None),
            (&["--allow_symlinks"][..], Some(true)),
            (&["--no-allow_symlinks"][..], Some(false)),
            (&["--no-allow-symlinks"][..], Some(false)),
            (
                &["--allow_symlinks", "--no-allow_symlinks"][..],
                Some(false),
            ),
            (&["--no-allow_symlinks", "--allow-symlinks"][..], Some(true)),
        ] {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            let cmd = parse(&args);
            assert_eq!(cmd.method.common().walk.symlink_policy(), want, "{extra:?}");
            roundtrip(&cmd);
        }
    }

    #[test]
    fn a_missing_method_means_sigstore() {
        let cmd = parse(&[
            "model",
            "--signature",
            "s",
            "--identity",
            "a",
            "--identity_provider",
            "b",
        ]);
        assert_eq!(cmd.method.name(), "sigstore");
        assert_eq!(cmd.method.common().walk.model_path, PathBuf::from("model"));
        // An option first is a usage error, as upstream.
        assert!(VerifyCommand::try_parse_args(["--signature", "s", "model"]).is_err());
    }

    #[test]
    fn missing_required_options_are_usage_errors() {
        let err = VerifyCommand::try_parse_args(["key", "m", "--public_key", "k"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = VerifyCommand::try_parse_args(["key", "--signature", "s", "--public_key", "k"])
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        // At least one key.
        let err = VerifyCommand::try_parse_args(["key", "m", "--signature", "s"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn an_oci_image_replaces_the_model_path() {
        let cmd = parse(&[
            "key",
            "--oci-manifest",
            "m.json",
            "--signature",
            "s",
            "--public_key",
            "k",
        ]);
        let c = cmd.method.common();
        assert_eq!(c.walk.oci.oci_manifest, Some(PathBuf::from("m.json")));
        assert!(c.walk.oci.is_set());
        roundtrip(&cmd);
        let cmd = parse(&[
            "key",
            "--oci_layout",
            "dir",
            "--image",
            "v1@sha256:00",
            "--signature",
            "s",
            "--public_key",
            "k",
        ]);
        assert_eq!(
            cmd.method.common().walk.oci.image.as_deref(),
            Some("v1@sha256:00")
        );
        roundtrip(&cmd);
        let usage_errors: [&[&str]; 4] = [
            // --image with a manifest file.
            &[
                "key",
                "--oci-manifest",
                "x.json",
                "--image",
                "v1",
                "--signature",
                "s",
                "--public_key",
                "k",
            ],
            // Both a model directory and an image.
            &[
                "key",
                "m",
                "--oci-manifest",
                "x.json",
                "--signature",
                "s",
                "--public_key",
                "k",
            ],
            // Both a manifest file and a layout.
            &[
                "key",
                "--oci-manifest",
                "x.json",
                "--oci-layout",
                "d",
                "--signature",
                "s",
                "--public_key",
                "k",
            ],
            // Neither a model nor an image.
            &["key", "--signature", "s", "--public_key", "k"],
        ];
        for args in usage_errors {
            let err = VerifyCommand::try_parse_args(args.iter().copied()).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
