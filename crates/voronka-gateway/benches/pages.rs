//! Server time of the two heaviest pages, over HTTP on loopback: the
//! pipeline board with 300 deals, and a deal card whose timeline holds 500
//! entries (the card shows the newest 50 and pages the rest). Target: a
//! median under 20 ms each.
//!
//! `cargo bench -p voronka-gateway --bench pages [-- ROUNDS]` (default 60).
//! The last line is JSON.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{Backend, TestServer};
use voronka_app::crm::deals::{DealChanges, NewDeal};
use voronka_crm::{DealId, MoneyInput};

const DEALS: usize = 300;
const TIMELINE: usize = 500;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    rounds: usize,
    must_contain: &str,
) -> (f64, f64) {
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds + 5 {
        let started = Instant::now();
        let response = client
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200, "{url}");
        let body = response.text().await.expect("body");
        let elapsed = started.elapsed();
        assert!(body.contains(must_contain), "{url} lacks {must_contain}");
        if round >= 5 {
            times.push(elapsed);
        }
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.9))
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(60);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let server = TestServer::start(Backend::Sqlite).await;
        let admin = server
            .directory
            .user(server.admin_id)
            .await
            .expect("directory")
            .expect("admin");
        let caller = server.crm.caller(admin).await.expect("caller");
        let seeding = Instant::now();
        let mut last = None;
        for index in 0..DEALS {
            let id = DealId::from_uuid(uuid::Uuid::now_v7());
            let written = server
                .crm
                .create_deal(
                    &caller,
                    id,
                    NewDeal {
                        process: "b2b-sale".into(),
                        title: format!("Сделка №{index}"),
                        company: None,
                        contact: None,
                        amount: Some(MoneyInput::rub_minor(1_000_000 + index as i64)),
                        responsible: None,
                        source: Some("website".into()),
                        expected_close_date: None,
                        fields: Default::default(),
                    },
                    None,
                )
                .await
                .expect("create a deal");
            last = Some((id, written.position));
        }
        let (deal, mut position) = last.expect("a deal");
        // Each change of the amount is one timeline entry on the deal.
        let entries_before = 6;
        for index in 0..TIMELINE.saturating_sub(entries_before) {
            let written = server
                .crm
                .update_deal(
                    &caller,
                    deal,
                    DealChanges {
                        amount: Some(MoneyInput::rub_minor(2_000_000 + index as i64)),
                        ..DealChanges::default()
                    },
                    None,
                )
                .await
                .expect("change the amount");
            position = written.position;
        }
        let mut entries = 0;
        let mut cursor = None;
        loop {
            let page = server
                .crm
                .deal_timeline(&caller, deal, cursor, 200, Some(voronka_core::Position(position)))
                .await
                .expect("timeline");
            entries += page.items.len();
            match page.next_cursor {
                Some(next) => cursor = Some(voronka_crm::Cursor::parse(&next).expect("cursor")),
                None => break,
            }
        }
        assert!(entries >= TIMELINE, "the timeline has {entries} entries");
        let seeded = seeding.elapsed();
        let login = server
            .directory
            .login("admin@e2e.test", support::PASSWORD)
            .await
            .expect("login");
        let cookie = format!("voronka_session={}; lang=ru", login.token.expose());
        let client = reqwest::Client::new();
        let board = measure(
            &client,
            &format!("{}/board/b2b-sale", server.base),
            &cookie,
            rounds,
            "Сделка №299",
        )
        .await;
        let card = measure(
            &client,
            &format!("{}/deals/{deal}", server.base),
            &cookie,
            rounds,
            "Сделка №299",
        )
        .await;
        println!(
            "seeded {DEALS} deals and a {entries}-entry timeline in {:.1} s",
            seeded.as_secs_f64()
        );
        println!("board with {DEALS} deals:        median {:.2} ms, p90 {:.2} ms", board.0, board.1);
        println!("deal card, {TIMELINE}-entry timeline: median {:.2} ms, p90 {:.2} ms", card.0, card.1);
        println!(
            "{{\"board_median_ms\":{:.3},\"board_p90_ms\":{:.3},\"card_median_ms\":{:.3},\"card_p90_ms\":{:.3},\"rounds\":{rounds}}}",
            board.0, board.1, card.0, card.1
        );
    });
}
