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
    println!("node:       {}", n.id);
    println!("version:    {}", n.version);
    println!("tier:       {}", n.tier);
    println!("geo:        {}", n.geo);
    println!("advertise:  {}", n.advertise_addr);
    println!("height:     {}", n.height);
    println!(
        "uptime:     {}",
        humantime::format_duration(std::time::Duration::from_secs(n.uptime_secs))
    );
    println!("peers:      {}", n.peers);
    println!("capacity:   total {}", resources(&n.capacity.total));
    println!("            used  {}", resources(&n.capacity.used));
    println!("            bids  {}", resources(&n.capacity.reserved));
    println!("            free  {}", resources(&n.capacity.free));
    println!("apps:       {} hosted, {running} running", n.hosted.len());
    for h in &n.hosted {
        println!(
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
        println!("no peers connected");
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
    print!(
        "{}",
        table(&["PEER", "SCORE", "TOPICS", "ADDRESSES"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

fn resources(r: &Resources) -> String {
    format!("{:.2} cpu, {} MB ram, {} GB hdd", r.cpu, r.ram, r.hdd)
}
