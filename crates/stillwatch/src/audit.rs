//! `stillwatch audit`: make the key pair that signs the audit log's checkpoints, and verify a
//! log offline.
//!
//! Owns: the `audit` arguments and printing the report. Does not own: the log format, keys or
//! verification (sw_audit).

use std::path::PathBuf;

use anyhow::Context as _;
use sw_audit::{Anchor, VerifyOptions};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Generate the Ed25519 key pair that signs checkpoints: the secret key (PKCS#8 PEM, mode
    /// 0600; name it in `[audit] signing_key_file`) and the public key (SPKI PEM) to give to
    /// whoever verifies. Never overwrites a file.
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        secret: PathBuf,
        /// Where to write the public key.
        #[arg(long)]
        public: PathBuf,
    },
    /// Verify a log: every record's hash, the chain, and (with the public key) every
    /// checkpoint's signature. Prints "intact: ..." or the first record that was modified,
    /// removed, reordered or truncated, and exits non-zero then.
    Verify {
        /// The log's folder (`[audit] dir`).
        dir: PathBuf,
        /// The public key from `stillwatch audit keygen`; without it only the chain is checked.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// A record you kept from an earlier verification, as SEQ:HASH (repeatable): catches
        /// truncation or rewriting after it, which the log alone cannot show.
        #[arg(long = "anchor", value_name = "SEQ:HASH")]
        anchors: Vec<Anchor>,
    },
}

/// Runs the subcommand; `Ok(false)` when verification found a problem.
pub fn run(command: &AuditCommand) -> anyhow::Result<bool> {
    match command {
        AuditCommand::Keygen { secret, public } => {
            let key = sw_audit::keygen(secret, public)?;
            println!(
                "secret key: {} (keep it private; name it in [audit] signing_key_file)",
                secret.display()
            );
            println!(
                "public key: {} (id {}; give it to auditors)",
                public.display(),
                sw_audit::key_id(&key)
            );
            Ok(true)
        }
        AuditCommand::Verify {
            dir,
            public_key,
            anchors,
        } => {
            let public_key = public_key
                .as_deref()
                .map(sw_audit::load_verifying_key)
                .transpose()?;
            let report = sw_audit::verify_with_options(&VerifyOptions {
                dir: dir.clone(),
                public_key,
                anchors: anchors.clone(),
            })
            .with_context(|| format!("verifying the audit log in {}", dir.display()))?;
            println!("{report}");
            Ok(report.is_intact())
        }
    }
}
