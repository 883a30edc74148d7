//! The `deals` fold over an imported deal: its entry into its stage is
//! counted at the original date, both as when it happened and when it was
//! known (so a funnel for that period, and `as_of` a day after it, count
//! it), under the responsible it was imported with; its fields set in the
//! same append add no second entry and no second version.

use chrono::{TimeZone, Utc};
use serde_json::json;
use voronka_core::{
    Actor, EventMetadata, Payload, Position, RecordedEvent, StreamId, StreamVersion, Timestamp,
};
use voronka_projections::deals::DealFold;
use voronka_projections::time::micros;

const DEAL: &str = "01900000-0000-7000-8000-000000000001";
const ANNA: &str = "01900000-0000-7000-8000-0000000000aa";

fn recorded(version: u64, payload: serde_json::Value, occurred: Timestamp) -> RecordedEvent {
    RecordedEvent {
        position: Position(version),
        stream_id: StreamId::new(format!("deal-{DEAL}")).unwrap(),
        stream_version: StreamVersion(version),
        event_type: payload["type"].as_str().unwrap().to_owned(),
        schema_version: 1,
        payload: Payload::from_json_text(payload.to_string()).unwrap(),
        metadata: EventMetadata::by(Actor::user("importer")),
        recorded_at: Utc.with_ymd_and_hms(2026, 12, 4, 17, 0, 0).unwrap(),
        occurred_at: Some(occurred),
    }
}

#[test]
fn an_imported_deal_enters_its_stage_at_its_original_date_once() {
    let entered = Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 4, 17, 0, 0).unwrap();
    let events = [
        recorded(
            1,
            json!({"type": "deal_imported", "deal": DEAL,
                   "process": {"name": "b2b-sale", "version": 1, "hash": "0".repeat(64)},
                   "stage": "proposal", "created_at": "2025-03-01T00:00:00Z",
                   "stage_entered_at": "2025-03-10T12:00:00Z", "responsible": ANNA,
                   "imported_by": ANNA, "source": {"file": "d.csv", "sha256": "ab"},
                   "at": now}),
            entered,
        ),
        // The amount comes before the responsible in the import's append.
        recorded(
            2,
            json!({"type": "deal_field_set", "field": "amount",
                   "value": {"minor": 15000050, "currency": "RUB"}, "at": now}),
            entered,
        ),
        recorded(
            3,
            json!({"type": "deal_field_set", "field": "responsible", "value": ANNA, "at": now}),
            entered,
        ),
    ];
    let mut fold = DealFold {
        keep_history: true,
        ..DealFold::default()
    };
    let mut flow = Vec::new();
    for event in &events {
        fold.apply(event, &mut flow, None);
    }
    assert_eq!(fold.skipped, 0);
    // The fields set with the import belong to its one version, known
    // since the original date: as of then the deal has its amount.
    assert!(fold.closed.is_empty(), "{:?}", fold.closed);
    assert_eq!(fold.deals[DEAL].valid_from, micros(entered));
    assert_eq!(fold.deals[DEAL].amount_minor(), 15_000_050);
    assert!(
        flow.iter().all(|row| row.rec_at == micros(entered)),
        "every row known at the original date: {flow:?}"
    );
    let entries: Vec<_> = flow.iter().filter(|row| row.entered != 0).collect();
    assert_eq!(entries.len(), 1, "{flow:?}");
    let entry = entries[0];
    assert_eq!(
        (
            entry.stage.as_str(),
            entry.responsible.as_str(),
            entry.entered
        ),
        ("proposal", ANNA, 1)
    );
    assert_eq!((entry.at, entry.rec_at), (micros(entered), micros(entered)));
    let deal = &fold.deals[DEAL];
    assert_eq!(
        deal.created_at,
        micros(Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap())
    );
    assert_eq!(deal.stage_entered_at, micros(entered));
    assert_eq!(deal.responsible, ANNA);
    assert_eq!(flow.iter().map(|row| row.held).sum::<i64>(), 1, "{flow:?}");
    assert!(
        flow.iter().all(|row| row.responsible == ANNA),
        "nothing handed over: {flow:?}"
    );

    // A change appended later is known when it was recorded: the imported
    // version closes then.
    let mut later = recorded(
        4,
        json!({"type": "deal_field_set", "field": "amount",
               "value": {"minor": 100, "currency": "RUB"}, "at": now}),
        now,
    );
    later.occurred_at = None;
    later.recorded_at = now + chrono::Duration::hours(1);
    let mut flow = Vec::new();
    fold.apply(&later, &mut flow, None);
    assert_eq!(fold.closed.len(), 1);
    assert_eq!(fold.closed[0].0.amount_minor(), 15_000_050);
    assert_eq!(fold.closed[0].1, micros(later.recorded_at));
    assert_eq!(fold.deals[DEAL].valid_from, micros(later.recorded_at));
    assert_eq!(flow[0].rec_at, micros(later.recorded_at), "{flow:?}");
}
