//! What this host offers: cores, RAM and the data directory's disk, as the process can use
//! them (cgroup limits and CPU affinity applied), next to the raw host figures.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use super::BenchError;
use super::cgroup::{CgroupLimits, CgroupProbe};

/// Bytes in a GB as the tier table counts them (decimal, like disk vendors and Flux's
/// published "8 GB"): a nominal 8 GB machine showing 7.8 GiB of `MemTotal` still has
/// 8.3 GB and passes, as its operator expects.
pub const BYTES_PER_GB: f64 = 1e9;

/// The host as this process sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// CPUs this process may use: the smallest of the host's logical CPUs, the CPU
    /// affinity mask (cpusets) and the cgroup CPU quota. May be fractional (`--cpus 1.5`).
    pub cpus: f64,
    /// Logical CPUs counted for the tier (`cpus` rounded down, at least 1).
    pub logical_cores: u32,
    /// Physical cores counted for the tier: the host's, capped at `logical_cores` (a
    /// container limited to 2 CPUs cannot use more than 2 cores).
    pub physical_cores: u32,
    /// RAM this process may use, bytes: the host's `MemTotal` capped by the cgroup limit.
    pub ram_bytes: u64,
    /// The host before limits.
    pub host: HostFigures,
    /// Limits found in this process's cgroup.
    pub cgroup: CgroupLimits,
    /// Logical CPUs in this process's affinity mask.
    pub affinity_cpus: u32,
    /// The filesystem holding the data directory.
    pub disk: DiskSpace,
}

/// Host figures before any container limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostFigures {
    pub logical_cpus: u32,
    pub physical_cores: u32,
    pub ram_bytes: u64,
}

/// Size and free space of the filesystem holding a directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskSpace {
    /// The directory measured (canonical).
    pub path: PathBuf,
    /// Filesystem size, bytes.
    pub total_bytes: u64,
    /// Space available to this (unprivileged) process, bytes.
    pub free_bytes: u64,
}

impl Inventory {
    /// Reads the inventory for a data directory.
    pub fn collect(dir: &Path) -> Result<Inventory, BenchError> {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        );
        let host_logical = u32::try_from(system.cpus().len())
            .unwrap_or(u32::MAX)
            .max(1);
        let host = HostFigures {
            logical_cpus: host_logical,
            physical_cores: System::physical_core_count()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(host_logical)
                .max(1),
            ram_bytes: system.total_memory(),
        };
        let affinity_cpus = rustix::thread::sched_getaffinity(None)
            .map(|set| set.count())
            .unwrap_or(host_logical)
            .max(1);
        let cgroup = CgroupProbe::from_system().limits();
        Ok(Self::from_parts(
            host,
            affinity_cpus,
            cgroup,
            disk_space(dir)?,
        ))
    }

    /// Applies the limits to the host figures (pure, so the arithmetic is testable).
    pub fn from_parts(
        host: HostFigures,
        affinity_cpus: u32,
        cgroup: CgroupLimits,
        disk: DiskSpace,
    ) -> Inventory {
        let mut cpus = f64::from(host.logical_cpus.min(affinity_cpus));
        if let Some(quota) = cgroup.cpu_quota {
            cpus = cpus.min(quota);
        }
        // Rounded down: a 1.5-CPU quota does not give two cores' worth of work.
        let logical_cores = (cpus.floor() as u32).max(1);
        let physical_cores = host.physical_cores.min(logical_cores).max(1);
        let ram_bytes = match cgroup.memory_limit_bytes {
            Some(limit) => host.ram_bytes.min(limit),
            None => host.ram_bytes,
        };
        Inventory {
            cpus,
            logical_cores,
            physical_cores,
            ram_bytes,
            host,
            cgroup,
            affinity_cpus,
            disk,
        }
    }

    /// Threads that keep every usable CPU busy (a 1.5-CPU quota needs 2).
    pub fn worker_threads(&self) -> usize {
        (self.cpus.ceil() as usize).max(1)
    }

    pub fn ram_gb(&self) -> f64 {
        self.ram_bytes as f64 / BYTES_PER_GB
    }

    pub fn disk_total_gb(&self) -> f64 {
        self.disk.total_bytes as f64 / BYTES_PER_GB
    }
}

/// `statvfs` of the directory, which must exist.
pub fn disk_space(dir: &Path) -> Result<DiskSpace, BenchError> {
    let path = dir.canonicalize().map_err(|source| BenchError::DataDir {
        path: dir.to_owned(),
        source,
    })?;
    if !path.is_dir() {
        return Err(BenchError::DataDir {
            path: dir.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let stat = rustix::fs::statvfs(&path).map_err(|e| BenchError::DataDir {
        path: path.clone(),
        source: e.into(),
    })?;
    Ok(DiskSpace {
        total_bytes: stat.f_blocks.saturating_mul(stat.f_frsize),
        free_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostFigures {
        HostFigures {
            logical_cpus: 16,
            physical_cores: 8,
            ram_bytes: 64 << 30,
        }
    }

    fn disk() -> DiskSpace {
        DiskSpace {
            path: PathBuf::from("/"),
            total_bytes: 1,
            free_bytes: 1,
        }
    }

    #[test]
    fn container_limits_replace_host_figures() {
        let limits = CgroupLimits {
            cpu_quota: Some(2.0),
            memory_limit_bytes: Some(4 << 30),
            ..CgroupLimits::default()
        };
        let inv = Inventory::from_parts(host(), 16, limits, disk());
        assert_eq!(
            (inv.cpus, inv.logical_cores, inv.physical_cores),
            (2.0, 2, 2)
        );
        assert_eq!(inv.ram_bytes, 4 << 30);
        assert_eq!(inv.worker_threads(), 2);
    }

    #[test]
    fn fractional_quota_rounds_down_for_the_tier_and_up_for_threads() {
        let limits = CgroupLimits {
            cpu_quota: Some(1.5),
            ..CgroupLimits::default()
        };
        let inv = Inventory::from_parts(host(), 16, limits, disk());
        assert_eq!((inv.logical_cores, inv.worker_threads()), (1, 2));
        // A tiny quota still counts one core rather than zero.
        let limits = CgroupLimits {
            cpu_quota: Some(0.25),
            ..CgroupLimits::default()
        };
        let inv = Inventory::from_parts(host(), 16, limits, disk());
        assert_eq!((inv.logical_cores, inv.worker_threads()), (1, 1));
    }

    #[test]
    fn affinity_and_unlimited_memory() {
        // cgroup v1 reports "no limit" as a huge number; the host's RAM bounds it.
        let limits = CgroupLimits {
            memory_limit_bytes: Some(9_223_372_036_854_771_712),
            ..CgroupLimits::default()
        };
        let inv = Inventory::from_parts(host(), 4, limits, disk());
        assert_eq!(
            (inv.cpus, inv.logical_cores, inv.physical_cores),
            (4.0, 4, 4)
        );
        assert_eq!(inv.ram_bytes, 64 << 30);
    }

    #[test]
    fn disk_space_of_a_real_directory_and_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let space = disk_space(dir.path()).unwrap();
        assert!(space.total_bytes > 0 && space.free_bytes <= space.total_bytes);
        let missing = dir.path().join("absent");
        let err = disk_space(&missing).unwrap_err().to_string();
        assert!(err.contains("absent"), "{err}");
    }
}
