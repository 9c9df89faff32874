//! Encrypted connections to PostgreSQL (rustls, libpq's `sslmode` meanings), against a real
//! TLS-only private PostgreSQL that `scripts/test` starts with certificates it makes (openssl):
//! a CA, a server certificate for "localhost", a client certificate for user pipewatch_cert,
//! and an unrelated CA. The plaintext-only server is the suite's main PostgreSQL.

use std::path::PathBuf;

use crate::common::*;

fn tls_port() -> u16 {
    env("PIPEWATCH_TEST_TLS_PG_PORT").parse().unwrap()
}

fn cert(name: &str) -> PathBuf {
    PathBuf::from(env("PIPEWATCH_TEST_TLS_CERTS")).join(name)
}

/// A `[warehouse]` section for the TLS server (as `host`, user `user`) with `tls` lines.
fn tls_warehouse(host: &str, user: &str, tls: &str) -> String {
    format!(
        "[retry]\nattempts = 3\ninitial_backoff_seconds = 1\n\
         [warehouse]\nhost = {host}\nport = {}\nusername = {user}\ndatabase = pipewatch_tls\nschema = {}\n{tls}\n",
        tls_port(),
        unique("wh")
    )
}

fn migrate(config_text: &str) -> Run {
    let dir = TempDir::new();
    let config = write_config(dir.path(), config_text);
    pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "migrate"],
        &[],
    )
}

fn root(name: &str) -> String {
    format!("sslrootcert = {}\n", cert(name).display())
}

#[test]
fn verify_full_works_with_the_right_ca_and_host_name() {
    let run = migrate(&tls_warehouse(
        "localhost",
        "postgres",
        &format!("sslmode = verify-full\n{}", root("ca.crt")),
    ));
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_wrong_ca_or_host_name_is_refused_at_once_with_a_clear_error() {
    let cases = [
        // A certificate authority that did not sign the server's certificate.
        ("localhost", "verify-full", "wrong-ca.crt", "UnknownIssuer"),
        ("localhost", "verify-ca", "wrong-ca.crt", "UnknownIssuer"),
        // The certificate names localhost, not 127.0.0.1.
        (
            "127.0.0.1",
            "verify-full",
            "ca.crt",
            "certificate not valid for name",
        ),
    ];
    for (host, mode, ca, expected) in cases {
        let started = std::time::Instant::now();
        let run = migrate(&tls_warehouse(
            host,
            "postgres",
            &format!("sslmode = {mode}\n{}", root(ca)),
        ));
        assert_eq!(
            run.code,
            pipewatch::exit::ERROR as i32,
            "{mode} {ca}: {run:?}"
        );
        assert!(run.stderr.contains(expected), "{mode} {ca}: {run:?}");
        assert!(
            run.stderr.contains(&format!(
                "check [warehouse] sslmode ({mode}) and sslrootcert"
            )),
            "{run:?}"
        );
        assert!(!run.stderr.contains("retrying"), "not retried: {run:?}");
        assert!(started.elapsed().as_secs() < 30);
    }
}

#[test]
fn verify_ca_checks_the_chain_but_not_the_name() {
    let run = migrate(&tls_warehouse(
        "127.0.0.1",
        "postgres",
        &format!("sslmode = verify-ca\n{}", root("ca.crt")),
    ));
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn require_works_against_a_tls_only_server_and_disable_is_refused_by_it() {
    let run = migrate(&tls_warehouse("127.0.0.1", "postgres", "sslmode = require"));
    assert_eq!(run.code, 0, "{run:?}");
    // prefer (the default) encrypts when the server offers it.
    let run = migrate(&tls_warehouse("127.0.0.1", "postgres", ""));
    assert_eq!(run.code, 0, "{run:?}");
    let run = migrate(&tls_warehouse("127.0.0.1", "postgres", "sslmode = disable"));
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(run.stderr.contains("no encryption"), "{run:?}");
}

#[test]
fn a_plaintext_only_server_is_refused_when_encryption_is_required() {
    for mode in ["require", "verify-full"] {
        let tls = match mode {
            "require" => "sslmode = require\n".to_string(),
            _ => format!("sslmode = verify-full\n{}", root("ca.crt")),
        };
        let text = format!(
            "[retry]\nattempts = 3\n[warehouse]\nhost = {}\nport = {}\nusername = {}\ndatabase = {}\nschema = {}\n{tls}",
            pg_host(),
            pg_port(),
            pg_user(),
            pg_database(),
            unique("wh")
        );
        let run = migrate(&text);
        assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{mode}: {run:?}");
        assert!(
            run.stderr.contains("server does not support TLS"),
            "{mode}: {run:?}"
        );
        assert!(!run.stderr.contains("retrying"), "{mode}: {run:?}");
    }
}

#[test]
fn a_client_certificate_authenticates_its_user() {
    let client = format!(
        "sslcert = {}\nsslkey = {}\n",
        cert("client.crt").display(),
        cert("client.key").display()
    );
    let run = migrate(&tls_warehouse(
        "localhost",
        "pipewatch_cert",
        &format!("sslmode = verify-full\n{}{client}", root("ca.crt")),
    ));
    assert_eq!(run.code, 0, "{run:?}");
    // Without it, the server's pg_hba.conf ("cert") refuses the user.
    let run = migrate(&tls_warehouse(
        "localhost",
        "pipewatch_cert",
        &format!("sslmode = verify-full\n{}", root("ca.crt")),
    ));
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(run.stderr.contains("certificate"), "{run:?}");
    // A key file that is not a key: said before connecting, naming the file.
    let run = migrate(&tls_warehouse(
        "localhost",
        "pipewatch_cert",
        &format!(
            "sslmode = verify-full\n{}sslcert = {}\nsslkey = {}\n",
            root("ca.crt"),
            cert("client.crt").display(),
            cert("ca.crt").display()
        ),
    ));
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(run.stderr.contains("cannot use sslkey"), "{run:?}");
}

/// The Airflow side encrypts the same way: check-config reads the Airflow 2 layout through a
/// verify-full connection.
#[test]
fn an_airflow_database_is_read_over_verify_full() {
    let text = format!(
        "[warehouse]\nhost = localhost\nport = {port}\nusername = postgres\ndatabase = pipewatch_tls\nschema = {}\nsslmode = verify-full\n{ca}\
         [airflowdb_config]\nhost = localhost\nport = {port}\nusername = postgres\ndatabase = pipewatch_tls\nsslmode = verify-full\n{ca}",
        unique("wh"),
        port = tls_port(),
        ca = root("ca.crt")
    );
    let dir = TempDir::new();
    let config = write_config(dir.path(), &text);
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Airflow 2 layout"), "{run:?}");
}
