//! Which image registries a node may pull from. A registry on loopback (`localhost`,
//! `127.0.0.0/8`, `::1`, `0.0.0.0`) is *this host's* registry: an app naming one runs
//! whatever the node operator (or anything else on the host) put there, under the app
//! owner's name, so the same spec runs different code on every node. A production node
//! refuses them; a local testnet or test suite, where every node shares one registry on
//! loopback, lists it in `docker.loopback_registries`.
//!
//! Only the literal host is checked: a public DNS name that resolves to 127.0.0.1 is not
//! recognised (the engine resolves it, not this process).

use std::net::IpAddr;

use super::error::RuntimeError;
use super::plan::{AppPlan, registry_of};

/// The registry of `repotag` when it is on loopback, else `None`.
pub fn loopback_registry(repotag: &str) -> Option<&str> {
    let registry = registry_of(repotag);
    let host = match registry.strip_prefix('[') {
        // `[::1]:5000`
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    loopback.then_some(registry)
}

/// Refuses a plan with an image from a loopback registry that `allowed` does not list
/// (exact `host:port`, as written in the image reference).
pub fn check_registries(plan: &AppPlan, allowed: &[String]) -> Result<(), RuntimeError> {
    for (i, c) in plan.components.iter().enumerate() {
        if let Some(reg) = loopback_registry(&c.repotag) {
            if !allowed.iter().any(|a| a == reg) {
                return Err(RuntimeError::InvalidPlan {
                    app: plan.app.clone(),
                    field: format!("components[{i}].repotag"),
                    reason: format!(
                        "registry {reg} is on this host's loopback; this node pulls from loopback \
                         registries only when docker.loopback_registries lists them"
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for r in [
            "localhost:5000/a/b",
            "127.0.0.1:5000/a:1",
            "127.1.2.3/x",
            "[::1]:5000/a",
            "0.0.0.0:5000/a",
        ] {
            assert!(loopback_registry(r).is_some(), "{r}");
        }
        for r in [
            "busybox",
            "ghcr.io/a/b",
            "10.0.0.1:5000/a",
            "fluxregistry:5000/a",
        ] {
            assert!(loopback_registry(r).is_none(), "{r}");
        }
    }

    #[test]
    fn only_listed_loopback_registries_pass() {
        let mut plan = AppPlan {
            app: "web".into(),
            spec_hash: "h".into(),
            components: vec![crate::runtime::ComponentPlan {
                repotag: "127.0.0.1:5000/x/y:1".into(),
                ..crate::runtime::plan::tests::component("front")
            }],
        };
        let err = check_registries(&plan, &[]).unwrap_err().to_string();
        assert!(err.contains("components[0].repotag"), "{err}");
        assert!(err.contains("docker.loopback_registries"), "{err}");
        check_registries(&plan, &["127.0.0.1:5000".into()]).unwrap();
        assert!(check_registries(&plan, &["127.0.0.1:5001".into()]).is_err());
        plan.components[0].repotag = "ghcr.io/x/y:1".into();
        check_registries(&plan, &[]).unwrap();
    }

    #[tokio::test]
    async fn the_runtime_refuses_before_pulling() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = crate::runtime::RuntimeConfig::new("n", "127.0.0.1");
        // No engine needed: the refusal comes first.
        cfg.docker_socket = dir.path().join("no.sock").display().to_string();
        let store = crate::store::Store::open(dir.path().join("db")).unwrap();
        let rt = crate::runtime::Runtime::new(cfg, store);
        let plan = AppPlan {
            app: "web".into(),
            spec_hash: "h".into(),
            components: vec![crate::runtime::ComponentPlan {
                repotag: "localhost:5000/x/y:1".into(),
                ..crate::runtime::plan::tests::component("front")
            }],
        };
        for err in [
            rt.prepare(&plan).await.unwrap_err(),
            rt.start_app(plan).await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, RuntimeError::InvalidPlan { field, .. } if field == "components[0].repotag"),
                "{err}"
            );
        }
    }
}
