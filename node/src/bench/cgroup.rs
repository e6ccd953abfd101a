//! CPU and memory limits imposed on this process by its control group, v1 or v2.
//!
//! A node inside a container must report what the container may use, not the host. The
//! limits are found the way the kernel documents them rather than at fixed paths:
//! `/proc/self/cgroup` names this process's cgroup in each hierarchy, and
//! `/proc/self/mountinfo` says where each hierarchy is mounted and which part of it
//! (the mount's root) the mount shows. Inside a container the mount root is usually the
//! container's own cgroup, so the same process may see `/docker/<id>` in
//! `/proc/self/cgroup` and find its files directly at the mount point.
//!
//! Limits set on an ancestor cgroup bind too (a Kubernetes pod limit sits above the
//! container's), so every level from the process's cgroup up to the mount point is read and
//! the smallest limit wins.
//!
//! Files read, per version (absent files mean "no limit"):
//! - v2: `cpu.max` (`"<quota> <period>"` or `"max <period>"`), `memory.max` (bytes or `max`).
//! - v1: `cpu.cfs_quota_us` (`-1` = none) with `cpu.cfs_period_us`, and
//!   `memory.limit_in_bytes` (an unlimited group shows a huge page-aligned number,
//!   `0x7FFF_FFFF_FFFF_F000` on x86-64, read as "no limit").

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// v1 shows "no memory limit" as the page counter's maximum times the page size, just below
/// 2^63; anything from 2^62 bytes (4 EiB) up is no real limit.
const V1_UNLIMITED_FROM: u64 = 1 << 62;

/// Which cgroup hierarchy a limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Limits found for this process; `None` where no limit applies or none could be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupLimits {
    /// CPU bandwidth limit in CPUs (quota / period), e.g. `1.5`.
    pub cpu_quota: Option<f64>,
    /// Hierarchy the CPU limit was read from.
    pub cpu_source: Option<CgroupVersion>,
    /// Memory limit in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Hierarchy the memory limit was read from.
    pub memory_source: Option<CgroupVersion>,
}

/// Where to read from: the real `/proc` and `/sys` in production, a prepared directory in
/// tests (so both versions can be exercised on any machine).
#[derive(Debug, Clone)]
pub struct CgroupProbe {
    /// Contents of `/proc/self/cgroup`.
    pub proc_self_cgroup: String,
    /// Contents of `/proc/self/mountinfo`.
    pub mountinfo: String,
    /// Prefix prepended to every mount point (`/` for the real system).
    pub fs_root: PathBuf,
}

impl CgroupProbe {
    /// Reads this process's view. Missing files (not Linux, `/proc` not mounted) give an
    /// empty probe, which finds no limits.
    pub fn from_system() -> Self {
        Self {
            proc_self_cgroup: fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
            mountinfo: fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
            fs_root: PathBuf::from("/"),
        }
    }

    /// The limits for this process.
    pub fn limits(&self) -> CgroupLimits {
        let mut limits = CgroupLimits::default();
        // A hybrid host has both hierarchies mounted; a controller attached to a v1
        // hierarchy is not available in v2, so v1 is asked first for each controller.
        if let Some(dirs) = self.v1_dirs("cpu") {
            limits.cpu_source = Some(CgroupVersion::V1);
            limits.cpu_quota = min_over(&dirs, read_v1_cpu);
        } else if let Some(dirs) = self.v2_dirs() {
            limits.cpu_source = Some(CgroupVersion::V2);
            limits.cpu_quota = min_over(&dirs, read_v2_cpu);
        }
        if let Some(dirs) = self.v1_dirs("memory") {
            limits.memory_source = Some(CgroupVersion::V1);
            limits.memory_limit_bytes = min_over(&dirs, |d| {
                read_trimmed(&d.join("memory.limit_in_bytes"))
                    .and_then(|s| s.parse().ok())
                    .filter(|&v| v < V1_UNLIMITED_FROM)
            });
        } else if let Some(dirs) = self.v2_dirs() {
            limits.memory_source = Some(CgroupVersion::V2);
            limits.memory_limit_bytes = min_over(&dirs, |d| {
                read_trimmed(&d.join("memory.max")).and_then(|s| s.parse().ok())
            });
        }
        // A source without any limit found is not worth reporting.
        if limits.cpu_quota.is_none() {
            limits.cpu_source = None;
        }
        if limits.memory_limit_bytes.is_none() {
            limits.memory_source = None;
        }
        limits
    }

    /// Directories of the v1 hierarchy carrying `controller`, from this process's cgroup up
    /// to the mount point.
    fn v1_dirs(&self, controller: &str) -> Option<Vec<PathBuf>> {
        let path = self.proc_self_cgroup.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_owned())
        })?;
        let mount = self.mounts().find(|m| {
            m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == controller)
        })?;
        Some(self.dirs_up(&mount, &path))
    }

    /// Directories of the v2 hierarchy, from this process's cgroup up to the mount point.
    fn v2_dirs(&self) -> Option<Vec<PathBuf>> {
        let path = self
            .proc_self_cgroup
            .lines()
            .find_map(|line| line.strip_prefix("0::").map(str::to_owned))?;
        let mount = self.mounts().find(|m| m.fstype == "cgroup2")?;
        Some(self.dirs_up(&mount, &path))
    }

    fn mounts(&self) -> impl Iterator<Item = Mount> + '_ {
        self.mountinfo.lines().filter_map(Mount::parse)
    }

    /// Maps the cgroup `path` into the mount and lists it and its ancestors inside the mount.
    fn dirs_up(&self, mount: &Mount, path: &str) -> Vec<PathBuf> {
        // Within the mount, the process's cgroup is `path` relative to the mount's root.
        // When the path lies outside that root (a cgroup namespace hides it), the mount
        // point itself is the best available view.
        let relative = if mount.root == "/" {
            path.trim_start_matches('/')
        } else {
            path.strip_prefix(mount.root.as_str())
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or("")
        };
        let mount_point = self.fs_root.join(mount.mount_point.trim_start_matches('/'));
        let mut dirs = vec![mount_point.clone()];
        let mut current = mount_point;
        for component in relative.split('/').filter(|c| !c.is_empty() && *c != "..") {
            current = current.join(component);
            dirs.push(current.clone());
        }
        dirs
    }
}

/// One line of `/proc/self/mountinfo`, the fields this module needs.
#[derive(Debug)]
struct Mount {
    root: String,
    mount_point: String,
    fstype: String,
    super_options: String,
}

impl Mount {
    /// `36 35 98:0 /root /mount rw,noatime master:1 - fstype source super,options`
    fn parse(line: &str) -> Option<Mount> {
        let (left, right) = line.split_once(" - ")?;
        let mut left = left.split(' ');
        let root = unescape(left.nth(3)?);
        let mount_point = unescape(left.next()?);
        let mut right = right.split(' ');
        let fstype = right.next()?.to_owned();
        let _source = right.next()?;
        let super_options = right.next().unwrap_or("").to_owned();
        Some(Mount {
            root,
            mount_point,
            fstype,
            super_options,
        })
    }
}

/// mountinfo escapes space, tab, newline and backslash as three-digit octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// The smallest value `read` finds over `dirs`, or `None` when none has a limit.
fn min_over<T: PartialOrd + Copy>(
    dirs: &[PathBuf],
    read: impl Fn(&Path) -> Option<T>,
) -> Option<T> {
    dirs.iter()
        .filter_map(|d| read(d))
        .fold(None, |acc: Option<T>, v| match acc {
            Some(a) if a <= v => Some(a),
            _ => Some(v),
        })
}

fn read_v2_cpu(dir: &Path) -> Option<f64> {
    let text = read_trimmed(&dir.join("cpu.max"))?;
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?; // "max" fails to parse: no limit
    let period: f64 = parts.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

fn read_v1_cpu(dir: &Path) -> Option<f64> {
    let quota: i64 = read_trimmed(&dir.join("cpu.cfs_quota_us"))?.parse().ok()?;
    let period: i64 = read_trimmed(&dir.join("cpu.cfs_period_us"))?.parse().ok()?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// Docker on a cgroup v1 host (this machine's engine): the container's cgroup is the
    /// root of each mount, while `/proc/self/cgroup` shows the host-side path.
    #[test]
    fn v1_container_with_host_paths() {
        let fs_root = tempfile::tempdir().unwrap();
        let r = fs_root.path();
        write(r, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000\n");
        write(r, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        write(
            r,
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "536870912\n",
        );
        let probe = CgroupProbe {
            proc_self_cgroup: "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n".into(),
            mountinfo: "\
30 25 0:26 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
"
            .into(),
            fs_root: r.to_owned(),
        };
        let limits = probe.limits();
        assert_eq!(limits.cpu_quota, Some(1.5));
        assert_eq!(limits.cpu_source, Some(CgroupVersion::V1));
        assert_eq!(limits.memory_limit_bytes, Some(512 << 20));
        assert_eq!(limits.memory_source, Some(CgroupVersion::V1));
    }

    /// A process on a v2 host, in a nested cgroup whose parent holds the tighter memory
    /// limit and whose own cpu.max is the only CPU limit.
    #[test]
    fn v2_nested_takes_the_tightest_ancestor() {
        let fs_root = tempfile::tempdir().unwrap();
        let r = fs_root.path();
        write(r, "sys/fs/cgroup/kubepods/memory.max", "4294967296\n");
        write(r, "sys/fs/cgroup/kubepods/cpu.max", "max 100000\n");
        write(r, "sys/fs/cgroup/kubepods/pod1/memory.max", "max\n");
        write(r, "sys/fs/cgroup/kubepods/pod1/cpu.max", "200000 100000\n");
        let probe = CgroupProbe {
            proc_self_cgroup: "0::/kubepods/pod1\n".into(),
            mountinfo: "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
                .into(),
            fs_root: r.to_owned(),
        };
        let limits = probe.limits();
        assert_eq!(limits.cpu_quota, Some(2.0));
        assert_eq!(limits.cpu_source, Some(CgroupVersion::V2));
        assert_eq!(limits.memory_limit_bytes, Some(4 << 30));
    }

    #[test]
    fn unlimited_and_unreadable_give_no_limit() {
        let fs_root = tempfile::tempdir().unwrap();
        let r = fs_root.path();
        write(r, "sys/fs/cgroup/cpu.max", "max 100000\n");
        write(r, "sys/fs/cgroup/memory.max", "garbage\n");
        let probe = CgroupProbe {
            proc_self_cgroup: "0::/\n".into(),
            mountinfo: "25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n".into(),
            fs_root: r.to_owned(),
        };
        assert_eq!(probe.limits(), CgroupLimits::default());
        let empty = CgroupProbe {
            proc_self_cgroup: String::new(),
            mountinfo: "not a mountinfo line\n".into(),
            fs_root: r.to_owned(),
        };
        assert_eq!(empty.limits(), CgroupLimits::default());
        // v1's "unlimited": quota -1 and the page counter's maximum.
        write(r, "v1/cpu/cpu.cfs_quota_us", "-1\n");
        write(r, "v1/cpu/cpu.cfs_period_us", "100000\n");
        write(
            r,
            "v1/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        let v1 = CgroupProbe {
            proc_self_cgroup: "5:memory:/\n4:cpu:/\n".into(),
            mountinfo: "\
30 25 0:26 / /v1/cpu rw - cgroup cgroup rw,cpu
31 25 0:27 / /v1/memory rw - cgroup cgroup rw,memory
"
            .into(),
            fs_root: r.to_owned(),
        };
        assert_eq!(v1.limits(), CgroupLimits::default());
    }

    #[test]
    fn mountinfo_octal_escapes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/tail\04"), r"/tail\04");
        assert_eq!(unescape("/ünï"), "/ünï");
    }
}
