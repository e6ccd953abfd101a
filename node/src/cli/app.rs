//! `fluxnode app …`: register, update, renew, cancel and inspect apps through a daemon's API.
//!
//! Exit codes: 0 done; 1 a negative answer (`locations` found no instance); 2 the job
//! could not be done (invalid spec, unreadable key, daemon unreachable, request refused).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use proto::health::Health;
use proto::message::{AppCancel, AppRegistration, AppRenewal, AppUpdate, OwnerSigned};
use proto::validate::limits::EXPIRE_MAX;
use proto::validate::{ValidationContext, validate_json};

use super::remote::{ClientArgs, block_on, now_unix_ms, print_json, table};
use crate::api::AppStatus;
use crate::api::client::ApiClient;

/// A spec is a few KB; the API refuses bodies over 256 KiB, so a larger file cannot be
/// registered anyway.
const MAX_SPEC_FILE_BYTES: u64 = 256 * 1024;

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Validate a spec, sign it with the owner key and register it at the current height.
    Register {
        /// The Flux app specification (JSON, versions 1–8).
        #[arg(value_name = "SPEC.json")]
        spec: PathBuf,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Update a registered app to a new spec (same name): signed with the owner key at the
    /// current height; the app's group then moves one instance at a time, each healthy
    /// before the next, and goes back on its own if the new version does not turn
    /// healthy. `app show` follows the rollout.
    Update {
        /// The new Flux app specification (JSON); its `name` names the app.
        #[arg(value_name = "SPEC.json")]
        spec: PathBuf,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Extend an app's subscription: it then expires N blocks after the current height.
    Renew {
        #[arg(value_name = "NAME")]
        name: String,
        /// Subscription length from now, in blocks of 30 s (FluxOS default 88000).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=EXPIRE_MAX as i64))]
        blocks: u32,
        #[command(flatten)]
        key: KeyArg,
    },
    /// End an app now: every node removes its instances.
    Cancel {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        key: KeyArg,
    },
    /// List the registered apps.
    List,
    /// Show one app: owner, instances, expiry, hosts.
    Show {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Print where the app answers, one ip:port per line (exit 1 when nowhere).
    Locations {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Explain the app's placement: a table of the nodes this daemon knows, which run the
    /// app, and the scheduler's verdict for each (chosen, or why not). `--json` prints the
    /// API's answer.
    Explain {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// The owner's key file (same format as `fluxnode key generate` writes).
#[derive(Debug, Args)]
pub struct KeyArg {
    /// The app owner's ed25519 key file.
    #[arg(long = "key", env = "FLUXNODE_OWNER_KEY", value_name = "KEYFILE")]
    pub key: PathBuf,
}

pub fn run(args: AppArgs) -> Result<ExitCode> {
    let client = args.client.client()?;
    let json = args.client.json;
    block_on(async move {
        match args.command {
            AppCommand::Register { spec, key } => register(&client, &spec, &key.key, json).await,
            AppCommand::Update { spec, key } => update(&client, &spec, &key.key, json).await,
            AppCommand::Renew { name, blocks, key } => {
                renew(&client, &name, blocks, &key.key, json).await
            }
            AppCommand::Cancel { name, key } => cancel(&client, &name, &key.key, json).await,
            AppCommand::List => list(&client, json).await,
            AppCommand::Show { name } => show(&client, &name, json).await,
            AppCommand::Locations { name } => locations(&client, &name, json).await,
            AppCommand::Explain { name } => {
                let answer = client.explain(&name).await?;
                if json {
                    print_json(&answer)
                } else {
                    out!("{}", super::explain::render(&answer));
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
    })
}

/// The same rules and height as `fluxnode spec validate`, so an owner sees every problem
/// at once, before anything is signed or sent. `false` when the spec is invalid (printed).
fn valid_or_report(spec: &Path, spec_json: &str, nothing: &str) -> bool {
    let violations = validate_json(spec_json.as_bytes(), &ValidationContext::default());
    for v in &violations {
        eprintln!("{}: {}: {}: {}", spec.display(), v.path, v.rule, v.message);
    }
    if !violations.is_empty() {
        eprintln!(
            "error: {} is not a valid app specification ({} problem{}); {nothing}",
            spec.display(),
            violations.len(),
            if violations.len() == 1 { "" } else { "s" }
        );
    }
    violations.is_empty()
}

async fn update(client: &ApiClient, spec: &Path, key: &Path, json: bool) -> Result<ExitCode> {
    let spec_json = read_spec(spec)?;
    if !valid_or_report(spec, &spec_json, "nothing was updated") {
        return Ok(ExitCode::from(2));
    }
    let name = serde_json::from_str::<serde_json::Value>(&spec_json)
        .ok()
        .and_then(|v| v.get("name")?.as_str().map(str::to_owned))
        .context("the spec has no `name`")?;
    let owner = super::key::load(key)?;
    let height = client.node().await?.height;
    let update = OwnerSigned::sign(
        &owner,
        now_unix_ms()?,
        AppUpdate {
            spec_json,
            updated_height: height,
        },
    );
    let status = client.update(&name, &update).await?;
    if json {
        return print_json(&status);
    }
    outln!(
        "updated {} to version {}: its {} instance{} move one at a time; `fluxnode app show {}` follows the rollout",
        status.name,
        status.version,
        status.instances,
        if status.instances == 1 { "" } else { "s" },
        status.name
    );
    Ok(ExitCode::SUCCESS)
}

async fn register(client: &ApiClient, spec: &Path, key: &Path, json: bool) -> Result<ExitCode> {
    let spec_json = read_spec(spec)?;
    if !valid_or_report(spec, &spec_json, "nothing was registered") {
        return Ok(ExitCode::from(2));
    }
    let owner = super::key::load(key)?;
    let height = client.node().await?.height;
    let reg = OwnerSigned::sign(
        &owner,
        now_unix_ms()?,
        AppRegistration {
            spec_json,
            registered_height: height,
        },
    );
    let status = client.register(&reg).await?;
    if json {
        return print_json(&status);
    }
    outln!(
        "registered {}: {} instance{}, expires at height {} (removal at {})",
        status.name,
        status.instances,
        if status.instances == 1 { "" } else { "s" },
        status.expires_at_height,
        status.removal_height
    );
    Ok(ExitCode::SUCCESS)
}

async fn renew(
    client: &ApiClient,
    name: &str,
    blocks: u32,
    key: &Path,
    json: bool,
) -> Result<ExitCode> {
    let owner = super::key::load(key)?;
    let height = client.node().await?.height;
    let renewal = OwnerSigned::sign(
        &owner,
        now_unix_ms()?,
        AppRenewal {
            app: name.to_owned(),
            renewed_height: height,
            expire_blocks: blocks,
        },
    );
    let status = client.renew(name, &renewal).await?;
    if json {
        return print_json(&status);
    }
    outln!(
        "renewed {}: expires at height {} (removal at {})",
        status.name,
        status.expires_at_height,
        status.removal_height
    );
    Ok(ExitCode::SUCCESS)
}

async fn cancel(client: &ApiClient, name: &str, key: &Path, json: bool) -> Result<ExitCode> {
    let owner = super::key::load(key)?;
    let cancel = OwnerSigned::sign(
        &owner,
        now_unix_ms()?,
        AppCancel {
            app: name.to_owned(),
        },
    );
    client.cancel(name, &cancel).await?;
    if json {
        return print_json(&serde_json::json!({ "cancelled": name }));
    }
    outln!("cancelled {name}: its instances are being removed");
    Ok(ExitCode::SUCCESS)
}

async fn list(client: &ApiClient, json: bool) -> Result<ExitCode> {
    let apps = client.apps().await?;
    if json {
        return print_json(&apps);
    }
    if apps.is_empty() {
        outln!("no apps registered");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                format!("{}/{}", a.running, a.instances),
                a.expires_at_height.to_string(),
                a.removal_height.to_string(),
                state(a).to_owned(),
                a.owner.clone(),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &["NAME", "RUNNING", "EXPIRES", "REMOVAL", "STATE", "OWNER"],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(client: &ApiClient, name: &str, json: bool) -> Result<ExitCode> {
    let a = client.app(name).await?;
    if json {
        return print_json(&a);
    }
    outln!("name:        {}", a.name);
    outln!("owner:       {}", a.owner);
    outln!("state:       {}", state(&a));
    outln!(
        "instances:   {} running of {}, {} healthy",
        a.running,
        a.instances,
        a.healthy
    );
    outln!(
        "registered:  height {}, {} blocks",
        a.registered_height,
        a.expire_blocks
    );
    outln!("expires at:  height {}", a.expires_at_height);
    outln!("removal at:  height {}", a.removal_height);
    outln!("version:     {}", a.version);
    if let Some(r) = &a.rollout {
        match (&r.state[..], r.reverted_to, &r.reason) {
            ("reverted", Some(good), Some(reason)) => outln!(
                "rollout:     reverted to version {good} ({} of {} on version {} when it stopped): {reason}",
                r.updated,
                a.instances,
                r.version
            ),
            (state, _, _) => outln!(
                "rollout:     {} ({} of {} healthy on version {})",
                state.replace('_', " "),
                r.updated,
                a.instances,
                r.version
            ),
        }
    }
    if a.hosts.is_empty() {
        outln!("hosts:       none");
    } else {
        outln!("hosts:");
        for h in &a.hosts {
            match a.instance_health.iter().find(|i| &i.node == h) {
                Some(i) => outln!("  {h}  {}  version {}", i.health, i.version),
                None => outln!("  {h}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn locations(client: &ApiClient, name: &str, json: bool) -> Result<ExitCode> {
    let locations = client.locations(name).await?;
    if json {
        print_json(&locations)?;
    } else {
        // Where the app answers: an instance its host found unhealthy is left out (the
        // JSON form lists every instance with its `health`).
        for l in locations.iter().filter(|l| l.health != Health::Unhealthy) {
            for addr in &l.addresses {
                outln!("{addr}");
            }
        }
        for l in locations.iter().filter(|l| l.health == Health::Unhealthy) {
            eprintln!("{} unhealthy on {}: left out", l.ip, l.node);
        }
    }
    if locations
        .iter()
        .all(|l| l.addresses.is_empty() || l.health == Health::Unhealthy)
    {
        eprintln!("no running instance of {name} publishes a port yet");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn state(a: &AppStatus) -> &'static str {
    if a.cancelled { "cancelled" } else { "active" }
}

fn read_spec(path: &Path) -> Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    if meta.len() > MAX_SPEC_FILE_BYTES {
        bail!(
            "{} is {} bytes; an app spec must be under {MAX_SPEC_FILE_BYTES} bytes",
            path.display(),
            meta.len()
        );
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))
}
