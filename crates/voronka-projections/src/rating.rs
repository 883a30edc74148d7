//! Manager rating: plan fulfilment and conversion (won of closed) combined
//! with weights the reader chooses. Both parts are exact as of any moment:
//! plans from `rm_plans`, facts and closings from the day-keyed tables.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use voronka_crm::plan::PlanMetric;

use crate::plan_vs_fact::{entries_by_user, metric_facts, FactScope, PlanTarget};
use crate::{ProjectionError, ReadDb};

/// A metric's fulfilment counts at most this much (200 %), so one
/// overshoot cannot hide every other miss.
pub const FULFILMENT_CAP: f64 = 2.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub plan: f64,
    pub conversion: f64,
}

/// One manager's place.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RatingLine {
    pub rank: usize,
    pub manager: String,
    /// Average over the manager's planned metrics of fact / plan (capped);
    /// none without a plan.
    pub fulfilment: Option<f64>,
    pub won: i64,
    pub lost: i64,
    /// `won / (won + lost)`; none when nothing closed.
    pub conversion: Option<f64>,
    /// The weighted mean of the parts present, 0..=1 (fulfilment capped at 1 here).
    pub score: f64,
}

/// The data a rating is made of.
pub struct RatingInputs {
    pub targets: Vec<PlanTarget>,
    pub facts: HashMap<(String, PlanMetric), i64>,
    pub won: HashMap<String, i64>,
    pub lost: HashMap<String, i64>,
}

/// Reads plan facts, wins and losses for the scope.
pub async fn inputs(
    db: &ReadDb,
    scope: &FactScope,
    targets: Vec<PlanTarget>,
    won_stages: &[(String, String)],
    lost_stages: &[(String, String)],
) -> Result<RatingInputs, ProjectionError> {
    let facts = metric_facts(db, scope, won_stages).await?;
    let won = entries_by_user(db, scope, won_stages).await?;
    let lost = entries_by_user(db, scope, lost_stages).await?;
    Ok(RatingInputs {
        targets,
        facts,
        won: won.into_iter().map(|(u, f)| (u, f.count)).collect(),
        lost: lost.into_iter().map(|(u, f)| (u, f.count)).collect(),
    })
}

/// Ranks `managers` (best first; ties by id).
pub fn rank(inputs: &RatingInputs, managers: &[String], weights: Weights) -> Vec<RatingLine> {
    let managers: BTreeSet<&String> = managers.iter().collect();
    let mut lines: Vec<RatingLine> = managers
        .into_iter()
        .map(|manager| {
            let ratios: Vec<f64> = inputs
                .targets
                .iter()
                .filter(|t| t.scope_kind == "manager" && &t.scope_id == manager && t.target > 0)
                .map(|t| {
                    let fact = inputs
                        .facts
                        .get(&(manager.clone(), t.metric))
                        .copied()
                        .unwrap_or(0);
                    (fact as f64 / t.target as f64).min(FULFILMENT_CAP)
                })
                .collect();
            let fulfilment =
                (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64);
            let won = inputs.won.get(manager).copied().unwrap_or(0);
            let lost = inputs.lost.get(manager).copied().unwrap_or(0);
            let conversion = (won + lost > 0).then(|| won as f64 / (won + lost) as f64);
            let mut weighted = 0.0;
            let mut weight = 0.0;
            if let Some(f) = fulfilment {
                weighted += weights.plan * f.min(1.0);
                weight += weights.plan;
            }
            if let Some(c) = conversion {
                weighted += weights.conversion * c;
                weight += weights.conversion;
            }
            let score = if weight > 0.0 { weighted / weight } else { 0.0 };
            RatingLine {
                rank: 0,
                manager: manager.clone(),
                fulfilment: fulfilment.map(round4),
                won,
                lost,
                conversion: conversion.map(round4),
                score: round4(score),
            }
        })
        .collect();
    lines.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.manager.cmp(&b.manager))
    });
    for (i, line) in lines.iter_mut().enumerate() {
        line.rank = i + 1;
    }
    lines
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_decide_between_a_planner_and_a_closer() {
        let targets = vec![PlanTarget {
            plan_id: "p".into(),
            scope_kind: "manager".into(),
            scope_id: "a".into(),
            period_start: 0,
            period_end: 0,
            metric: PlanMetric::CallsMade,
            target: 10,
        }];
        let inputs = RatingInputs {
            targets,
            facts: HashMap::from([(("a".to_owned(), PlanMetric::CallsMade), 10)]),
            won: HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 3)]),
            lost: HashMap::from([("a".to_owned(), 3), ("b".to_owned(), 1)]),
        };
        let managers = ["a".to_owned(), "b".to_owned()];
        let plan_heavy = rank(
            &inputs,
            &managers,
            Weights {
                plan: 0.9,
                conversion: 0.1,
            },
        );
        assert_eq!(plan_heavy[0].manager, "a");
        assert_eq!(plan_heavy[0].score, 0.925);
        let closer = rank(
            &inputs,
            &managers,
            Weights {
                plan: 0.1,
                conversion: 0.9,
            },
        );
        assert_eq!(closer[0].manager, "b");
        assert_eq!(closer[0].conversion, Some(0.75));
        assert_eq!(closer[1].rank, 2);
    }
}
