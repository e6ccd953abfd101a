//! `fluxnode run`: the daemon.

use std::process::ExitCode;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::{Config, LogFormat, RunArgs};

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args)?;
    if args.print_config {
        out!("{}", config.to_toml()?);
        return Ok(ExitCode::SUCCESS);
    }
    init_tracing(&config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fluxnode")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(config))
}

/// `RUST_LOG` wins over the configured filter, so an operator can raise verbosity for one
/// run without editing the config.
fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    // One shutdown signal for the service task and the API server.
    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (api.listen): is another node running?",
                config.api.listen
            )
        })?;
    let service_stop = wait_stop(stop_rx.clone());
    let started = crate::daemon::start(&config, service_stop).await?;
    tracing::info!(api = %config.api.listen, "API listening");
    let api = tokio::spawn(crate::api::serve(
        listener,
        started.handle.clone(),
        wait_stop(stop_rx),
    ));

    let signal = shutdown_signal().await;
    tracing::info!(signal, "shutting down");
    let _ = stop_tx.send(true);
    let _ = started.service.await;
    let _ = api.await;
    tracing::info!("stopped; app containers keep running");
    Ok(ExitCode::SUCCESS)
}

async fn wait_stop(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// SIGTERM (systemd, docker stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process still stops on the default action.
        std::future::pending::<()>().await;
        return "none";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
