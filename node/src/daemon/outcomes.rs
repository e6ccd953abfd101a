//! What happened when this node tried to run an app it won: starting, running, or why the
//! start failed (the image pull was refused, the engine refused the container, or the app
//! cannot run on this node at all). `explain` shows it per node instead of the scheduler's
//! "placed" for an app that never ran.
//!
//! Only this node's own attempts are known here; for other nodes `explain` shows what
//! their running reports say.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::runtime::RuntimeError;

/// The last outcome of each app this node was assigned.
#[derive(Debug, Default)]
pub struct Outcomes(BTreeMap<Arc<str>, String>);

/// Outcomes are kept for at most this many apps (a node hosts tens): the oldest names
/// in key order go first, so a flood of failing apps cannot grow the map without bound.
const MAX_KEPT: usize = 1_000;

impl Outcomes {
    pub fn starting(&mut self, app: &Arc<str>) {
        self.set(app, "starting".into());
    }

    pub fn running(&mut self, app: &Arc<str>) {
        self.set(app, "running".into());
    }

    /// The start failed with `e`.
    pub fn failed(&mut self, app: &Arc<str>, e: &RuntimeError) {
        self.set(app, describe(e));
    }

    /// The app cannot run on this node (its spec does not make a plan here).
    pub fn not_runnable(&mut self, app: &Arc<str>, why: &str) {
        self.set(app, format!("refused by this node: {why}"));
    }

    pub fn get(&self, app: &str) -> Option<&str> {
        self.0.get(app).map(String::as_str)
    }

    fn set(&mut self, app: &Arc<str>, text: String) {
        if self.0.len() >= MAX_KEPT && !self.0.contains_key(app) {
            self.0.pop_first();
        }
        self.0.insert(app.clone(), text);
    }
}

/// "pull refused: …", "start refused: …" or "refused by this node: …".
pub fn describe(e: &RuntimeError) -> String {
    match e {
        RuntimeError::ImageNotFound { .. } | RuntimeError::RegistryAuth { .. } => {
            format!("pull refused: {e}")
        }
        RuntimeError::Timeout { op, .. } | RuntimeError::OutOfDisk { op, .. }
            if op.contains("pull") =>
        {
            format!("pull refused: {e}")
        }
        RuntimeError::InvalidPlan { .. } => format!("refused by this node: {e}"),
        _ => format!("start refused: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_say_what_was_refused() {
        let mut o = Outcomes::default();
        let app: Arc<str> = Arc::from("web");
        o.starting(&app);
        assert_eq!(o.get("web"), Some("starting"));
        o.failed(
            &app,
            &RuntimeError::ImageNotFound {
                image: "r/x:1".into(),
                message: "manifest unknown".into(),
            },
        );
        assert!(
            o.get("web")
                .unwrap()
                .starts_with("pull refused: image r/x:1")
        );
        o.failed(
            &app,
            &RuntimeError::PortTaken {
                container: "fluxweb_web".into(),
                message: "address already in use".into(),
            },
        );
        assert!(
            o.get("web")
                .unwrap()
                .starts_with("start refused: host port")
        );
        o.running(&app);
        assert_eq!(o.get("web"), Some("running"));
    }
}
