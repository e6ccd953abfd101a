//! `fluxnode ingress`: HAProxy in front of the network's apps (see [`crate::ingress`]).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use prometheus_client::registry::Registry;

use crate::ingress::{IngressConfig, haproxy, metrics::IngressMetrics, render::Listeners};

#[derive(Debug, Args)]
pub struct IngressArgs {
    /// A node's API to follow the network's locations through.
    #[arg(long, env = "FLUXNODE_API", default_value = crate::api::DEFAULT_API_URL)]
    pub api: String,
    /// Apps answer at `<app>.<domain>` (first port) and `<app>_<port>.<domain>`.
    #[arg(long, default_value = "app.localtest")]
    pub domain: String,
    /// HAProxy's HTTP listener for all apps (routed by Host).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// HAProxy's Prometheus exporter (`/metrics`) and stats page (`/stats`); `none` to
    /// leave it out.
    #[arg(long, default_value = "127.0.0.1:8404", value_parser = parse_optional_addr)]
    pub stats_listen: OptionalAddr,
    /// The ingress's own metrics (`/metrics`); `none` to leave it out.
    #[arg(long, default_value = "127.0.0.1:9180", value_parser = parse_optional_addr)]
    pub metrics_listen: OptionalAddr,
    /// App ports served as plain TCP, each on its own listener at the listen IP.
    #[arg(long = "tcp-port", value_name = "PORT")]
    pub tcp_ports: Vec<u16>,
    /// The haproxy executable.
    #[arg(long, default_value = "haproxy")]
    pub haproxy: PathBuf,
    /// Directory for HAProxy's configuration, sockets and log (created if missing).
    #[arg(long, default_value = "/var/lib/fluxnode-ingress")]
    pub dir: PathBuf,
}

/// A listen address, or `none` for a listener left out. A type of its own because clap
/// reads an `Option<T>` field as "flag may be absent" and would not take `None` from a
/// value parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

fn parse_optional_addr(s: &str) -> Result<OptionalAddr, String> {
    if s == "none" {
        return Ok(OptionalAddr(None));
    }
    s.parse()
        .map(|a| OptionalAddr(Some(a)))
        .map_err(|e| format!("{s:?} is not an address like 127.0.0.1:8404 or `none`: {e}"))
}

pub fn run(args: IngressArgs) -> anyhow::Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating --dir {}", args.dir.display()))?;
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("--dir {}", args.dir.display()))?;
    let paths = haproxy::Paths {
        bin: args.haproxy,
        dir,
    };
    let config = IngressConfig {
        api: args.api,
        domain: args.domain.trim_matches('.').to_ascii_lowercase(),
        listen: Listeners {
            http: args.listen,
            stats: args.stats_listen.0,
            admin_socket: paths.admin_socket(),
        },
        tcp_ports: args.tcp_ports.into_iter().collect::<BTreeSet<u16>>(),
        haproxy: paths,
    };
    let mut registry = Registry::default();
    let metrics = IngressMetrics::register(&mut registry);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        if let Some(addr) = args.metrics_listen.0 {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?;
            let registry = Arc::new(Mutex::new(registry));
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let registry = registry.clone();
                    async move {
                        let r = registry.lock().unwrap_or_else(|p| p.into_inner());
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                crate::metrics::TEXT_CONTENT_TYPE,
                            )],
                            crate::metrics::encode_text(&r).unwrap_or_default(),
                        )
                    }
                }),
            );
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        crate::ingress::run(config, metrics, stop_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod args_tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: IngressArgs,
    }

    #[test]
    fn defaults_and_none_parse() {
        Wrapper::command_for_test().debug_assert();
        let w = Wrapper::try_parse_from(["x"]).unwrap();
        assert_eq!(
            w.args.stats_listen.0,
            Some("127.0.0.1:8404".parse().unwrap())
        );
        let w =
            Wrapper::try_parse_from(["x", "--stats-listen", "none", "--metrics-listen", "none"])
                .unwrap();
        assert_eq!(w.args.stats_listen, OptionalAddr(None));
        assert_eq!(w.args.metrics_listen, OptionalAddr(None));
        let e = Wrapper::try_parse_from(["x", "--stats-listen", "nowhere"]).unwrap_err();
        assert!(e.to_string().contains("--stats-listen"), "{e}");
    }

    impl Wrapper {
        fn command_for_test() -> clap::Command {
            <Self as clap::CommandFactory>::command()
        }
    }
}
