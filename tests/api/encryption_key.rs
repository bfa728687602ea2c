//! The server's encryption key (docs/DESIGN.md §9), over the real binary:
//! SQLite makes `lynk.key` (0600) beside the database on first start and
//! logs where; a wrong or missing key on a database that holds sealed
//! data stops the start naming the flag; PostgreSQL requires the flag.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Stdio},
};

use base64::Engine as _;

use crate::helpers::{TestDatabase, lynk_binary};

/// `lynk serve` on `url` with `args` and no key from the environment.
fn serve(url: &str, args: &[&str]) -> std::process::Command {
    let mut command = lynk_binary();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .args(args)
        .env_remove("LYNK_ENCRYPTION_KEY")
        .env_remove("LYNK_WEBHOOK_ENCRYPTION_KEY")
        .env("RUST_LOG", "info")
        .env("LYNK_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs until it logs that it listens (then stops it) or exits; its log
/// and whether it started.
fn start_and_stop(mut command: std::process::Command) -> (String, bool) {
    let mut child: Child = command.spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let mut started = false;
    for line in stderr.lines().map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening on") {
            started = true;
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    (log, started)
}

#[tokio::test]
async fn sqlite_makes_its_key_file_and_refuses_a_wrong_or_missing_key() {
    let database = TestDatabase::new().await;
    if database.sqlite_path.is_none() {
        return;
    }
    let path = database.sqlite_path.clone().unwrap();
    let key_file = path.with_file_name("lynk.key");

    let (log, started) = start_and_stop(serve(&database.url, &[]));
    assert!(started, "{log}");
    assert!(key_file.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    assert!(
        log.contains("created the server's encryption key") && log.contains("lynk.key"),
        "{log}"
    );
    let key = std::fs::read_to_string(&key_file).unwrap();

    // The same file again: starts, makes nothing new.
    let (log, started) = start_and_stop(serve(&database.url, &[]));
    assert!(started, "{log}");
    assert!(
        !log.contains("created the server's encryption key"),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);

    // The same key given by its old name: starts.
    let (log, started) = start_and_stop(serve(
        &database.url,
        &["--webhook-encryption-key", key.trim()],
    ));
    assert!(started, "{log}");

    // Another key: the sealed signing key does not open; it stops.
    let wrong = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let output = serve(&database.url, &["--encryption-key", &wrong])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("does not open the data this database holds sealed")
            && stderr.contains("--encryption-key (LYNK_ENCRYPTION_KEY)"),
        "{stderr}"
    );

    // No key at all (the file lost): it stops rather than make a new one.
    std::fs::remove_file(&key_file).unwrap();
    let output = serve(&database.url, &[]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("holds sealed data but no encryption key was given")
            && stderr.contains("--encryption-key (LYNK_ENCRYPTION_KEY)"),
        "{stderr}"
    );
    assert!(!key_file.exists(), "no new key replaces the lost one");

    // The right key given: starts again.
    let (log, started) = start_and_stop(serve(&database.url, &["--encryption-key", key.trim()]));
    assert!(started, "{log}");
}

#[tokio::test]
async fn postgres_requires_the_key() {
    let database = TestDatabase::new().await;
    if database.sqlite_path.is_some() {
        return;
    }
    let output = serve(&database.url, &[]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PostgreSQL needs the server's encryption key")
            && stderr.contains("--encryption-key (LYNK_ENCRYPTION_KEY)"),
        "{stderr}"
    );
    let key = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
    let (log, started) = start_and_stop(serve(&database.url, &["--encryption-key", &key]));
    assert!(started, "{log}");
    let wrong = base64::engine::general_purpose::STANDARD.encode([4u8; 32]);
    let output = serve(&database.url, &["--encryption-key", &wrong])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("does not open"),
        "{stderr}"
    );
}
