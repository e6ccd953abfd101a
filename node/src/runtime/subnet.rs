//! App network subnets: every app network gets its own small subnet from a configured pool,
//! like FluxOS (a /24 per app from 172.23.0.0/16, lowest free one first), so one host
//! holds hundreds of app networks. Without this Docker takes a /16 or /20 per network from
//! its default address pools and runs out after about 31 networks per engine.
//!
//! The engine is the one source of truth for what is taken: the lowest pool subnet that
//! overlaps none of the engine's networks is chosen at creation time. Several daemons may
//! share one engine (a testnet) and pick the same subnet at once; Docker then refuses the
//! second with "Pool overlaps with other one on this address space", and that daemon tries
//! a free subnet drawn at random among the lowest free ones: trying the next lowest, 20
//! daemons preparing networks for the same burst of apps all chased the same subnets and
//! some gave up after 16 collisions (`scripts/scale.sh 20`).

use std::net::Ipv4Addr;

use bollard::Docker;
use bollard::models::{Ipam, IpamConfig};
use bollard::query_parameters::ListNetworksOptions;
use ipnet::Ipv4Net;

use super::error::{Op, RuntimeError};
use super::{AppPlan, Runtime, container};

/// FluxOS's pool and per-app size: 172.23.0.0/16 in /24s, 256 app networks per host.
pub const DEFAULT_POOL: &str = "172.23.0.0/16";
pub const DEFAULT_PREFIX: u8 = 24;

/// Creation attempts when other daemons on the engine take the chosen subnets first. Each
/// loser of a race moves on to a subnet that was free when it listed.
const MAX_ATTEMPTS: usize = 16;

/// After a collision, the next subnet is drawn among this many lowest free ones.
const SCATTER: u64 = 64;

/// The pool app subnets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetPool {
    pub pool: Ipv4Net,
    /// Prefix length of each app's subnet.
    pub prefix: u8,
}

impl Default for SubnetPool {
    fn default() -> Self {
        Self {
            pool: DEFAULT_POOL.parse().expect("the default pool parses"),
            prefix: DEFAULT_PREFIX,
        }
    }
}

impl SubnetPool {
    /// Checks that `prefix` carves at least one usable subnet out of `pool`. The error
    /// says what is wrong, for the config field that holds it.
    pub fn new(pool: Ipv4Net, prefix: u8) -> Result<Self, String> {
        if prefix < pool.prefix_len() {
            return Err(format!(
                "per-app prefix /{prefix} is larger than the pool {pool}"
            ));
        }
        // A /30 holds a gateway and one container; anything smaller holds no container.
        if prefix > 30 {
            return Err(format!(
                "per-app prefix /{prefix} leaves no room for containers (at most /30)"
            ));
        }
        Ok(Self {
            pool: pool.trunc(),
            prefix,
        })
    }

    /// How many app subnets the pool holds.
    pub fn capacity(&self) -> u64 {
        1u64 << (self.prefix - self.pool.prefix_len())
    }

    /// The lowest subnet of the pool that overlaps none of `taken`.
    pub fn pick(&self, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
        self.pick_nth(taken, 0)
    }

    /// The `n`-th lowest free subnet (from 0), or the highest free one when fewer are free.
    pub fn pick_nth(&self, taken: &[Ipv4Net], n: u64) -> Option<Ipv4Net> {
        let mut free = self
            .pool
            .subnets(self.prefix)
            .ok()?
            .filter(|s| !taken.iter().any(|t| overlaps(s, t)));
        let mut last = free.next()?;
        for _ in 0..n {
            match free.next() {
                Some(s) => last = s,
                None => break,
            }
        }
        Some(last)
    }
}

/// A random number from the standard library's per-process random hasher keys.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The gateway Docker would choose: the subnet's first host address.
fn gateway(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1))
}

/// Whether Docker refused a network because its subnet is taken (by a network created
/// after we listed).
fn is_overlap(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { message, .. }
        if message.to_ascii_lowercase().contains("overlap"))
}

impl Runtime {
    /// Creates `plan`'s network on the lowest free subnet of the pool.
    pub(crate) async fn create_app_network(
        &self,
        docker: &Docker,
        plan: &AppPlan,
    ) -> Result<Ipv4Net, RuntimeError> {
        let pool = self.inner.cfg.subnet_pool;
        let mut lost: Vec<Ipv4Net> = Vec::new();
        for attempt in 0..MAX_ATTEMPTS {
            let mut taken = self.engine_subnets(docker).await?;
            taken.extend(lost.iter().copied());
            // First the lowest free subnet (FluxOS's choice); after losing a race, one of
            // the lowest free ones at random, so racing daemons stop chasing each other.
            let nth = if attempt == 0 { 0 } else { random() % SCATTER };
            let Some(subnet) = pool.pick_nth(&taken, nth) else {
                return Err(RuntimeError::SubnetPoolExhausted {
                    pool: pool.pool.to_string(),
                    prefix: pool.prefix,
                    capacity: pool.capacity(),
                });
            };
            let mut request = container::network_request(plan, &self.ctx());
            request.ipam = Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    gateway: Some(gateway(&subnet).to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            });
            match docker.create_network(request).await {
                Ok(_) => return Ok(subnet),
                Err(e) if is_overlap(&e) => {
                    tracing::debug!(app = %plan.app, %subnet, "subnet taken meanwhile; trying another");
                    lost.push(subnet);
                }
                Err(e) => {
                    return Err(self
                        .inner
                        .engine
                        .classify(e, Op::Other("creating the app network")));
                }
            }
        }
        Err(RuntimeError::Docker {
            op: "creating the app network".into(),
            status: 0,
            message: format!(
                "{MAX_ATTEMPTS} free subnets of {} were taken by other networks while trying",
                pool.pool
            ),
        })
    }

    /// IPv4 subnets of every network on the engine (any owner: a subnet used by something
    /// else is just as unavailable).
    async fn engine_subnets(&self, docker: &Docker) -> Result<Vec<Ipv4Net>, RuntimeError> {
        let networks = docker
            .list_networks(None::<ListNetworksOptions>)
            .await
            .map_err(|e| self.inner.engine.classify(e, Op::Other("listing networks")))?;
        Ok(networks
            .iter()
            .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
            .flatten()
            .filter_map(|c| c.subnet.as_deref()?.parse::<Ipv4Net>().ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn default_is_fluxos_pool_of_256() {
        let p = SubnetPool::default();
        assert_eq!(p.pool, net("172.23.0.0/16"));
        assert_eq!(p.capacity(), 256);
        assert_eq!(p.pick(&[]), Some(net("172.23.0.0/24")));
    }

    #[test]
    fn picks_the_lowest_free_subnet() {
        let p = SubnetPool::default();
        let taken = [
            net("172.23.0.0/24"),
            net("172.23.2.0/24"),
            net("172.17.0.0/16"),
        ];
        assert_eq!(p.pick(&taken), Some(net("172.23.1.0/24")));
        // A wider network covering the start of the pool takes all its /24s.
        assert_eq!(p.pick(&[net("172.23.0.0/20")]), Some(net("172.23.16.0/24")));
        // A network covering the whole pool leaves nothing.
        assert_eq!(p.pick(&[net("172.16.0.0/12")]), None);
    }

    #[test]
    fn nth_free_subnet_skips_taken_ones_and_stops_at_the_last() {
        let p = SubnetPool::new(net("10.9.0.0/22"), 24).unwrap();
        let taken = [net("10.9.1.0/24")];
        assert_eq!(p.pick_nth(&taken, 0), Some(net("10.9.0.0/24")));
        assert_eq!(p.pick_nth(&taken, 1), Some(net("10.9.2.0/24")));
        assert_eq!(p.pick_nth(&taken, 2), Some(net("10.9.3.0/24")));
        assert_eq!(p.pick_nth(&taken, 50), Some(net("10.9.3.0/24")));
        assert_ne!(random(), random(), "fresh keys each call");
    }

    #[test]
    fn exhausted_pool_picks_nothing() {
        let p = SubnetPool::new(net("10.9.0.0/23"), 24).unwrap();
        assert_eq!(p.capacity(), 2);
        let taken = [net("10.9.0.0/24"), net("10.9.1.0/24")];
        assert_eq!(p.pick(&taken), None);
    }

    #[test]
    fn bad_prefixes_are_refused() {
        assert!(SubnetPool::new(net("10.0.0.0/24"), 16).is_err());
        assert!(SubnetPool::new(net("10.0.0.0/24"), 31).is_err());
        let p = SubnetPool::new(net("10.0.0.7/24"), 28).unwrap();
        assert_eq!(p.pool, net("10.0.0.0/24"), "host bits cleared");
        assert_eq!(
            gateway(&net("10.0.0.16/28")),
            "10.0.0.17".parse::<Ipv4Addr>().unwrap()
        );
    }
}
