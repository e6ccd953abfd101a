//! From a validated Flux app spec to what the scheduler needs of it.

use proto::spec::AppSpec;

use crate::model::AppDemand;

impl AppDemand {
    /// The demand of `spec`, registered (or last renewed) at `height`.
    ///
    /// Resources are the spec's base totals over all components ([`AppSpec::totals`]);
    /// tiered components' per-tier figures are not used for placement because the tier the
    /// app needs is decided from those base totals, as FluxOS does. Geolocation entries
    /// that do not parse are skipped ([`proto::geo::GeoFilter::parse_lenient`]): FluxOS
    /// only checks their count and length, so specs on chain may hold any string.
    pub fn from_spec(spec: &AppSpec, height: u64) -> Self {
        let mut demand = AppDemand::new(spec.name.clone(), spec.instances, spec.totals())
            .with_geolocation(&spec.geolocation)
            .with_nodes(spec.nodes.iter().cloned());
        demand.height = height;
        demand.expire = spec.expire_blocks();
        demand
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::geo::Location;

    #[test]
    fn demand_carries_totals_geo_nodes_and_expiry() {
        let json = br#"{
            "version": 8, "name": "demo", "description": "d", "owner": "1abc",
            "instances": 4, "contacts": [], "geolocation": ["acEU", "a!cEU_FR"],
            "expire": 5000, "nodes": [], "staticip": false, "enterprise": "",
            "compose": [
              {"name": "web", "description": "", "repotag": "nginx:latest", "repoauth": "",
               "ports": [31000], "containerPorts": [80], "domains": [""],
               "environmentParameters": [], "commands": [], "containerData": "/data",
               "cpu": 0.5, "ram": 500, "hdd": 5},
              {"name": "db", "description": "", "repotag": "redis:7", "repoauth": "",
               "ports": [], "containerPorts": [], "domains": [],
               "environmentParameters": [], "commands": [], "containerData": "/data",
               "cpu": 1.2, "ram": 1000, "hdd": 10}
            ]}"#;
        let spec = AppSpec::from_json(json).unwrap();
        let d = AppDemand::from_spec(&spec, 1234);
        assert_eq!(d.name, "demo");
        assert_eq!(d.instances, 4);
        assert!((d.resources.cpu - 1.7).abs() < 1e-9);
        assert_eq!((d.resources.ram, d.resources.hdd), (1500, 15));
        assert_eq!((d.height, d.expire), (1234, 5000));
        assert!(d.geo.admits(&Location::parse("EU_DE_Hesse").unwrap()));
        assert!(!d.geo.admits(&Location::parse("EU_FR_Normandy").unwrap()));
        assert!(!d.geo.admits(&Location::parse("NA_US_Ohio").unwrap()));
    }
}
