//! `voronka serve --demo` as a first-time user meets it: the real binary
//! seeds an empty SQLite database once, through the same commands people
//! use, and what it seeded answers over HTTP with every right applied;
//! `voronka rebuild` then rebuilds the report tables to the same answers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The stages of `b2b-sale`, in funnel order.
const STAGES: [&str; 9] = [
    "new",
    "qualifying",
    "needs",
    "proposal",
    "negotiation",
    "contract",
    "invoice",
    "won",
    "lost",
];
const PASSWORD: &str = "voronka-demo-2026";

/// A running `voronka serve --demo`, stopped with SIGTERM.
struct Server {
    child: Child,
    base: String,
    /// What serve printed before it listened.
    printed: Vec<String>,
    client: reqwest::Client,
}

impl Server {
    fn start(db_url: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_voronka"))
            .args(["serve", "--demo", "--db", db_url, "--addr", "127.0.0.1:0"])
            .env("VORONKA_LOG", "warn")
            .env_remove("VORONKA_DB")
            .env_remove("VORONKA_ADDR")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start voronka serve --demo");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut printed = Vec::new();
        let base = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).expect("read stdout") > 0,
                "serve exited: {printed:?}"
            );
            if let Some(base) = line.trim().strip_prefix("voronka listening on ") {
                break base.to_owned();
            }
            printed.push(line.trim_end().to_owned());
        };
        Server {
            child,
            base,
            printed,
            client: reqwest::Client::new(),
        }
    }

    fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
                return;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Signs in; returns the token and the user.
    async fn login(&self, email: &str) -> (String, Value) {
        let response = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200, "{email} signs in");
        let body: Value = response.json().await.expect("login body");
        (
            body["token"].as_str().expect("token").to_owned(),
            body["user"].clone(),
        )
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Every item of a list, page after page.
    async fn all(&self, token: &str, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}limit=200&cursor={cursor}"),
                None => format!("{path}{separator}limit=200"),
            };
            let page = self.get(token, &page_path).await;
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The counts a second start must leave unchanged.
async fn counts(server: &Server, token: &str) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for (name, path) in [
        ("companies", "/api/v1/companies"),
        ("contacts", "/api/v1/contacts"),
        ("deals", "/api/v1/deals"),
        ("activities", "/api/v1/activities"),
        ("documents", "/api/v1/documents"),
        ("products", "/api/v1/products"),
    ] {
        counts.insert(name, server.all(token, path).await.len());
    }
    counts
}

/// The funnel's stages once the report tables hold every one of `deals`
/// (the projections follow the log in the background).
async fn caught_up_funnel(server: &Server, token: &str, deals: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let report = server
            .get(token, "/api/v1/reports/funnel?process=b2b-sale")
            .await;
        let held: i64 = report["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .map(|s| s["now"].as_i64().expect("now"))
            .sum();
        if held == deals as i64 {
            return report["stages"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the funnel holds {held} of {deals} deals"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn names(items: &[Value], field: &str) -> BTreeSet<String> {
    items
        .iter()
        .map(|item| item[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn serve_demo_seeds_a_believable_department_once() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let server = Server::start(&url);
    let printed = server.printed.join("\n");
    for login in [
        "admin@demo.voronka",
        "director@demo.voronka",
        "head@demo.voronka",
        "anna@demo.voronka",
        "operator@demo.voronka",
    ] {
        assert!(printed.contains(login), "{login} is printed: {printed}");
    }
    assert!(printed.contains("demo: seeded in"), "{printed}");

    // A manager sees only their own deals.
    let (anna, anna_user) = server.login("anna@demo.voronka").await;
    let anna_id = anna_user["id"].as_str().expect("user id");
    let own = server.all(&anna, "/api/v1/deals").await;
    assert!(!own.is_empty(), "the manager has deals");
    assert!(own.len() < 150, "only a share of them: {}", own.len());
    for deal in &own {
        assert_eq!(deal["responsible"], anna_id, "{deal}");
    }

    // The director sees all of them, in every stage of the process.
    let (director, _) = server.login("director@demo.voronka").await;
    let deals = server.all(&director, "/api/v1/deals").await;
    assert!(
        (280..=320).contains(&deals.len()),
        "about 300 deals: {}",
        deals.len()
    );
    let mut per_stage: BTreeMap<String, usize> = BTreeMap::new();
    for deal in &deals {
        *per_stage
            .entry(deal["stage"].as_str().expect("stage").to_owned())
            .or_default() += 1;
    }
    let card = server
        .get(
            &director,
            &format!("/api/v1/deals/{}", deals[0]["id"].as_str().unwrap()),
        )
        .await;
    let process_stages: Vec<&str> = card["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["id"].as_str().expect("stage id"))
        .collect();
    assert_eq!(process_stages, STAGES);
    for stage in STAGES {
        assert!(
            per_stage.get(stage).copied().unwrap_or_default() > 0,
            "deals in `{stage}`: {per_stage:?}"
        );
    }
    // Lost deals carry their reason.
    for deal in deals.iter().filter(|d| d["stage"] == "lost") {
        assert!(deal["fields"]["loss_reason"].is_string(), "{deal}");
    }

    // A won deal has a paid invoice, paid to the kopeck.
    let won = deals
        .iter()
        .find(|d| d["stage"] == "won")
        .expect("a won deal");
    let documents = server
        .get(
            &director,
            &format!("/api/v1/documents?deal={}", won["id"].as_str().unwrap()),
        )
        .await;
    let documents = documents["items"].as_array().expect("documents");
    let invoice = documents
        .iter()
        .find(|d| d["kind"] == "invoice")
        .expect("an invoice");
    assert_eq!(invoice["status"], "paid", "{invoice}");
    assert_eq!(invoice["paid"], invoice["totals"]["gross"], "{invoice}");
    assert_eq!(won["amount"], invoice["totals"]["gross"], "{won}");
    let kinds = names(documents, "kind");
    assert_eq!(
        kinds,
        BTreeSet::from([
            "contract".to_owned(),
            "invoice".to_owned(),
            "proposal".to_owned()
        ])
    );

    // Work for today: planned calls and tasks, some overdue.
    let overdue = server
        .all(&director, "/api/v1/activities?status=planned&overdue=true")
        .await;
    assert!(!overdue.is_empty(), "some activities are overdue");
    let planned = server
        .all(&director, "/api/v1/activities?status=planned")
        .await;
    assert!(planned.len() > overdue.len(), "not all of them");

    let before = counts(&server, &director).await;
    assert!(before["companies"] >= 190, "{before:?}");
    assert!(before["contacts"] >= 350, "{before:?}");
    assert!(before["products"] >= 15, "{before:?}");
    let companies = names(&server.all(&director, "/api/v1/companies").await, "name");
    let funnel = caught_up_funnel(&server, &director, deals.len()).await;
    server.stop();

    // `voronka rebuild` folds the log into the report tables again, from
    // scratch, and the reports answer exactly as before.
    let rebuilt = Command::new(env!("CARGO_BIN_EXE_voronka"))
        .args(["rebuild", "--db", &url])
        .env("VORONKA_LOG", "warn")
        .env_remove("VORONKA_DB")
        .output()
        .expect("run voronka rebuild");
    let printed = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(rebuilt.status.success(), "rebuild: {printed} {:?}", rebuilt);
    for projection in ["deals", "work"] {
        assert!(
            printed.contains(&format!("{projection}: ")) && printed.contains("events/s"),
            "{printed}"
        );
    }
    let unknown = Command::new(env!("CARGO_BIN_EXE_voronka"))
        .args(["rebuild", "nonsense", "--db", &url])
        .env_remove("VORONKA_DB")
        .output()
        .expect("run voronka rebuild nonsense");
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no projection named `nonsense`"),
        "{unknown:?}"
    );

    // A second start on the same database seeds nothing more.
    let again = Server::start(&url);
    let printed = again.printed.join("\n");
    assert!(!printed.contains("demo: seeded in"), "{printed}");
    let (director, _) = again.login("director@demo.voronka").await;
    assert_eq!(counts(&again, &director).await, before);
    assert_eq!(
        caught_up_funnel(&again, &director, deals.len()).await,
        funnel,
        "the rebuilt tables answer as before"
    );
    again.stop();

    // Another empty database gets the same companies (a fixed seed).
    let other = format!("sqlite://{}", dir.path().join("y.db").display());
    let fresh = Server::start(&other);
    let (director, _) = fresh.login("director@demo.voronka").await;
    assert_eq!(
        names(&fresh.all(&director, "/api/v1/companies").await, "name"),
        companies
    );
    fresh.stop();
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
}
