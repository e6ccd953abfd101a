//! Why a node did or did not get an instance of an app.
//!
//! Runs the batch up to the app in question, so eligibility is judged against the free
//! capacity the app actually met (earlier apps may have filled the node), then compares
//! the node with the winners:
//!
//! - a winner of the node's own region that ranks higher → lost on quality to it;
//! - otherwise the node's continent (or country, or region) stayed uncovered because every
//!   slot went to a node that covered a new place and ranked higher → lost on spread at
//!   that level to the weakest such winner;
//! - otherwise → lost on quality to the weakest winner picked on quality.

use std::cmp::Ordering;
use std::fmt;

use crate::batch::{Batch, InputError};
use crate::eligibility::{Ineligible, check};
use crate::expiry::expiry_height;
use crate::model::{AppDemand, NodeInfo, Params, Running};
use crate::ranking::Ranker;
use crate::reconcile::StopReason;
use crate::spread::Level;

/// The verdict for one (app, node) pair.
#[derive(Debug, Clone, PartialEq)]
pub enum Explanation {
    /// The node gets a new instance; `level` is the pass that picked it.
    Placed { level: Level },
    /// The node's running instance stays.
    Kept,
    /// The node's running instance stops.
    Stopped(StopReason),
    /// The node may not host the app.
    Ineligible(Ineligible),
    /// The app needed no new instance: all wanted instances already run.
    NotNeeded { instances: u32 },
    /// The app is expired and gets no new instances until renewed.
    Expired { expiry_height: u64 },
    /// The node was eligible but `winner` ranked above it at `level`.
    Lost {
        level: Level,
        winner: String,
        winner_score: u64,
        node_score: u64,
    },
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Explanation::Placed { level } => {
                write!(f, "placed: picked in the {} pass", level.as_str())
            }
            Explanation::Kept => f.write_str("kept: its running instance stays"),
            Explanation::Stopped(why) => write!(f, "stopped: {why}"),
            Explanation::Ineligible(why) => write!(f, "ineligible: {why}"),
            Explanation::NotNeeded { instances } => write!(
                f,
                "not needed: all {instances} instances already run on other nodes"
            ),
            Explanation::Expired { expiry_height } => write!(
                f,
                "the app expired at height {expiry_height}; no new instances until renewed"
            ),
            Explanation::Lost {
                level: Level::Quality,
                winner,
                winner_score,
                node_score,
            } => write!(
                f,
                "lost on quality: winner {winner} scores {winner_score} (quality class below the best × 101 + free %), this node {node_score}"
            ),
            Explanation::Lost {
                level,
                winner,
                winner_score,
                node_score,
            } => write!(
                f,
                "lost on spread: every slot went to a node covering a new {lvl}, and the weakest of them, \
                 {winner} (score {winner_score}), still ranks above this node (score {node_score}); \
                 this node's {lvl} was already covered or came later",
                lvl = level.as_str()
            ),
        }
    }
}

/// Why no explanation could be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("no app named {0:?} in the app list")]
    UnknownApp(String),
    #[error("no node with id {0:?} in the node list")]
    UnknownNode(String),
}

/// Explains the outcome for `app_name` on `node_id` in the batch given by the inputs.
pub fn explain(
    nodes: &[NodeInfo],
    apps: &[AppDemand],
    running: &[Running],
    params: &Params,
    app_name: &str,
    node_id: &str,
) -> Result<Explanation, ExplainError> {
    let a = apps
        .iter()
        .position(|x| x.name == app_name)
        .ok_or_else(|| ExplainError::UnknownApp(app_name.to_string()))?;
    let n = nodes
        .iter()
        .position(|x| x.id == node_id)
        .ok_or_else(|| ExplainError::UnknownNode(node_id.to_string()))? as u32;
    let app = &apps[a];
    let mut batch = Batch::new(nodes, apps, running, params)?;
    while batch.peek().is_some_and(|next| next != a) {
        batch.step();
    }
    let free = batch.free(n as usize);
    let is_running = batch.running_of(a).contains(&n);
    let places = batch.places().to_vec();
    let scores = batch.scores().to_vec();
    let Some(outcome) = batch.step() else {
        return Err(ExplainError::UnknownApp(app_name.to_string()));
    };
    if outcome.kept.contains(&n) {
        return Ok(Explanation::Kept);
    }
    if let Some((_, why)) = outcome.stopped.iter().find(|(s, _)| *s == n) {
        return Ok(Explanation::Stopped(why.clone()));
    }
    if let Some(p) = outcome.placed.iter().find(|p| p.node == n) {
        return Ok(Explanation::Placed { level: p.level });
    }
    if let Err(why) = check(app, &nodes[n as usize], free, is_running, params) {
        return Ok(Explanation::Ineligible(why));
    }
    let need = (app.instances as usize).saturating_sub(outcome.kept.len());
    if need == 0 {
        return Ok(Explanation::NotNeeded {
            instances: app.instances,
        });
    }
    if outcome.placed.is_empty() && outcome.missing > 0 {
        // Eligible, yet nothing placed: only expiry stops a placement round like that.
        return Ok(Explanation::Expired {
            expiry_height: expiry_height(app.height, app.expire),
        });
    }

    let ranker = Ranker::new(&app.name);
    let rank = |x: u32, y: u32| {
        ranker.cmp(
            scores[x as usize],
            &nodes[x as usize].id,
            scores[y as usize],
            &nodes[y as usize].id,
        )
    };
    let weakest = |it: &mut dyn Iterator<Item = u32>| it.min_by(|&x, &y| rank(x, y));
    let me = places[n as usize];
    let winners: Vec<u32> = outcome
        .kept
        .iter()
        .copied()
        .chain(outcome.placed.iter().map(|p| p.node))
        .collect();
    let same_region_better =
        weakest(&mut winners.iter().copied().filter(|&w| {
            places[w as usize].region == me.region && rank(w, n) == Ordering::Greater
        }));
    let covered =
        |f: &dyn Fn(&crate::spread::Place) -> bool| winners.iter().any(|&w| f(&places[w as usize]));
    let (level, winner) = if let Some(w) = same_region_better {
        (Level::Quality, Some(w))
    } else {
        let level = if !covered(&|p| p.continent == me.continent) {
            Level::Continent
        } else if !covered(&|p| p.country == me.country) {
            Level::Country
        } else if !covered(&|p| p.region == me.region) {
            Level::Region
        } else {
            Level::Quality
        };
        let at_or_above = weakest(
            &mut outcome
                .placed
                .iter()
                .filter(|p| p.level <= level)
                .map(|p| p.node),
        );
        let any = weakest(&mut outcome.placed.iter().map(|p| p.node));
        (level, at_or_above.or(any))
    };
    let winner = winner.unwrap_or(n);
    Ok(Explanation::Lost {
        level,
        winner: nodes[winner as usize].id.clone(),
        winner_score: scores[winner as usize],
        node_score: scores[n as usize],
    })
}
