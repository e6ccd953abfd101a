//! `fluxnode status` and `fluxnode peers`: what a running daemon reports about itself.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use proto::tier::Resources;

use super::remote::{ClientArgs, block_on, print_json, table};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct PeersArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let client = args.client.client()?;
    let n = block_on(async move { Ok(client.node().await?) })?;
    if args.client.json {
        return print_json(&n);
    }
    let running = n.hosted.iter().filter(|h| h.running).count();
    outln!("node:       {}", n.id);
    outln!("version:    {}", n.version);
    outln!("tier:       {}", n.tier);
    outln!("geo:        {}", n.geo);
    outln!("advertise:  {}", n.advertise_addr);
    outln!("height:     {}", n.height);
    outln!(
        "uptime:     {}",
        humantime::format_duration(std::time::Duration::from_secs(n.uptime_secs))
    );
    outln!("peers:      {}", n.peers);
    outln!("capacity:   total {}", resources(&n.capacity.total));
    outln!("            used  {}", resources(&n.capacity.used));
    outln!("            bids  {}", resources(&n.capacity.reserved));
    outln!("            free  {}", resources(&n.capacity.free));
    outln!("apps:       {} hosted, {running} running", n.hosted.len());
    for h in &n.hosted {
        outln!(
            "  {} {}",
            h.name,
            if h.running { "running" } else { "not running" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn peers(args: PeersArgs) -> Result<ExitCode> {
    let client = args.client.client()?;
    let peers = block_on(async move { Ok(client.peers().await?) })?;
    if args.client.json {
        return print_json(&peers);
    }
    if peers.is_empty() {
        outln!("no peers connected");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.id.clone(),
                p.gossip_score
                    .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}")),
                p.topics.len().to_string(),
                p.addresses.join(","),
            ]
        })
        .collect();
    out!(
        "{}",
        table(&["PEER", "SCORE", "TOPICS", "ADDRESSES"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

fn resources(r: &Resources) -> String {
    format!("{:.2} cpu, {} MB ram, {} GB hdd", r.cpu, r.ram, r.hdd)
}
