//! `fluxnode spec validate FILE... [--json]`: check Flux app specification files with the
//! FluxOS rules and report every violation.
//!
//! Exit codes: 0 when every file is valid, 1 when at least one is invalid, 2 when a file
//! cannot be read (or the command line is wrong, via clap).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use proto::spec::AppSpec;
use proto::validate::{ValidationContext, Violation, limits::DEFAULT_HEIGHT};
use serde::Serialize;

/// Specs larger than this are not read: real specs are a few KB, and the gossip limit is
/// far below it.
const MAX_SPEC_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Rule id used in `--json` output for a file that could not be read.
const UNREADABLE_RULE: &str = "unreadable-file";

#[derive(Debug, Args)]
pub struct SpecArgs {
    #[command(subcommand)]
    pub command: SpecCommand,
}

#[derive(Debug, Subcommand)]
pub enum SpecCommand {
    /// Validate Flux app specification files (JSON, versions 1–8) with the FluxOS rules.
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Spec files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print a JSON array of {file, valid, errors[{path, rule, message}]}.
    #[arg(long)]
    pub json: bool,
    /// Chain height to apply the rules at (forks change port ranges, expiry bounds, …).
    #[arg(long, default_value_t = DEFAULT_HEIGHT)]
    pub height: u32,
    /// An owner allowed to request data-centre placement; repeatable.
    #[arg(long = "enterprise-owner", value_name = "ADDRESS")]
    pub enterprise_owners: Vec<String>,
}

/// The verdict for one file, as printed by `--json`.
#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    valid: bool,
    errors: Vec<ErrorEntry>,
    #[serde(skip)]
    name: Option<String>,
    #[serde(skip)]
    unreadable: bool,
}

#[derive(Debug, Serialize)]
struct ErrorEntry {
    path: String,
    rule: String,
    message: String,
}

impl From<&Violation> for ErrorEntry {
    fn from(v: &Violation) -> Self {
        Self {
            path: v.path.clone(),
            rule: v.rule.to_owned(),
            message: v.message.clone(),
        }
    }
}

pub fn run(args: SpecArgs) -> ExitCode {
    match args.command {
        SpecCommand::Validate(args) => validate(&args),
    }
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let ctx = ValidationContext {
        height: args.height,
        enterprise_owners: args.enterprise_owners.clone(),
    };
    let reports: Vec<FileReport> = args.files.iter().map(|f| check_file(f, &ctx)).collect();
    if args.json {
        match serde_json::to_string_pretty(&reports) {
            Ok(text) => outln!("{text}"),
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        for r in &reports {
            print_text(r);
        }
    }
    if reports.iter().any(|r| r.unreadable) {
        ExitCode::from(2)
    } else if reports.iter().all(|r| r.valid) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_text(r: &FileReport) {
    if r.unreadable {
        for e in &r.errors {
            eprintln!("{}: {}", r.file, e.message);
        }
    } else if r.valid {
        outln!("ok {} ({})", r.name.as_deref().unwrap_or(""), r.file);
    } else {
        for e in &r.errors {
            outln!("{}: {}: {}: {}", r.file, e.path, e.rule, e.message);
        }
    }
}

fn check_file(path: &Path, ctx: &ValidationContext) -> FileReport {
    let file = path.display().to_string();
    let bytes = match read_limited(path) {
        Ok(bytes) => bytes,
        Err(message) => {
            return FileReport {
                file,
                valid: false,
                errors: vec![ErrorEntry {
                    path: "$".to_owned(),
                    rule: UNREADABLE_RULE.to_owned(),
                    message,
                }],
                name: None,
                unreadable: true,
            };
        }
    };
    match AppSpec::from_json_with(&bytes, ctx) {
        Ok(spec) => FileReport {
            file,
            valid: true,
            errors: Vec::new(),
            name: Some(spec.name),
            unreadable: false,
        },
        Err(e) => FileReport {
            file,
            valid: false,
            errors: e.violations.iter().map(ErrorEntry::from).collect(),
            name: None,
            unreadable: false,
        },
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("cannot read: not a regular file".to_owned());
    }
    if meta.len() > MAX_SPEC_FILE_BYTES {
        return Err(format!(
            "cannot read: {} bytes is more than the {MAX_SPEC_FILE_BYTES}-byte limit for a spec file",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}
