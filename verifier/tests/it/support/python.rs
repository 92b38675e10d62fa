//! The interoperability peer: the real Python `model_signing` 1.1.1 in a virtualenv, and the
//! output of a finished command.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::key_cert_fixtures::PREFIX;

/// The real Python `model_signing` 1.1.1 (+ pyOpenSSL) from PyPI, in a virtualenv.
#[derive(Debug, Clone)]
pub struct Python {
    pub venv: PathBuf,
}

impl Python {
    /// `$MV_PYTHON_VENV` (default `$HOME/.cache/model-validation-operator/venv`, made by
    /// `.ci/install.sh`, which `make test` runs). A missing peer fails the test, naming `test`.
    pub fn find(test: &str) -> Self {
        let venv = match std::env::var_os("MV_PYTHON_VENV") {
            Some(v) => PathBuf::from(v),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/model-validation-operator/venv"),
        };
        let ok = Command::new(venv.join("bin/python"))
            .args([
                "-c",
                "import model_signing, OpenSSL, sigstore; assert model_signing.__version__ == '1.1.1', model_signing.__version__",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{test}: Python model_signing 1.1.1 + pyOpenSSL not found in the virtualenv {} \
             (run `make setup` or .ci/install.sh --test, or set MV_PYTHON_VENV)",
            venv.display()
        );
        Self { venv }
    }

    /// Runs `model_signing <args>` in `cwd`.
    pub fn model_signing(&self, cwd: &Path, args: &[&str]) -> Output {
        let out = Command::new(self.venv.join("bin/model_signing"))
            .args(args)
            .current_dir(cwd)
            .env("PYTHONWARNINGS", "ignore")
            .output()
            .unwrap();
        Output::from(out)
    }

    /// Runs a Python snippet with `args` in `sys.argv[1:]`.
    pub fn script(&self, code: &str, args: &[&str]) -> Output {
        let out = Command::new(self.venv.join("bin/python"))
            .arg("-c")
            .arg(code)
            .args(args)
            .output()
            .unwrap();
        Output::from(out)
    }
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Output {
    /// The message after `Verification failed with error: `.
    pub fn failure(&self) -> &str {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix(PREFIX))
            .unwrap_or_else(|| panic!("no failure line: {self:?}"))
    }

    pub fn assert_ok(&self, what: &str) {
        assert_eq!(self.code, 0, "{what}: {self:?}");
    }
}
