//! TLS for PostgreSQL connections, with libpq's `sslmode` meanings, on rustls (no OpenSSL).
//!
//! - `disable`: no connector; plaintext.
//! - `prefer`: encrypt when the server offers it, accept any certificate (libpq does the same).
//! - `require`: always encrypt; accept any certificate, unless `sslrootcert` is given, in which
//!   case the certificate must chain to it (libpq's rule).
//! - `verify-ca`: the certificate must chain to `sslrootcert`; its names are not checked.
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.
//!
//! An optional client certificate (`sslcert`, `sslkey`) is presented in every encrypting mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{SslMode, TlsSettings};

/// The TLS settings could not be turned into a connector (a file missing or not PEM).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A certificate or key file could not be read or parsed.
    #[error("cannot use {what} {path}: {detail}")]
    File {
        /// Which file (`sslrootcert`, `sslcert`, `sslkey`).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// rustls refused the configuration (for example a key that does not match the certificate).
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The connector for `tls`, or None for `disable`.
pub fn connector(tls: &TlsSettings) -> Result<Option<MakeRustlsConnect>, TlsSetupError> {
    if tls.mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let verifier: Arc<dyn ServerCertVerifier> = match (&tls.root_cert, tls.mode) {
        (None, _) => Arc::new(AcceptAny(provider)),
        (Some(file), mode) => {
            let roots = Arc::new(roots(file)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| TlsSetupError::File {
                    what: "sslrootcert",
                    path: file.clone(),
                    detail: e.to_string(),
                })?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &tls.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            builder.with_client_auth_cert(certificates(cert)?, private_key(key)?)?
        }
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

fn file_error<'a>(what: &'static str, path: &'a Path) -> impl Fn(String) -> TlsSetupError + 'a {
    move |detail| TlsSetupError::File {
        what,
        path: path.to_path_buf(),
        detail,
    }
}

fn certificates_in(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let error = file_error(what, path);
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(error("no PEM certificate in it".into()));
    }
    Ok(certificates)
}

fn roots(path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    for certificate in certificates_in("sslrootcert", path)? {
        store
            .add(certificate)
            .map_err(|e| file_error("sslrootcert", path)(e.to_string()))?;
    }
    Ok(store)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    certificates_in("sslcert", path)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error("sslkey", path)(e.to_string()))
}

/// `prefer` and `require` without `sslrootcert`: any certificate (the connection is encrypted,
/// not authenticated), as libpq; handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (and `require` with `sslrootcert`): the chain must verify against the roots;
/// the names in the certificate are not compared with the host.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
