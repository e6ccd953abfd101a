//! Turning a Flux [`AppSpec`] (v1–v8, already normalised by `proto`) into the runtime's
//! [`AppPlan`].
//!
//! Resources are the spec's plain `cpu`/`ram`/`hdd` — the values [`AppSpec::totals`] sums
//! and the scheduler prices — never the per-tier ones: a tiered v1–v7 spec runs with its
//! plain values on every tier.

use proto::spec::{AppSpec, Component};

use super::error::RuntimeError;
use super::plan::{AppPlan, ComponentPlan, RegistryAuth};

impl AppPlan {
    /// Builds the plan of `spec`, components in spec order, and checks it with
    /// [`AppPlan::validate`]. `spec_hash` is recorded as is (normally
    /// [`AppSpec::spec_hash`]).
    ///
    /// Refused, with the field named: an enterprise spec still in its encrypted on-chain
    /// form (nothing to run until it is decrypted), a component with PGP-encrypted
    /// `secrets` (this node holds no key to decrypt them, and running without them would
    /// start the app misconfigured), and anything `validate` rejects (e.g. a
    /// `containerData` prefix this runtime does not understand).
    pub fn from_spec(spec: &AppSpec, spec_hash: &str) -> Result<AppPlan, RuntimeError> {
        let bad = |field: String, reason: &str| RuntimeError::InvalidPlan {
            app: spec.name.clone(),
            field,
            reason: reason.to_owned(),
        };
        if spec.is_encrypted() {
            return Err(bad(
                "enterprise".into(),
                "the specification is still encrypted; only a decrypted spec can run",
            ));
        }
        let mut components = Vec::with_capacity(spec.compose.len());
        for (i, c) in spec.compose.iter().enumerate() {
            if c.secrets.as_deref().is_some_and(|s| !s.trim().is_empty()) {
                return Err(bad(
                    format!("components[{i}].secrets"),
                    "PGP-encrypted secrets cannot be decrypted on this node",
                ));
            }
            components.push(component_plan(c));
        }
        let plan = AppPlan {
            app: spec.name.clone(),
            spec_hash: spec_hash.to_owned(),
            components,
        };
        plan.validate()?;
        Ok(plan)
    }
}

fn component_plan(c: &Component) -> ComponentPlan {
    ComponentPlan {
        name: c.name.clone(),
        repotag: c.repotag.clone(),
        // Flux writes `""` for "no credentials".
        repoauth: c
            .repoauth
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|a| RegistryAuth(a.to_owned())),
        ports: c.ports.clone(),
        container_ports: c.container_ports.clone(),
        env: c.environment_parameters.clone(),
        commands: c.commands.clone(),
        container_data: c.container_data.clone(),
        cpu: c.cpu,
        ram_mb: c.ram,
        hdd_gb: c.hdd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ErrorKind;

    fn fixture(name: &str) -> AppSpec {
        let path = format!(
            "{}/../proto/tests/data/flux-specs/valid/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        AppSpec::from_json(&bytes).unwrap()
    }

    #[test]
    fn v3_single_component_named_after_the_app() {
        let spec = fixture("v3-bitcoinwhitepaper.json");
        let plan = AppPlan::from_spec(&spec, &spec.spec_hash()).unwrap();
        assert_eq!(plan.app, "BitcoinWhitepaper");
        assert_eq!(plan.spec_hash, spec.spec_hash());
        assert_eq!(plan.components.len(), 1);
        let c = &plan.components[0];
        assert_eq!(c.name, "BitcoinWhitepaper");
        assert_eq!(c.repotag, "littlestache/bitcoinwhitepaper:latest");
        assert_eq!(
            (c.ports.clone(), c.container_ports.clone()),
            (vec![35051], vec![80])
        );
        assert_eq!(c.container_data, "/bitcoinwhitepaper");
        assert_eq!((c.cpu, c.ram_mb, c.hdd_gb), (0.1, 100, 1));
        assert!(c.repoauth.is_none() && c.env.is_empty() && c.commands.is_empty());
    }

    #[test]
    fn v7_three_components_in_spec_order() {
        let spec = fixture("v7-syslogv2test-3comp-log-collect-send.json");
        let plan = AppPlan::from_spec(&spec, "h7").unwrap();
        let names: Vec<&str> = plan.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["collector", "sender1", "sender2"]);
        let c = &plan.components[1];
        assert_eq!(c.env, ["LOG=SEND"]);
        assert_eq!(c.commands[0], "/bin/sh");
        assert_eq!(
            (c.ports.clone(), c.container_ports.clone()),
            (vec![37663], vec![37663])
        );
        // `repoauth: ""` means no credentials.
        assert!(plan.components.iter().all(|c| c.repoauth.is_none()));
        let cpu: f64 = plan.components.iter().map(|c| c.cpu).sum();
        assert!((cpu - spec.totals().cpu).abs() < 1e-9);
    }

    #[test]
    fn v8_cross_component_mount_and_tiered_plain_values() {
        let spec = fixture("v8-valheim-flux-2comp-g-mount-index-ref.json");
        let plan = AppPlan::from_spec(&spec, "h8").unwrap();
        assert_eq!(plan.components.len(), spec.compose.len());
        assert!(
            plan.components
                .iter()
                .any(|c| c.container_data.contains("0:/"))
        );

        let spec = fixture("v4-wbo-marketplace-tiered.json");
        let plan = AppPlan::from_spec(&spec, "h4").unwrap();
        for (p, c) in plan.components.iter().zip(&spec.compose) {
            assert_eq!((p.cpu, p.ram_mb, p.hdd_gb), (c.cpu, c.ram, c.hdd));
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let spec = fixture("v8-fluxtracker-enterprise-encrypted-public-form.json");
        let err = AppPlan::from_spec(&spec, "h").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidPlan);
        assert!(err.to_string().contains("`enterprise`"), "{err}");

        let spec = fixture("v7-abioticfactor-targeted-nodes-pgp-secrets.json");
        let err = AppPlan::from_spec(&spec, "h").unwrap_err().to_string();
        assert!(err.contains("components[0].secrets"), "{err}");

        // `m:` mounts are not supported by this runtime: validate's error comes through.
        let spec = fixture("v8-palworld-2-instances-g-and-m-mounts-geo-asia.json");
        let err = AppPlan::from_spec(&spec, "h").unwrap_err().to_string();
        assert!(err.contains("containerData"), "{err}");

        let mut spec = fixture("v8-cloudmcp-1comp.json");
        spec.compose[0].repoauth = Some("alice:pw".into());
        let plan = AppPlan::from_spec(&spec, "h").unwrap();
        assert_eq!(
            plan.components[0].repoauth,
            Some(RegistryAuth("alice:pw".into()))
        );
    }
}

#[cfg(test)]
mod survey {
    use super::*;
    use crate::runtime::ErrorKind;

    /// Every valid fixture either becomes a valid plan or is refused as `InvalidPlan` for a
    /// reason this runtime documents.
    #[test]
    fn every_valid_fixture_converts_or_is_refused_with_a_reason() {
        let dir = format!(
            "{}/../proto/tests/data/flux-specs/valid",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut refused = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let spec = AppSpec::from_json(&std::fs::read(&path).unwrap()).unwrap();
            if let Err(e) = AppPlan::from_spec(&spec, "h") {
                assert_eq!(e.kind(), ErrorKind::InvalidPlan, "{}", path.display());
                refused.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        refused.sort();
        // Encrypted forms, `m:` mounts, and names too long for a hostname / DNS label.
        assert_eq!(
            refused,
            [
                "v7-abioticfactor-targeted-nodes-pgp-secrets.json",
                "v8-fluxtracker-enterprise-encrypted-public-form.json",
                "v8-name-63-chars-boundary.json",
                "v8-palworld-2-instances-g-and-m-mounts-geo-asia.json",
            ]
        );
    }
}
