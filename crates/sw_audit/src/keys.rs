//! Ed25519 keys for checkpoints: generating and loading key files, and the signed message.
//!
//! Owns: the key file formats (PKCS#8 PEM for the secret key, SubjectPublicKeyInfo PEM for the
//! public key: what `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write, so
//! either tool can make or read them) and the exact bytes a checkpoint signs. Does not own:
//! where the key files live (the service's config) or when checkpoints are written (`writer`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::{Zeroize, Zeroizing};

use crate::AuditError;
use crate::record::Hash;

/// Generates a key pair: the secret key as PKCS#8 PEM in `secret_path` (created with mode
/// 0600) and the public key as SPKI PEM in `public_path` (0644). Refuses to overwrite either
/// file. Returns the public key.
pub fn keygen(secret_path: &Path, public_path: &Path) -> Result<VerifyingKey, AuditError> {
    for path in [secret_path, public_path] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(AuditError::KeyExists { path: path.into() });
        }
    }
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let public = key.verifying_key();
    // PKCS#8 v1 (the seed alone), as OpenSSL writes it: OpenSSL 3.0 cannot read the v2 form
    // (seed and public key) that `SigningKey::to_pkcs8_pem` writes.
    let mut seed = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    let secret_pem = seed.to_pkcs8_pem(LineEnding::LF);
    seed.secret_key.zeroize();
    let secret_pem =
        secret_pem.map_err(|e| key_error(secret_path, format!("encoding the secret key: {e}")))?;
    let public_pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| key_error(public_path, format!("encoding the public key: {e}")))?;
    write_new(secret_path, secret_pem.as_bytes(), 0o600)?;
    if let Err(error) = write_new(public_path, public_pem.as_bytes(), 0o644) {
        // Leave no half pair behind: a secret key without its public key is of no use.
        let _ = fs::remove_file(secret_path);
        return Err(error);
    }
    Ok(public)
}

/// Writes a new file (never an existing one) with `mode`, and syncs it.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), AuditError> {
    let io = |source| AuditError::io("writing key file", path, source);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => AuditError::KeyExists { path: path.into() },
            _ => io(e),
        })?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

fn key_error(path: &Path, reason: String) -> AuditError {
    AuditError::KeyFile {
        path: path.into(),
        reason,
    }
}

/// Reads a key file's text; a secret key's text is wiped from memory when dropped.
fn read_key_file(path: &Path) -> Result<Zeroizing<String>, AuditError> {
    fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| key_error(path, format!("cannot read it: {e}")))
}

/// Loads a secret key written by [`keygen`] (or `openssl genpkey -algorithm ed25519`).
/// Errors name the file and never include its contents.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, AuditError> {
    let text = read_key_file(path)?;
    if text.contains("BEGIN PUBLIC KEY") {
        return Err(key_error(
            path,
            "this is a public key; checkpoints are signed with the secret key (BEGIN PRIVATE KEY)"
                .into(),
        ));
    }
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        key_error(
            path,
            format!("not an Ed25519 secret key in PKCS#8 PEM (BEGIN PRIVATE KEY): {e}"),
        )
    })
}

/// Loads a public key written by [`keygen`] (or `openssl pkey -pubout`).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, AuditError> {
    let text = read_key_file(path)?;
    if text.contains("PRIVATE KEY") {
        return Err(key_error(
            path,
            "this is a secret key; verification needs only the public key (BEGIN PUBLIC KEY), \
             and the secret key should not leave the service"
                .into(),
        ));
    }
    VerifyingKey::from_public_key_pem(&text).map_err(|e| {
        key_error(
            path,
            format!("not an Ed25519 public key in SPKI PEM (BEGIN PUBLIC KEY): {e}"),
        )
    })
}

/// A public key's identifier in checkpoints and reports: its 32 bytes in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// The exact bytes a checkpoint signs: ASCII
/// `stillwatch.audit.checkpoint/1 <covers_seq> <covers_hash hex>`. The prefix keeps a
/// checkpoint signature from ever being valid for anything else signed with the same key.
pub(crate) fn checkpoint_message(covers_seq: u64, covers_hash: &Hash) -> String {
    format!("stillwatch.audit.checkpoint/1 {covers_seq} {covers_hash}")
}

pub(crate) fn sign_checkpoint(key: &SigningKey, covers_seq: u64, covers_hash: &Hash) -> Signature {
    key.sign(checkpoint_message(covers_seq, covers_hash).as_bytes())
}

/// Whether `signature` is `key`'s signature of the checkpoint (strict verification: no
/// malleable or small-order encodings).
pub(crate) fn checkpoint_signature_holds(
    key: &VerifyingKey,
    signature: &Signature,
    covers_seq: u64,
    covers_hash: &Hash,
) -> bool {
    key.verify_strict(
        checkpoint_message(covers_seq, covers_hash).as_bytes(),
        signature,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keygen_writes_a_pair_that_loads_and_signs() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = (dir.path().join("audit.key"), dir.path().join("audit.pub"));
        let generated = keygen(&secret, &public).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&secret), mode(&public)), (0o600, 0o644));
        let signing = load_signing_key(&secret).unwrap();
        let verifying = load_verifying_key(&public).unwrap();
        assert_eq!(signing.verifying_key(), generated);
        assert_eq!(verifying, generated);
        let hash = Hash::of(b"record");
        let signature = sign_checkpoint(&signing, 9, &hash);
        let table = [(9, hash, true), (8, hash, false), (9, Hash::ZERO, false)];
        for (seq, covered, holds) in table {
            assert_eq!(
                checkpoint_signature_holds(&verifying, &signature, seq, &covered),
                holds
            );
        }
        assert_eq!(key_id(&verifying).len(), 64);
    }
}
