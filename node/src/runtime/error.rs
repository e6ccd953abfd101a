//! Runtime errors, classified from what the Docker engine says so the protocol can react
//! (give the instance up to another node, retry later) and operators see what to fix.

use crate::store::StoreError;

/// Everything that can go wrong running an app. Messages are for the node operator.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid plan for app `{app}`: field `{field}`: {reason}")]
    InvalidPlan {
        app: String,
        field: String,
        reason: String,
    },
    #[error(
        "Docker engine unreachable at {endpoint}: {reason} (is dockerd running and is the \
         socket path right?)"
    )]
    DaemonUnreachable { endpoint: String, reason: String },
    #[error("Docker engine at {endpoint} speaks API {found}; fluxnode needs {needed} or newer")]
    EngineTooOld {
        endpoint: String,
        found: String,
        needed: String,
    },
    #[error("image {image} not found in its registry: {message}")]
    ImageNotFound { image: String, message: String },
    #[error("registry refused credentials for {image}: {message} (check the app's repoauth)")]
    RegistryAuth { image: String, message: String },
    #[error("host port already taken while starting {container}: {message}")]
    PortTaken { container: String, message: String },
    #[error("out of disk space during {op}: {message} (free space under Docker's data root)")]
    OutOfDisk { op: String, message: String },
    #[error("Docker did not answer within {seconds} s during {op}")]
    Timeout { op: String, seconds: u64 },
    #[error("Docker refused {op}: {message} (HTTP {status})")]
    Docker {
        op: String,
        status: u16,
        message: String,
    },
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "no free /{prefix} left for an app network in {pool} (all {capacity} are taken on this \
         Docker engine): widen docker.app_subnet_pool or host fewer apps"
    )]
    SubnetPoolExhausted {
        pool: String,
        prefix: u8,
        capacity: u64,
    },
    #[error("fixed-size volume {volume}: {message}")]
    Volume { volume: String, message: String },
}

/// Coarse kind of a [`RuntimeError`], used to count errors by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidPlan,
    DaemonUnreachable,
    ImageNotFound,
    RegistryAuth,
    PortTaken,
    OutOfDisk,
    Timeout,
    Docker,
    Store,
    SubnetsExhausted,
    /// A fixed-size volume could not be made, attached or removed.
    Volume,
}

impl RuntimeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RuntimeError::InvalidPlan { .. } => ErrorKind::InvalidPlan,
            RuntimeError::DaemonUnreachable { .. } | RuntimeError::EngineTooOld { .. } => {
                ErrorKind::DaemonUnreachable
            }
            RuntimeError::ImageNotFound { .. } => ErrorKind::ImageNotFound,
            RuntimeError::RegistryAuth { .. } => ErrorKind::RegistryAuth,
            RuntimeError::PortTaken { .. } => ErrorKind::PortTaken,
            RuntimeError::OutOfDisk { .. } => ErrorKind::OutOfDisk,
            RuntimeError::Timeout { .. } => ErrorKind::Timeout,
            RuntimeError::Docker { .. } => ErrorKind::Docker,
            RuntimeError::Store(_) => ErrorKind::Store,
            RuntimeError::SubnetPoolExhausted { .. } => ErrorKind::SubnetsExhausted,
            RuntimeError::Volume { .. } => ErrorKind::Volume,
        }
    }

    /// Whether another node is a better place for the instance (this node cannot run it
    /// as planned) rather than a transient fault worth retrying here.
    pub fn is_placement_failure(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::PortTaken
                | ErrorKind::OutOfDisk
                | ErrorKind::ImageNotFound
                | ErrorKind::RegistryAuth
                | ErrorKind::SubnetsExhausted
                | ErrorKind::Volume
        )
    }
}

/// What the runtime was doing when Docker failed; picks the classification.
#[derive(Debug, Clone)]
pub(crate) enum Op<'a> {
    Pull { image: &'a str },
    Start { container: &'a str },
    Other(&'a str),
}

impl Op<'_> {
    fn describe(&self) -> String {
        match self {
            Op::Pull { image } => format!("pull of {image}"),
            Op::Start { container } => format!("start of {container}"),
            Op::Other(what) => (*what).to_owned(),
        }
    }
}

/// Maps a bollard error to a [`RuntimeError`]. `endpoint` names the engine socket.
pub(crate) fn classify(
    err: bollard::errors::Error,
    op: Op<'_>,
    endpoint: &str,
    timeout_s: u64,
) -> RuntimeError {
    use bollard::errors::Error as B;
    let unreachable = |reason: String| RuntimeError::DaemonUnreachable {
        endpoint: endpoint.to_owned(),
        reason,
    };
    match err {
        B::SocketNotFoundError(path) => unreachable(format!("socket {path} does not exist")),
        B::IOError { err } => unreachable(err.to_string()),
        B::HyperLegacyError { err } => unreachable(legacy_reason(&err)),
        B::HyperResponseError { err } => unreachable(err.to_string()),
        B::RequestTimeoutError => RuntimeError::Timeout {
            op: op.describe(),
            seconds: timeout_s,
        },
        B::DockerResponseServerError {
            status_code,
            message,
        } => classify_message(status_code, message, &op),
        B::DockerStreamError { error } => classify_message(500, error, &op),
        other => RuntimeError::Docker {
            op: op.describe(),
            status: 0,
            message: other.to_string(),
        },
    }
}

fn legacy_reason(err: &dyn std::error::Error) -> String {
    // The HTTP client's Display is just "client error (Connect)"; the cause says why.
    let mut reason = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    reason
}

/// Classifies by the engine's message. The strings are the ones dockerd 20.10–28 and the
/// distribution registry return; `tests` below hold real examples.
pub(crate) fn classify_message(status: u16, message: String, op: &Op<'_>) -> RuntimeError {
    let m = message.to_ascii_lowercase();
    if m.contains("no space left on device") {
        return RuntimeError::OutOfDisk {
            op: op.describe(),
            message,
        };
    }
    if let Op::Pull { image } = op {
        if m.contains("unauthorized") || m.contains("authentication required") || status == 401 {
            return RuntimeError::RegistryAuth {
                image: (*image).to_owned(),
                message,
            };
        }
        if status == 404 || m.contains("not found") || m.contains("manifest unknown") {
            return RuntimeError::ImageNotFound {
                image: (*image).to_owned(),
                message,
            };
        }
    }
    if let Op::Start { container } = op {
        if m.contains("port is already allocated") || m.contains("address already in use") {
            return RuntimeError::PortTaken {
                container: (*container).to_owned(),
                message,
            };
        }
    }
    RuntimeError::Docker {
        op: op.describe(),
        status,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_messages_are_classified() {
        let pull = Op::Pull {
            image: "r:5000/a:1",
        };
        let start = Op::Start {
            container: "fluxa_b",
        };
        let cases: Vec<(u16, &str, &Op<'_>, ErrorKind)> = vec![
            (
                404,
                "manifest for r:5000/a:1 not found: manifest unknown: manifest unknown",
                &pull,
                ErrorKind::ImageNotFound,
            ),
            (
                500,
                "Get \"https://r/v2/a/manifests/1\": no basic auth credentials",
                &pull,
                ErrorKind::Docker,
            ),
            (
                500,
                "unauthorized: authentication required",
                &pull,
                ErrorKind::RegistryAuth,
            ),
            (
                500,
                "driver failed programming external connectivity on endpoint fluxa_b: Error starting userland proxy: listen tcp4 127.0.0.1:8080: bind: address already in use",
                &start,
                ErrorKind::PortTaken,
            ),
            (
                500,
                "Bind for 0.0.0.0:8080 failed: port is already allocated",
                &start,
                ErrorKind::PortTaken,
            ),
            (
                500,
                "failed to register layer: write /usr/lib/x: no space left on device",
                &pull,
                ErrorKind::OutOfDisk,
            ),
            (
                500,
                "mkdir /var/lib/docker/volumes/x: no space left on device",
                &start,
                ErrorKind::OutOfDisk,
            ),
            (
                409,
                "Conflict. The container name \"/fluxa_b\" is already in use",
                &start,
                ErrorKind::Docker,
            ),
        ];
        for (status, msg, op, kind) in cases {
            assert_eq!(
                classify_message(status, msg.into(), op).kind(),
                kind,
                "{msg}"
            );
        }
    }

    #[test]
    fn missing_socket_is_unreachable() {
        let err = classify(
            bollard::errors::Error::SocketNotFoundError("/nope.sock".into()),
            Op::Other("ping"),
            "/nope.sock",
            5,
        );
        assert_eq!(err.kind(), ErrorKind::DaemonUnreachable);
        assert!(err.to_string().contains("/nope.sock"));
    }
}
