//! The `voronka` binary as a user meets it: real processes, real HTTP, and
//! bad input that must give one clear error line and a non-zero exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn voronka(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voronka"))
        .args(args)
        .env("VORONKA_LOG", "error")
        .env_remove("VORONKA_DB")
        .output()
        .expect("run voronka")
}

/// Checks the failure shape every bad input must have.
fn assert_one_clear_error(output: &Output, must_mention: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "no backtrace hint: {stderr}"
    );
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "exactly one error line: {stderr}");
    assert!(
        error_lines[0].contains(must_mention),
        "`{must_mention}` in: {}",
        error_lines[0]
    );
}

#[test]
fn an_unsupported_database_url_is_one_clear_error() {
    let output = voronka(&["migrate", "--db", "mysql://root@localhost/crm"]);
    assert_one_clear_error(&output, "unsupported database URL");
}

#[test]
fn an_unreachable_postgres_is_one_clear_error_without_the_password() {
    let started = Instant::now();
    let output = voronka(&["migrate", "--db", "postgres://crm:hunter2@127.0.0.1:1/crm"]);
    assert_one_clear_error(&output, "127.0.0.1:1");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("hunter2"),
        "the password never shows"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "fails fast, took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_corrupt_file_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let garbage: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let url = format!("sqlite://{}", path.display());
    assert_one_clear_error(
        &voronka(&["migrate", "--db", &url]),
        "not a SQLite database",
    );
    assert_one_clear_error(
        &voronka(&["serve", "--addr", "127.0.0.1:0", "--db", &url]),
        "not a SQLite database",
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "nothing was changed"
    );
}

#[test]
fn a_folder_that_cannot_hold_files_is_one_clear_error() {
    // /proc is read-only even for root, so this holds in CI too.
    let output = voronka(&["migrate", "--db", "sqlite:///proc/voronka/crm.db"]);
    assert_one_clear_error(&output, "/proc/voronka/crm.db");
}

#[test]
fn migrate_creates_the_schema_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crm.db").display());
    let first = voronka(&["migrate", "--db", &url]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("1 migration(s) applied"));
    let second = voronka(&["migrate", "--db", &url]);
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 migration(s) applied"));
}

#[test]
fn validate_prints_positioned_errors_and_fails_only_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-definitions/b2b-sale.yaml"
    );
    let ok = voronka(&["validate", good]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = dir.path().join("broken.yaml");
    std::fs::write(&bad, "process: broken\nstages: [\n").unwrap();
    let output = voronka(&["validate", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.yaml:"), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains(": error: ")), "{stderr}");
}

#[test]
fn a_full_disk_fails_appends_clearly_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("full.db").display());
    // A 4 MiB file-size limit stands in for a full disk; SIGXFSZ is ignored so
    // the write fails with an error instead of killing the process.
    let script = format!(
        "trap '' XFSZ; ulimit -f 4096; exec '{}' debug append-until-killed --db '{}' --writers 4",
        env!("CARGO_BIN_EXE_voronka"),
        url
    );
    let output = Command::new("bash")
        .args(["-c", &script])
        .env("VORONKA_LOG", "off")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let acks: Vec<(String, u64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ack "))
        .map(|rest| {
            let parts: Vec<&str> = rest.split(' ').collect();
            (parts[0].to_owned(), parts[2].parse().unwrap())
        })
        .collect();
    assert!(
        acks.len() > 100,
        "appended before the disk filled: {}",
        acks.len()
    );
    assert_one_clear_error(&output, "cannot be written");

    // Without the limit, the store opens and holds every acknowledged event.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use voronka_store::EventStore;
        let location = voronka_store_sqlite::SqliteLocation::parse(&url).unwrap();
        let store = voronka_store_sqlite::SqliteStore::open(
            &location,
            voronka_store_sqlite::SqliteOptions::new(std::sync::Arc::new(
                voronka_core::SystemClock,
            )),
        )
        .await
        .expect("opens after the disk filled");
        let last = acks.iter().map(|(_, p)| *p).max().unwrap();
        let mut seen = 0u64;
        let mut after = voronka_core::Position::START;
        loop {
            let batch = store.read_all(after, 5_000).await.unwrap();
            let Some(tail) = batch.last() else { break };
            after = tail.position;
            seen += batch.len() as u64;
        }
        assert!(
            seen >= last,
            "every acknowledged position up to {last} is there ({seen} events)"
        );
        assert_eq!(after.0, seen, "gapless");
        store.close().await;
    });
}

/// A running `voronka serve` on a free port, stopped with SIGTERM on drop.
struct Server {
    child: std::process::Child,
    base: String,
    /// What serve printed before it listened (e.g. the demo sign-in line).
    printed: Vec<String>,
}

impl Server {
    fn start(db_url: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_voronka"))
            .args(["serve", "--addr", "127.0.0.1:0", "--db", db_url, "--demo"])
            .env("VORONKA_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start voronka serve");
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut printed = Vec::new();
        let base = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "serve exited: {printed:?}"
            );
            if let Some(base) = line.trim().strip_prefix("voronka listening on ") {
                break base.to_owned();
            }
            printed.push(line);
        };
        Server {
            child,
            base,
            printed,
        }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test]
async fn serve_answers_health_readiness_and_metrics_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("serve.db").display());
    let server = Server::start(&url);
    let client = reqwest::Client::new();

    // --demo seeded an empty database with users that can sign in.
    assert!(
        server
            .printed
            .iter()
            .any(|l| l.contains("admin@demo.voronka")),
        "{:?}",
        server.printed
    );
    let login = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&serde_json::json!({"email": "anna@demo.voronka", "password": "voronka-demo-2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let session: serde_json::Value = login.json().await.unwrap();
    assert_eq!(session["user"]["roles"], serde_json::json!(["manager"]));

    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let ready = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["backend"], "sqlite");

    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for name in [
        "voronka_store_appends_total",
        "voronka_store_append_seconds_bucket",
        "voronka_store_commit_group_size_bucket",
    ] {
        assert!(text.contains(name), "{name} in /metrics");
    }

    let missing = client
        .get(format!("{}/no-such-page", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let status = server.stop();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    // Serving migrated the database: a second migrate has nothing to do.
    let again = voronka(&["migrate", "--db", &url]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 migration(s) applied"));
}

#[tokio::test]
async fn a_user_added_on_the_command_line_signs_in_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("users.db").display());
    let password = "first admin password";
    let added = Command::new(env!("CARGO_BIN_EXE_voronka"))
        .args([
            "user",
            "add",
            "--email",
            "Admin@Example.com",
            "--role",
            "administrator",
            "--role",
            "director",
            "--department",
            "Head office",
            "--name",
            "Анна Админова",
            "--db",
            &url,
        ])
        .env("VORONKA_LOG", "error")
        .env("VORONKA_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("run voronka user add");
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(stdout.contains("Admin@Example.com"), "{stdout}");
    assert!(!stdout.contains(password), "the password never shows");

    let server = Server::start(&url);
    let client = reqwest::Client::new();
    let login_url = format!("{}/api/v1/auth/login", server.base);
    let me_url = format!("{}/api/v1/me", server.base);

    let login = client
        .post(&login_url)
        .json(&serde_json::json!({"email": "admin@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let body: serde_json::Value = login.json().await.unwrap();
    let token = body["token"].as_str().expect("a token").to_owned();
    assert!(body["expires_at"].is_string(), "{body}");
    assert_eq!(body["user"]["display_name"], "Анна Админова");

    let me = client
        .get(&me_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["email"], "Admin@Example.com");
    assert_eq!(
        me["roles"],
        serde_json::json!(["administrator", "director"])
    );

    let anonymous = client.get(&me_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let problem: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(problem["code"], "token_missing");

    let wrong = client
        .post(&login_url)
        .json(&serde_json::json!({"email": "admin@example.com", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let problem: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_credentials");

    let malformed = client
        .post(&login_url)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let problem: serde_json::Value = malformed.json().await.unwrap();
    assert_eq!(problem["code"], "malformed_json");

    let missing = client
        .post(&login_url)
        .json(&serde_json::json!({"email": "admin@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let problem: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(
        (problem["code"].as_str(), problem["field"].as_str()),
        (Some("field_missing"), Some("password"))
    );

    let huge = client
        .post(&login_url)
        .body(vec![b' '; 65 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);

    let logout = client
        .post(format!("{}/api/v1/auth/logout", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let after = client
        .get(&me_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    let problem: serde_json::Value = after.json().await.unwrap();
    assert_eq!(problem["code"], "token_invalid");

    let status = server.stop();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
}
