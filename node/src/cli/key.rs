//! `fluxnode key`: create and inspect the node's ed25519 key, which is both its libp2p
//! identity and the key its gossip messages are signed with.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use proto::keys::Keypair;

/// Key files are a few hundred bytes; anything far larger is not a key file, and reading it
/// whole would only waste memory.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Owner read/write only: the file holds the node's secret key.
const KEY_FILE_MODE: u32 = 0o600;

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new ed25519 node key (file mode 0600) and print its node id.
    Generate {
        /// Where to write the key file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace an existing key file. The node then has a new identity.
        #[arg(long)]
        force: bool,
    },
    /// Print the node id of a key file.
    Show {
        /// The key file to read.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Runs `fluxnode key ...`; prints the node id on stdout, errors on stderr.
pub fn run(args: KeyArgs) -> ExitCode {
    let result = match args.command {
        KeyCommand::Generate { out, force } => generate(&out, force),
        KeyCommand::Show { file } => show(&file),
    };
    match result {
        Ok(node_id) => {
            outln!("{node_id}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a new key to `out` and returns its node id.
pub fn generate(out: &Path, force: bool) -> Result<String> {
    let key = Keypair::generate()?;
    let text = key.to_key_file();
    if force {
        replace(out, text.as_bytes())?;
    } else {
        write_new(out, text.as_bytes()).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists; refusing to overwrite a node key (the node would lose its identity). Pass --force to replace it",
                    out.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot create key file {}", out.display()))
            }
        })?;
    }
    eprintln!("wrote {}", out.display());
    Ok(key.public().node_id())
}

/// Reads a key file and returns its node id; warns when others can read it.
pub fn show(file: &Path) -> Result<String> {
    Ok(load(file)?.public().node_id())
}

/// Reads and parses a key file, refusing oversized files. Warns on stderr when the file is
/// readable by group or others.
pub fn load(file: &Path) -> Result<Keypair> {
    let meta =
        fs::metadata(file).with_context(|| format!("cannot read key file {}", file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", file.display());
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        bail!(
            "{} is {} bytes; a key file is under {MAX_KEY_FILE_BYTES} bytes",
            file.display(),
            meta.len()
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        eprintln!(
            "warning: key file {} has mode {mode:04o}; run `chmod 600 {}` so only its owner can read it",
            file.display(),
            file.display()
        );
    }
    let text = fs::read_to_string(file)
        .with_context(|| format!("cannot read key file {}", file.display()))?;
    Keypair::from_key_file(&text).with_context(|| format!("key file {}", file.display()))
}

/// Creates `path` with mode 0600 (failing if it exists), writes and syncs `bytes`. A
/// partial file is removed on failure.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(path)?;
    fill(file, bytes).inspect_err(|_| {
        let _ = fs::remove_file(path);
    })
}

fn fill(mut file: File, bytes: &[u8]) -> io::Result<()> {
    // The umask may have cleared bits of the requested mode; set it exactly.
    file.set_permissions(fs::Permissions::from_mode(KEY_FILE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces `path` atomically: a new 0600 file beside it, then a rename over the old one,
/// so a crash leaves either the old key or the new one, never a torn file.
fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    write_new(&tmp, bytes)
        .with_context(|| format!("cannot create temporary key file {}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("cannot replace key file {}", path.display()))
    })
}
