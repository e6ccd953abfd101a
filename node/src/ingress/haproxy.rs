//! The HAProxy process: started in master-worker mode, reconfigured by a checked file
//! swap plus a master reload (old workers finish their connections), and steered between
//! reloads through the runtime API on its admin socket.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use super::IngressError;

/// How long a started or reloaded HAProxy gets to answer on its admin socket. Starting
/// takes milliseconds; a loaded 2-core host can take a few hundred.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Files of one HAProxy instance, all in one directory.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The `haproxy` executable.
    pub bin: PathBuf,
    pub dir: PathBuf,
}

impl Paths {
    pub fn config(&self) -> PathBuf {
        self.dir.join("haproxy.cfg")
    }
    pub fn candidate(&self) -> PathBuf {
        self.dir.join("haproxy.cfg.new")
    }
    pub fn master_socket(&self) -> PathBuf {
        self.dir.join("master.sock")
    }
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("haproxy.log")
    }
}

/// `haproxy -c`: Ok when HAProxy accepts the file, else its own words.
pub async fn check(bin: &Path, config: &Path) -> Result<(), IngressError> {
    let out = Command::new(bin)
        .arg("-c")
        .arg("-f")
        .arg(config)
        .output()
        .await
        .map_err(|source| IngressError::Spawn {
            bin: bin.to_owned(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(IngressError::Refused {
        output: output.trim().to_owned(),
    })
}

/// One command (or several joined by `;`) on a runtime API socket; the answer text.
pub async fn socket_command(socket: &Path, command: &str) -> Result<String, IngressError> {
    let err = |source| IngressError::Socket {
        path: socket.to_owned(),
        source,
    };
    let mut s = UnixStream::connect(socket).await.map_err(err)?;
    s.write_all(command.as_bytes()).await.map_err(err)?;
    s.write_all(b"\n").await.map_err(err)?;
    let mut answer = String::new();
    tokio::time::timeout(READY_TIMEOUT, s.read_to_string(&mut answer))
        .await
        .map_err(|_| err(std::io::ErrorKind::TimedOut.into()))?
        .map_err(err)?;
    Ok(answer)
}

/// A running HAProxy master and its workers.
#[derive(Debug)]
pub struct Haproxy {
    paths: Paths,
    master: Child,
}

impl Haproxy {
    /// Checks `config`, installs it and starts HAProxy on it; ready when its admin socket
    /// answers.
    pub async fn start(paths: Paths, config: &str) -> Result<Haproxy, IngressError> {
        write_checked(&paths, config).await?;
        let _ = std::fs::remove_file(paths.master_socket());
        let log = std::fs::File::create(paths.log()).map_err(|source| IngressError::Io {
            path: paths.log(),
            source,
        })?;
        let log2 = log.try_clone().map_err(|source| IngressError::Io {
            path: paths.log(),
            source,
        })?;
        let master = Command::new(&paths.bin)
            .arg("-W")
            .arg("-S")
            .arg(format!("{},mode,600", paths.master_socket().display()))
            .arg("-f")
            .arg(paths.config())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| IngressError::Spawn {
                bin: paths.bin.clone(),
                source,
            })?;
        let mut h = Haproxy { paths, master };
        h.wait_worker(None).await?;
        Ok(h)
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Replaces the configuration: the candidate is checked first and a refused one
    /// leaves the running file and process untouched. Then the master reloads: a new
    /// worker takes the listeners, old workers finish their open connections.
    pub async fn replace(&mut self, config: &str) -> Result<(), IngressError> {
        write_checked(&self.paths, config).await?;
        let old = self.worker_pid().await.ok();
        self.send_reload().await?;
        self.wait_worker(old).await
    }

    /// Sends `reload` to the master CLI without waiting for an answer: the master
    /// re-executes itself and HAProxy 2.6 leaves this connection without one; the new
    /// worker answering on the admin socket is the sign of success.
    async fn send_reload(&self) -> Result<(), IngressError> {
        let path = self.paths.master_socket();
        let err = |source| IngressError::Socket {
            path: path.clone(),
            source,
        };
        let mut s = UnixStream::connect(&path).await.map_err(err)?;
        s.write_all(b"reload\n").await.map_err(err)?;
        s.shutdown().await.map_err(err)
    }

    /// Runs runtime API commands and returns HAProxy's answers. `set server … addr`
    /// answers in prose whether it worked or not, so callers check the outcome with
    /// [`Haproxy::servers`] rather than parse the text.
    pub async fn runtime(&self, commands: &[String]) -> Result<String, IngressError> {
        let mut answers = String::new();
        for chunk in commands.chunks(32) {
            let answer = socket_command(&self.paths.admin_socket(), &chunk.join(";")).await?;
            answers.push_str(answer.trim());
            answers.push('\n');
        }
        Ok(answers)
    }

    /// `(server, address, serving)` of a backend's slots, from `show servers state`:
    /// serving means in no maintenance mode (forced, inherited, configured, resolver).
    pub async fn servers(
        &self,
        backend: &str,
    ) -> Result<Vec<(String, String, bool)>, IngressError> {
        let text = socket_command(
            &self.paths.admin_socket(),
            &format!("show servers state {backend}"),
        )
        .await?;
        Ok(parse_servers_state(&text))
    }

    /// Whether the master still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.master.try_wait(), Ok(None))
    }

    /// Stops the master; its workers exit with it.
    pub async fn stop(mut self) {
        let _ = self.master.start_kill();
        let _ = self.master.wait().await;
    }

    /// The current worker's pid, from the master's `show proc` (first line under
    /// `# workers`; old workers still finishing connections are listed apart, and may
    /// still answer on the admin socket, so the admin socket cannot tell them apart).
    async fn worker_pid(&self) -> Result<u32, IngressError> {
        // The master CLI keeps the connection open after an answer; `quit` closes it.
        let text = socket_command(&self.paths.master_socket(), "show proc;quit").await?;
        parse_current_worker(&text).ok_or(IngressError::NotReady {
            what: "HAProxy's master lists no current worker".into(),
        })
    }

    /// Waits until a worker other than `old` answers on the admin socket.
    async fn wait_worker(&mut self, old: Option<u32>) -> Result<(), IngressError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if !self.running() {
                let log = std::fs::read_to_string(self.paths.log()).unwrap_or_default();
                return Err(IngressError::NotReady {
                    what: format!("HAProxy exited; its log says: {}", log.trim()),
                });
            }
            if let Ok(pid) = self.worker_pid().await {
                let answers = socket_command(&self.paths.admin_socket(), "show info").await;
                if Some(pid) != old && answers.is_ok() {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(IngressError::NotReady {
                    what: format!(
                        "no new HAProxy worker answered on {} within {READY_TIMEOUT:?}",
                        self.paths.admin_socket().display()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Writes `config` as the candidate, has HAProxy check it, and only then renames it over
/// the live file (a rename is atomic: the live file is always a complete, checked one).
async fn write_checked(paths: &Paths, config: &str) -> Result<(), IngressError> {
    let candidate = paths.candidate();
    tokio::fs::write(&candidate, config)
        .await
        .map_err(|source| IngressError::Io {
            path: candidate.clone(),
            source,
        })?;
    check(&paths.bin, &candidate).await?;
    tokio::fs::rename(&candidate, paths.config())
        .await
        .map_err(|source| IngressError::Io {
            path: paths.config(),
            source,
        })
}

/// The first pid in the `# workers` section of the master's `show proc`.
pub fn parse_current_worker(text: &str) -> Option<u32> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("# workers"));
    lines.next()?;
    let line = lines.next()?;
    if line.starts_with('#') {
        return None;
    }
    line.split_whitespace().next()?.parse().ok()
}

/// `srv_admin_state` bits that mean maintenance (HAProxy's SRV_ADMF_MAINT): FMAINT 0x01,
/// IMAINT 0x02, RMAINT 0x20. CMAINT 0x04 only records `disabled` in the file and stays
/// set after `set server … state ready` puts the server in service.
const MAINT_FLAGS: u32 = 0x01 | 0x02 | 0x20;

/// Parses `show servers state` (format 1): fields 4 (srv_name), 5 (srv_addr), 7
/// (srv_admin_state) and 18 (srv_port), 0-based after the backend id and name.
pub fn parse_servers_state(text: &str) -> Vec<(String, String, bool)> {
    text.lines()
        // The first line is the format version alone.
        .filter(|l| !l.starts_with('#') && l.split_whitespace().count() > 1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.get(3)?;
            let addr = f.get(4)?;
            let admin: u32 = f.get(6)?.parse().ok()?;
            let port = f.get(18)?;
            let addr = if addr.contains(':') {
                format!("[{addr}]:{port}")
            } else {
                format!("{addr}:{port}")
            };
            Some(((*name).to_owned(), addr, admin & MAINT_FLAGS == 0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_worker_is_the_first_under_workers() {
        let text = "#<PID>          <type>          <reloads>       <uptime>        <version>\n\
            100             master          1               0d00h00m05s     2.6.12\n\
            # workers\n\
            300             worker          0               0d00h00m00s     2.6.12\n\
            # old workers\n\
            200             worker          1               0d00h00m05s     2.6.12\n";
        assert_eq!(parse_current_worker(text), Some(300));
        assert_eq!(parse_current_worker("# workers\n# old workers\n"), None);
    }

    #[test]
    fn servers_state_parses() {
        let text = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\
            3 app_demo_31000 1 s1 127.0.0.2 2 0 1 1 5 6 3 4 6 0 0 0 - 31000 - 0 0 - - 0\n\
            3 app_demo_31000 2 s2 127.0.0.1 0 1 1 1 5 1 0 0 0 0 0 0 - 31000 - 0 0 - - 0\n";
        assert_eq!(
            parse_servers_state(text),
            [
                ("s1".to_owned(), "127.0.0.2:31000".to_owned(), true),
                ("s2".to_owned(), "127.0.0.1:31000".to_owned(), false),
            ]
        );
    }
}
