//! What the API client commands (`app`, `status`, `peers`) share: where the API is, raw
//! JSON output, and running one async call from a synchronous `main`.

use std::future::Future;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use crate::api::DEFAULT_API_URL;
use crate::api::client::ApiClient;

/// Options of every command that talks to a running daemon.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The daemon's HTTP API.
    #[arg(
        long,
        env = "FLUXNODE_API",
        default_value = DEFAULT_API_URL,
        value_name = "URL",
        global = true
    )]
    pub api: String,
    /// Print the API's JSON answer instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    pub fn client(&self) -> Result<ApiClient> {
        Ok(ApiClient::new(&self.api)?)
    }
}

/// Runs `fut` to completion on a single-threaded runtime: a CLI call is one request or a
/// few, with nothing to run in parallel.
pub fn block_on<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(fut)
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<ExitCode> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

/// Now in unix milliseconds, the time an owner signature carries.
pub fn now_unix_ms() -> Result<u64> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970; set the clock")?;
    Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// Left-aligned columns, two spaces apart, sized to the widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["NAME", "N"],
            &[
                vec!["web".into(), "3".into()],
                vec!["longname".into(), "12".into()],
            ],
        );
        assert_eq!(t, "NAME      N\nweb       3\nlongname  12\n");
    }
}
