//! The app ledger with real daemons (heavy tier: Docker, the local registry, several
//! daemons; run under `flock /tmp/fluxnode-heavy.lock`). Loopback bases 100..119.
//!
//! - A node that was down while 1,000 apps were registered and 300 cancelled holds the
//!   same ledger (same digest) as the others within 30 s of coming back, and refuses a
//!   registration of a name it was told about.
//! - The same name registered by two owner keys through two nodes at the same instant,
//!   20 rounds, then once across a partition (iptables) that heals: every node reports
//!   the same owner and spec within 10 s, and only that spec's containers run.
//!
//! Both print their figures (`--nocapture`): the join time, and the worst time to one
//! owner everywhere.

mod cluster;

use std::process::Command;
use std::time::{Duration, Instant};

use cluster::{Cluster, web_spec};
use fluxnode::api::client::ApiClient;
use proto::keys::Keypair;
use proto::message::{AppCancel, AppRegistration, OwnerSigned};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A spec no test node can host (they sit in EU, NA and AS): registered, never placed,
/// so 1,000 of them cost the ledger and no containers.
fn unplaceable_spec(name: &str, port: u16) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&web_spec(name, 3, port, 5_000)).unwrap();
    v["geolocation"] = serde_json::json!(["acSA"]);
    v.to_string()
}

fn ledger_of(c: &Cluster, i: usize) -> Option<(u64, String)> {
    let v = c.nodes[i].get("/api/v1/node")?;
    Some((
        v["ledger"]["apps"].as_u64()?,
        v["ledger"]["digest"].as_str()?.to_string(),
    ))
}

#[test]
#[ignore = "full tier: needs Docker and the local registry"]
fn a_node_back_after_1000_registrations_and_300_cancels_holds_the_same_ledger() {
    let c = Cluster::start(3, 100, &[]);
    c.wait_ready(Duration::from_secs(90));
    let mut c = c;
    c.nodes[2].kill9();
    let rt = rt();
    let api = ApiClient::new(&c.nodes[0].api_url()).unwrap();
    let height = rt.block_on(api.node()).unwrap().height;
    let owner = Keypair::from_seed(&[21; 32]);
    let regs: Vec<OwnerSigned<AppRegistration>> = (0..1_000u16)
        .map(|i| {
            OwnerSigned::sign(
                &owner,
                now_ms(),
                AppRegistration {
                    spec_json: unplaceable_spec(&format!("led{i}"), 31_000 + i),
                    registered_height: height,
                },
            )
        })
        .collect();
    let t = Instant::now();
    rt.block_on(async {
        for r in &regs {
            api.register(r).await.unwrap();
        }
        for i in 0..300 {
            let name = format!("led{i}");
            let cancel = OwnerSigned::sign(&owner, now_ms(), AppCancel { app: name.clone() });
            api.cancel(&name, &cancel).await.unwrap();
        }
    });
    eprintln!(
        "1,000 registrations and 300 cancels sent in {:?}",
        t.elapsed()
    );
    // A cancel ends its app: the 300 leave the ledgers (tombstones refuse replays).
    let want = c.wait_for(
        "node 2 to hold node 1's ledger",
        Duration::from_secs(60),
        || {
            let (a, b) = (ledger_of(&c, 0)?, ledger_of(&c, 1)?);
            (a == b && a.0 == 700).then_some(a)
        },
    );

    // Node 3 comes back having missed all of it.
    let t = Instant::now();
    c.nodes[2].spawn();
    let got = c.wait_for(
        "node 3 to hold the same ledger",
        Duration::from_secs(60),
        || ledger_of(&c, 2).filter(|l| *l == want),
    );
    let took = t.elapsed();
    println!(
        "join: node 3 (restarted, none of the 1,000 registrations and 300 cancels seen) holds the same ledger {got:?} {:.1} s after its start",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    // Cancelled apps are gone there as everywhere, live ones live; a taken name (any
    // case) is refused.
    let api3 = ApiClient::new(&c.nodes[2].api_url()).unwrap();
    assert!(c.nodes[2].get("/api/v1/apps/led7").is_none());
    assert!(c.nodes[0].get("/api/v1/apps/led7").is_none());
    assert!(!rt.block_on(api3.app("led700")).unwrap().cancelled);
    let other = Keypair::from_seed(&[22; 32]);
    let height = rt.block_on(api3.node()).unwrap().height;
    let hijack = OwnerSigned::sign(
        &other,
        now_ms(),
        AppRegistration {
            spec_json: unplaceable_spec("LED700", 32_700),
            registered_height: height,
        },
    );
    let err = rt.block_on(api3.register(&hijack)).unwrap_err().to_string();
    assert!(err.contains("taken"), "{err}");
}

/// Spec hashes of the running containers of this cluster for `app`.
fn running_specs(c: &Cluster, app: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "--filter",
            &format!("label=io.fluxnode.testrun={}", c.run_label),
            "--filter",
            &format!("label=io.fluxnode.app={app}"),
            "--format",
            "{{.Label \"io.fluxnode.spec-hash\"}}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "full tier: needs Docker, the local registry and iptables"]
fn one_name_registered_by_two_owners_at_once_ends_with_one_owner_everywhere() {
    let rounds: usize = std::env::var("FLUXNODE_LEDGER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let c = Cluster::start(3, 104, &[]);
    c.wait_ready(Duration::from_secs(90));
    let rt = rt();
    let apis: Vec<ApiClient> = c
        .nodes
        .iter()
        .map(|n| ApiClient::new(&n.api_url()).unwrap())
        .collect();
    let (alice, bob) = (Keypair::from_seed(&[31; 32]), Keypair::from_seed(&[32; 32]));
    let mut worst = Duration::ZERO;
    for r in 0..rounds {
        let name = format!("race{r}");
        let height = rt.block_on(apis[0].node()).unwrap().height;
        let sign = |k: &Keypair, port: u16| {
            OwnerSigned::sign(
                k,
                now_ms(),
                AppRegistration {
                    spec_json: web_spec(&name, 3, port, 5_000),
                    registered_height: height,
                },
            )
        };
        let (ra, rb) = (
            sign(&alice, 32_000 + r as u16),
            sign(&bob, 32_500 + r as u16),
        );
        let t = Instant::now();
        let (a, b) =
            rt.block_on(async { tokio::join!(apis[0].register(&ra), apis[1].register(&rb)) });
        assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
        let (owner, spec) = c.wait_for(
            &format!("one owner of {name} on every node"),
            Duration::from_secs(10),
            || {
                let seen: Vec<(String, String)> = apis
                    .iter()
                    .filter_map(|api| rt.block_on(api.app(&name)).ok())
                    .map(|s| (s.owner, s.spec.to_string()))
                    .collect();
                (seen.len() == 3 && seen.iter().all(|s| *s == seen[0])).then(|| seen[0].clone())
            },
        );
        worst = worst.max(t.elapsed());
        let winner = if owner == alice.public().node_id() {
            &ra
        } else {
            assert_eq!(owner, bob.public().node_id());
            &rb
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&winner.action.spec_json).unwrap(),
            serde_json::from_str::<serde_json::Value>(&spec).unwrap()
        );
        // Only the winner's spec runs, on three nodes.
        let hash = proto::message::SpecHash::of(winner.action.spec_json.as_bytes()).to_string();
        let specs = c.wait_for(
            &format!("3 containers of {name}"),
            Duration::from_secs(60),
            || {
                let s = running_specs(&c, &name);
                (s.len() == 3).then_some(s)
            },
        );
        assert!(specs.iter().all(|s| *s == hash), "{specs:?} vs {hash}");
        // Cancelled by its owner to keep the engine light for the next round.
        let key = if std::ptr::eq(winner, &ra) {
            &alice
        } else {
            &bob
        };
        let cancel = OwnerSigned::sign(key, now_ms(), AppCancel { app: name.clone() });
        rt.block_on(apis[2].cancel(&name, &cancel)).unwrap();
        c.wait_for(&format!("{name} removed"), Duration::from_secs(60), || {
            running_specs(&c, &name).is_empty().then_some(())
        });
        // Each node's own account after the cancel, printed when something is still held:
        // it shows here first when a later round cannot find room.
        let nothing = serde_json::json!({"cpu": 0.0, "hdd": 0, "ram": 0});
        let held: Vec<String> = c
            .nodes
            .iter()
            .filter_map(|n| {
                let v = n.get("/api/v1/node")?;
                let cap = &v["capacity"];
                (cap["used"] != nothing || cap["reserved"] != nothing).then(|| {
                    format!(
                        "used {} reserved {} free {}",
                        cap["used"], cap["reserved"], cap["free"]
                    )
                })
            })
            .collect();
        if !held.is_empty() {
            println!("after {name}: {held:?}");
        }
    }
    println!(
        "conflict: {rounds} rounds of two owners registering one name at once: every node agreed on one owner and spec within {:.2} s at worst",
        worst.as_secs_f64()
    );

    // Once across a partition: node 1 alone, nodes 2 and 3 together. Each side takes its
    // own owner's registration (and starts its instances); after the heal one owner
    // holds the name everywhere and only its spec runs.
    let name = "racesplit";
    let mut cut = Partition::isolate(c.p2p_port(0));
    c.wait_for("node 1 cut off", Duration::from_secs(60), || {
        let peers = |i: usize| c.nodes[i].get("/api/v1/node")?["peers"].as_u64();
        (peers(0)? == 0 && peers(1)? == 1 && peers(2)? == 1).then_some(())
    });
    let height = rt.block_on(apis[0].node()).unwrap().height;
    let sign = |k: &Keypair, port: u16| {
        OwnerSigned::sign(
            k,
            now_ms(),
            AppRegistration {
                spec_json: web_spec(name, 3, port, 5_000),
                registered_height: height,
            },
        )
    };
    let (ra, rb) = (sign(&alice, 32_400), sign(&bob, 32_900));
    let (a, b) = rt.block_on(async { tokio::join!(apis[0].register(&ra), apis[1].register(&rb)) });
    assert!(
        a.is_ok() && b.is_ok(),
        "each side accepts its own: {a:?} {b:?}"
    );
    let owner_on = |i: usize| rt.block_on(apis[i].app(name)).ok().map(|s| s.owner);
    c.wait_for(
        "each side to hold its own owner",
        Duration::from_secs(20),
        || {
            let (o0, o1, o2) = (owner_on(0)?, owner_on(1)?, owner_on(2)?);
            (o0 == alice.public().node_id() && o1 == bob.public().node_id() && o2 == o1)
                .then_some(())
        },
    );
    // Both sides start instances of their own spec.
    let hash_a = proto::message::SpecHash::of(ra.action.spec_json.as_bytes()).to_string();
    let hash_b = proto::message::SpecHash::of(rb.action.spec_json.as_bytes()).to_string();
    c.wait_for("instances of both specs", Duration::from_secs(60), || {
        let s = running_specs(&c, name);
        (s.contains(&hash_a) && s.contains(&hash_b)).then_some(())
    });
    let healed = Instant::now();
    cut.heal();
    let reconnected = c.wait_for("node 1 reconnected", Duration::from_secs(60), || {
        let peers = c.nodes[0].get("/api/v1/node")?["peers"].as_u64()?;
        (peers == 2).then(|| healed.elapsed())
    });
    let (owner, spec) = c.wait_for(
        "one owner of racesplit on every node after the heal",
        Duration::from_secs(40),
        || {
            let seen: Vec<(String, String)> = apis
                .iter()
                .filter_map(|api| rt.block_on(api.app(name)).ok())
                .map(|s| (s.owner, s.spec.to_string()))
                .collect();
            (seen.len() == 3 && seen.iter().all(|s| *s == seen[0])).then(|| seen[0].clone())
        },
    );
    let agreed = healed.elapsed();
    let (winner, loser_hash) = if owner == alice.public().node_id() {
        (&ra, &hash_b)
    } else {
        (&rb, &hash_a)
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&winner.action.spec_json).unwrap(),
        serde_json::from_str::<serde_json::Value>(&spec).unwrap()
    );
    let hash = proto::message::SpecHash::of(winner.action.spec_json.as_bytes()).to_string();
    c.wait_for(
        "3 containers of the winner's spec, none of the loser's",
        Duration::from_secs(60),
        || {
            let s = running_specs(&c, name);
            (s.len() == 3 && s.iter().all(|h| *h == hash)).then_some(())
        },
    );
    let serving = healed.elapsed();
    assert!(!running_specs(&c, name).contains(loser_hash));
    println!(
        "partition: healed; node 1 reconnected after {:.1} s, every node agreed on one owner {:.1} s after the heal ({:.1} s after reconnecting); only the winner's 3 containers ran {:.1} s after the heal",
        reconnected.as_secs_f64(),
        agreed.as_secs_f64(),
        agreed.saturating_sub(reconnected).as_secs_f64(),
        serving.as_secs_f64()
    );
    assert!(
        agreed.saturating_sub(reconnected) < Duration::from_secs(10),
        "{agreed:?} after the heal, {reconnected:?} to reconnect"
    );
}

/// Drops every TCP packet to or from one daemon's p2p port on loopback (its inbound
/// connections, and its outbound ones: libp2p reuses the listen port as their source),
/// until healed or dropped.
struct Partition {
    rules: Vec<Vec<String>>,
}

impl Partition {
    fn isolate(port: u16) -> Partition {
        let port = port.to_string();
        let mut p = Partition { rules: Vec::new() };
        for dir in ["--dport", "--sport"] {
            let rule: Vec<String> = ["INPUT", "-i", "lo", "-p", "tcp", dir, &port, "-j", "DROP"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let out = Command::new("iptables")
                .arg("-I")
                .args(&rule)
                .output()
                .unwrap();
            assert!(out.status.success(), "iptables: {out:?}");
            p.rules.push(rule);
        }
        p
    }

    fn heal(&mut self) {
        for rule in self.rules.drain(..) {
            let _ = Command::new("iptables").arg("-D").args(&rule).output();
        }
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.heal();
    }
}
