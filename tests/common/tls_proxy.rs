//! A TLS terminator in front of a plain TCP server, for testing `rtmps://`: a test CA (written
//! where the appliance is told to trust it), a certificate for `localhost` signed by it, and a
//! listener on 127.0.0.1 that takes TLS and passes the plain bytes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The running terminator; it stops with the test's runtime.
pub struct TlsProxy {
    pub port: u16,
    /// The CA certificate (PEM) that signed the proxy's certificate.
    pub ca: PathBuf,
}

/// Listens on a free port for TLS as `localhost` and forwards to 127.0.0.1:`to`.
pub async fn start(dir: &Path, to: u16) -> TlsProxy {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Pinhole test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("certificate");
    let ca_file = dir.join("test-ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("CA file");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    TlsProxy { port, ca: ca_file }
}
