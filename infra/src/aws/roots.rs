//! The roots of trust of the SDK's TLS: one CA bundle file.
//!
//! Left to itself, the SDK reads the OS store at every cold start: on
//! Linux, the bundle file and then every file of the certificate directory
//! (443 on this Debian machine). One bundle holds the same roots. This
//! reads `SSL_CERT_FILE`, or the first bundle found where Linux
//! distributions keep it, and keeps each certificate rustls can use as a
//! trust anchor (the SDK's TLS setup panics on one it cannot). With no
//! bundle, or none usable, the caller falls back to the OS store.

use std::path::{Path, PathBuf};

use base64::Engine;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Where the CA bundle is kept: Amazon Linux (Lambda's `provided.al2023`),
/// then Debian and Ubuntu.
pub const BUNDLES: &[&str] = &["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"];

/// Roots read from one bundle.
#[derive(Debug)]
pub struct Roots {
    pub file: PathBuf,
    /// The usable certificates, PEM again.
    pub pem: Vec<u8>,
    pub count: usize,
    /// Certificates in the file that are not usable as trust anchors.
    pub skipped: usize,
}

/// The roots of `ssl_cert_file` if given, else of the first of `candidates`
/// that exists. `None` if the file cannot be read or holds no usable root.
pub fn bundle(ssl_cert_file: Option<&Path>, candidates: &[&str]) -> Option<Roots> {
    let file = match ssl_cert_file {
        Some(f) => f.to_path_buf(),
        None => candidates.iter().map(PathBuf::from).find(|p| p.is_file())?,
    };
    let bytes = std::fs::read(&file).ok()?;
    let (mut pem, mut count, mut skipped) = (Vec::with_capacity(bytes.len()), 0, 0);
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        match cert {
            Ok(der) if webpki::anchor_from_trusted_cert(&der).is_ok() => {
                pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
                let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
                for line in b64.as_bytes().chunks(64) {
                    pem.extend_from_slice(line);
                    pem.push(b'\n');
                }
                pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
                count += 1;
            }
            _ => skipped += 1,
        }
    }
    (count > 0).then_some(Roots { file, pem, count, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISRG_ROOT_X1: &str = include_str!("../../tests/fixtures/isrg-root-x1.pem");

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_bundle_keeps_its_usable_roots_and_skips_what_rustls_would_refuse() {
        let dir = tempfile::tempdir().unwrap();
        // Base64 that is not a certificate, between two copies of a real root.
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let f = write(dir.path(), "bundle.crt", &format!("# comment\n{ISRG_ROOT_X1}{junk}{ISRG_ROOT_X1}"));
        let roots = bundle(Some(&f), &[]).expect("roots");
        assert_eq!((roots.count, roots.skipped), (2, 1));
        assert_eq!(roots.file, f);
        // What is kept parses back to the same certificates.
        let kept: Vec<_> = CertificateDer::pem_slice_iter(&roots.pem).collect::<Result<_, _>>().unwrap();
        let original = CertificateDer::from_pem_slice(ISRG_ROOT_X1.as_bytes()).unwrap();
        assert_eq!(kept, vec![original.clone(), original]);
    }

    #[test]
    fn no_usable_root_or_no_file_leaves_the_os_store_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let junk = write(dir.path(), "junk.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(bundle(Some(&junk), &[]).is_none(), "only junk");
        let empty = write(dir.path(), "empty.crt", "");
        assert!(bundle(Some(&empty), &[]).is_none(), "empty");
        assert!(bundle(Some(&dir.path().join("absent.crt")), &[]).is_none(), "SSL_CERT_FILE names no file");
        assert!(bundle(None, &["/nonexistent/a.crt", "/nonexistent/b.crt"]).is_none(), "no candidate exists");
    }

    #[test]
    fn the_first_bundle_found_is_read_unless_ssl_cert_file_names_one() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(dir.path(), "first.crt", ISRG_ROOT_X1);
        let second = write(dir.path(), "second.crt", &format!("{ISRG_ROOT_X1}{ISRG_ROOT_X1}"));
        let candidates = ["/nonexistent/a.crt", first.to_str().unwrap(), second.to_str().unwrap()];
        assert_eq!(bundle(None, &candidates).unwrap().file, first);
        assert_eq!(bundle(Some(&second), &candidates).unwrap().count, 2);
    }
}
