//! Checks FluxOS does not make (or makes only for v1–v3) but without which no node can run
//! the app: a spec that passes them can be turned into a Docker container. Each is
//! stricter than FluxOS, and each says why at the check.
//!
//! - cpu, ram and hdd of every component at least FluxOS's own v1–v3 minimums
//!   (`checkHWParameters`: 0.1 core, 100 MB, 1 GB). From v4 FluxOS checks only totals, so
//!   `cpu: 0` or `ram: 1` passed; Docker refuses a CPU quota under 0.01 core and a memory
//!   limit under 6 MB, and an app volume needs at least one whole GB.
//! - `containerData`: `|`-separated entries `[prefix:]…/absolute/path`, where each prefix
//!   part is letters and digits (`g`, `r`, `s`, a component index, `m:name`); the path is
//!   absolute, not `/`, has no `..` and is not under `/proc`, `/sys` or `/dev`, where the
//!   engine refuses to mount a volume.
//! - environment entries are `KEY=value` with a non-empty key: Docker treats an entry
//!   without `=` as "copy from the client's environment", which a node has no business
//!   doing.
//! - `repotag` is an image reference by the grammar of Docker's `distribution/reference`
//!   (`[domain[:port]/]path[:tag][@digest]`), so nothing else (`--privileged`, spaces,
//!   upper-case paths) can reach the engine.

use serde_json::{Map, Value};

use super::limits::{CPU_MIN, HDD_MIN, RAM_MIN};
use super::report::{Report, index, join, quote, rule};
use super::value::string_array;
use super::workload::Hw;

/// Per-component minimums (v4+; v1–v3 get them from the granularity check).
pub(crate) fn check_minimums(hw: &Hw, base: &str, r: &mut Report) {
    let checks = [
        ("cpu", hw.cpu, CPU_MIN, "cores"),
        ("ram", hw.ram, RAM_MIN, "MB"),
        ("hdd", hw.hdd, HDD_MIN, "GB"),
    ];
    for (key, value, min, unit) in checks {
        if let Some(x) = value {
            // 1e-9 tolerates the binary rounding of 0.1.
            if x + 1e-9 < min {
                r.push(
                    &join(base, key),
                    rule::RESOURCE_BELOW_MINIMUM,
                    format!("`{key}` is {x} {unit}; it must be at least {min} {unit}"),
                );
            }
        }
    }
}

/// `containerData` entries: prefixes and paths a node can mount.
pub(crate) fn check_container_data(value: &str, path: &str, r: &mut Report) {
    for entry in value.split('|').map(str::trim).filter(|e| !e.is_empty()) {
        if let Err(why) = check_data_entry(entry) {
            r.push(
                path,
                rule::CONTAINERDATA_BAD_PATH,
                format!("containerData entry {}: {why}", quote(entry)),
            );
        }
    }
}

/// Paths under which Docker (runc) refuses to mount a volume.
const FORBIDDEN_MOUNT_ROOTS: [&str; 3] = ["/proc", "/sys", "/dev"];

fn check_data_entry(entry: &str) -> Result<(), String> {
    let (prefix, path) = entry.rsplit_once(':').unwrap_or(("", entry));
    let prefix_ok = prefix.is_empty()
        || prefix
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !prefix_ok {
        return Err(format!(
            "prefix {} must be letters and digits (g, r, s, a component index)",
            quote(prefix)
        ));
    }
    if !path.starts_with('/') {
        return Err("the container path must be absolute (start with /)".into());
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return Err("the container path must not be / itself".into());
    }
    if segments.contains(&"..") {
        return Err("the container path must not contain ..".into());
    }
    let first = format!("/{}", segments[0]);
    if FORBIDDEN_MOUNT_ROOTS.contains(&first.as_str()) {
        return Err(format!("{first} is the kernel's, not a data folder"));
    }
    Ok(())
}

/// Every environment entry is `KEY=value` with a non-empty key.
pub(crate) fn check_env(obj: &Map<String, Value>, base: &str, key: &str, r: &mut Report) {
    // Type errors are reported by the list check; `string_array` would repeat them.
    if !obj.get(key).is_some_and(Value::is_array) {
        return;
    }
    let mut ignore = Report::default();
    let Some(entries) = string_array(obj, base, key, rule::MISSING_FIELD, &mut ignore) else {
        return;
    };
    for (i, e) in entries {
        if e.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
            r.push(
                &index(&join(base, key), i),
                rule::ENV_NOT_KEY_VALUE,
                format!("entry {} must be KEY=value", quote(e)),
            );
        }
    }
}

/// `repotag` is a Docker image reference.
pub(crate) fn check_repotag(tag: &str, path: &str, r: &mut Report) {
    if let Err(why) = image_reference(tag) {
        r.push(
            path,
            rule::REPOTAG_INVALID,
            format!(
                "repotag {} is not an image reference ([registry/]name[:tag][@digest]): {why}",
                quote(tag)
            ),
        );
    }
}

/// Longest repository name `distribution/reference` accepts.
const NAME_TOTAL_MAX: usize = 255;
/// Longest tag (`[\w][\w.-]{0,127}`).
const TAG_MAX: usize = 128;

/// Checks `s` against the `distribution/reference` grammar; the error says which part is
/// wrong.
pub fn image_reference(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        check_digest(d)?;
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        check_tag(t)?;
    }
    if name.len() > NAME_TOTAL_MAX {
        return Err(format!(
            "the name is longer than {NAME_TOTAL_MAX} characters"
        ));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    if parts.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost") {
        check_domain(first)?;
        parts.remove(0);
    }
    for p in parts {
        check_path_component(p)?;
    }
    Ok(())
}

fn check_domain(d: &str) -> Result<(), String> {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("registry port {} is not a number", quote(p)));
        }
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !host.split('.').all(label_ok) {
        return Err(format!("registry host {} is not a host name", quote(host)));
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_path_component(p: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "name part {} must be lower-case letters and digits joined by . _ __ or -",
            quote(p)
        ))
    };
    let b = p.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return bad();
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &p[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return bad();
        }
    }
    Ok(())
}

fn check_tag(t: &str) -> Result<(), String> {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = t.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= TAG_MAX
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {} must be 1 to {TAG_MAX} of A-Z a-z 0-9 _ . - (not starting with . or -)",
            quote(t)
        ))
    }
}

/// `algorithm:hex`, hex at least 32 digits.
fn check_digest(d: &str) -> Result<(), String> {
    let ok = d.split_once(':').is_some_and(|(alg, hex)| {
        !alg.is_empty()
            && alg.as_bytes()[0].is_ascii_alphabetic()
            && alg
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-' | b'_'))
            && hex.len() >= 32
            && hex.bytes().all(|c| c.is_ascii_hexdigit())
    });
    if ok {
        Ok(())
    } else {
        Err(format!("digest {} must be algorithm:hex", quote(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for good in [
            "busybox",
            "nginx:latest",
            "runonflux/palworld-server-flux:latest",
            "ghcr.io/tuankiri/socks5:latest",
            "127.0.0.1:5000/t/busybox:v1",
            "localhost:5000/a",
            "fluxregistry:5000/e2e-pause:v1",
            "a__b/c--d:V1.0_x",
            "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(image_reference(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "--privileged",
            "busybox --privileged",
            "nginx:latest --privileged",
            "Upper/case",
            "a//b",
            "a/b:",
            "a:-tag",
            "a@sha256:12",
            "reg:abc/x",
            "-reg.io/x",
            "a..b",
        ] {
            assert!(image_reference(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn data_entries() {
        for good in [
            "/tmp",
            "g:/config",
            "0:/data",
            "m:mods:/a/~mods",
            "r:/root",
            "/app/data",
        ] {
            assert_eq!(check_data_entry(good), Ok(()), "{good}");
        }
        for bad in [
            "/:/host",
            "../../etc",
            "/proc",
            "/proc/1",
            "/sys/fs",
            "/",
            "g:/",
            "/a/../b",
            "data",
            "g/x:/y",
        ] {
            assert!(check_data_entry(bad).is_err(), "{bad} accepted");
        }
    }
}
