//! Disk write speed of the data directory, out of reach of the page cache.
//!
//! Sequential: 1 MiB writes to a new file, like `dd if=/dev/zero of=FILE bs=1M count=N
//! oflag=direct`, in five rounds each closed by an `fdatasync` (counted) so nothing is
//! left in flight; the median round's MB/s is reported. Random: 4 KiB
//! writes at random aligned offsets of that file, one at a time (queue depth 1), like fio's
//! `--rw=randwrite --bs=4k --direct=1 --iodepth=1`.
//!
//! Writes bypass the page cache with `O_DIRECT`. Direct I/O needs the buffer, offset and
//! length aligned to the device's logical block; the buffer is carved out of a `Vec` at a
//! 4 KiB boundary (`align_offset`, no `unsafe`). Filesystems that refuse `O_DIRECT` (tmpfs,
//! some FUSE and overlay mounts) get `O_DSYNC` instead: every write returns only once it is
//! on stable storage, as with `dd oflag=dsync`. The mode used is reported.
//!
//! The data is pseudo-random, not zeros, so compressing or deduplicating storage cannot
//! flatter the figure either.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::OFlags;
use serde::{Deserialize, Serialize};

use super::BenchError;

/// Sequential write chunk, as `dd bs=1M`.
pub const SEQ_CHUNK_BYTES: usize = 1 << 20;
/// Random write size, the common database page / filesystem block.
pub const RANDOM_WRITE_BYTES: usize = 4 << 10;
/// Alignment satisfying `O_DIRECT` on 512-byte and 4 KiB-sector devices alike.
const ALIGN: usize = 4 << 10;
/// Sequential rounds; the median is reported.
const SEQ_ROUNDS: u64 = 5;
/// Free space left untouched: never fill the operator's disk for a benchmark.
const KEEP_FREE_BYTES: u64 = 1 << 30;
/// The sequential file must be at least this large for a meaningful figure.
const MIN_FILE_BYTES: u64 = 16 << 20;

/// How the writes avoided the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    /// `O_DIRECT`: the page cache is bypassed.
    Direct,
    /// `O_DSYNC`: each write waits for stable storage (the filesystem refused `O_DIRECT`).
    Dsync,
}

/// Disk figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskReport {
    /// Sequential write, MB/s (10^6 bytes, as `dd` prints): the median of the rounds.
    pub write_mbs: f64,
    /// Bytes written sequentially.
    pub write_bytes: u64,
    /// 4 KiB random writes per second at queue depth 1.
    pub random_write_iops: f64,
    pub random_writes: u64,
    pub io_mode: IoMode,
}

/// Limits of one disk run.
#[derive(Debug, Clone, Copy)]
pub struct DiskPlan {
    /// Stop the sequential write after this many bytes...
    pub max_bytes: u64,
    /// ...or this long, whichever comes first.
    pub seq_time: Duration,
    /// Length of the random-write run.
    pub random_time: Duration,
}

/// Measures in `dir`, writing at most `plan.max_bytes` and never below 1 GiB free.
pub fn run(dir: &Path, free_bytes: u64, plan: DiskPlan) -> Result<DiskReport, BenchError> {
    let room = free_bytes.saturating_sub(KEEP_FREE_BYTES);
    let max_bytes = plan.max_bytes.min(room) / SEQ_CHUNK_BYTES as u64 * SEQ_CHUNK_BYTES as u64;
    if max_bytes < MIN_FILE_BYTES {
        return Err(BenchError::DiskFull {
            path: dir.to_owned(),
            free_bytes,
            needed_bytes: MIN_FILE_BYTES + KEEP_FREE_BYTES,
        });
    }
    let scratch = ScratchFile::new(dir);
    let io = |source| BenchError::DiskIo {
        path: scratch.path.clone(),
        source,
    };
    let (mut file, io_mode) = open_for_writes(&scratch.path, true).map_err(io)?;
    let mut chunk = AlignedBuf::new(SEQ_CHUNK_BYTES);
    fill_pseudo_random(chunk.as_mut_slice(), 0x9e37_79b9_7f4a_7c15);

    // The sequential write is split into rounds, each ending in `fdatasync`, and the
    // median round is reported: one burst of another process's writeback then moves the
    // figure by one round, not the whole result.
    let chunk_bytes = SEQ_CHUNK_BYTES as u64;
    let round_bytes = (max_bytes / SEQ_ROUNDS / chunk_bytes).max(1) * chunk_bytes;
    let round_time = plan.seq_time / SEQ_ROUNDS as u32;
    let mut written = 0u64;
    let mut round_mbs = Vec::with_capacity(SEQ_ROUNDS as usize);
    for _ in 0..SEQ_ROUNDS {
        let began = Instant::now();
        let mut bytes = 0u64;
        while bytes < round_bytes && began.elapsed() < round_time {
            file.write_all(chunk.as_slice()).map_err(io)?;
            bytes += chunk_bytes;
        }
        file.sync_data().map_err(io)?;
        round_mbs.push(bytes as f64 / 1e6 / began.elapsed().as_secs_f64().max(f64::MIN_POSITIVE));
        written += bytes;
    }
    drop(file);

    let (file, _) = open_for_writes(&scratch.path, false).map_err(io)?;
    let blocks = written / RANDOM_WRITE_BYTES as u64;
    let mut block = AlignedBuf::new(RANDOM_WRITE_BYTES);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let began = Instant::now();
    let mut random_writes = 0u64;
    while began.elapsed() < plan.random_time {
        let offset = (rng.next() % blocks) * RANDOM_WRITE_BYTES as u64;
        // New content each time, so no layer can skip an identical rewrite.
        block.as_mut_slice()[..8].copy_from_slice(&random_writes.to_le_bytes());
        file.write_all_at(block.as_slice(), offset).map_err(io)?;
        random_writes += 1;
    }
    file.sync_data().map_err(io)?;
    let random_elapsed = began.elapsed();

    Ok(DiskReport {
        write_mbs: median(&mut round_mbs),
        write_bytes: written,
        random_write_iops: random_writes as f64
            / random_elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
        random_writes,
        io_mode,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Opens for writing with `O_DIRECT`, falling back to `O_DSYNC` when the filesystem
/// refuses direct I/O (`EINVAL` at open or at the first aligned write).
fn open_for_writes(path: &Path, create: bool) -> io::Result<(File, IoMode)> {
    let open = |flags: OFlags| {
        let mut options = OpenOptions::new();
        options.write(true).custom_flags(flags.bits() as i32);
        if create {
            options.create(true).truncate(true);
        }
        options.open(path)
    };
    match open(OFlags::DIRECT) {
        Ok(file) if direct_write_works(&file)? => Ok((file, IoMode::Direct)),
        Ok(_) => Ok((open(OFlags::DSYNC)?, IoMode::Dsync)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
            Ok((open(OFlags::DSYNC)?, IoMode::Dsync))
        }
        Err(e) => Err(e),
    }
}

/// Some filesystems accept `O_DIRECT` at open and fail the write; probe with one block
/// at offset 0 (overwritten by the measurement itself).
fn direct_write_works(file: &File) -> io::Result<bool> {
    let block = AlignedBuf::new(ALIGN);
    match file.write_at(block.as_slice(), 0) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A byte buffer whose start is 4 KiB aligned: a `Vec` one alignment longer than needed,
/// used from its first aligned byte.
#[derive(Debug)]
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let storage = vec![0u8; len + ALIGN];
        // For a byte pointer and a power-of-two alignment, the offset is always < ALIGN.
        let start = storage.as_ptr().align_offset(ALIGN).min(ALIGN);
        Self {
            storage,
            start,
            len,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// xorshift64: fast, seeded, reproducible offsets and data.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn fill_pseudo_random(buf: &mut [u8], seed: u64) {
    let mut rng = XorShift(seed);
    for word in buf.chunks_mut(8) {
        let bytes = rng.next().to_le_bytes();
        word.copy_from_slice(&bytes[..word.len()]);
    }
}

/// The benchmark's file in the data directory, removed when dropped (also on error).
#[derive(Debug)]
struct ScratchFile {
    path: PathBuf,
}

impl ScratchFile {
    fn new(dir: &Path) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(".fluxnode-bench-{}-{nanos}", std::process::id());
        Self {
            path: dir.join(name),
        }
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffer_is_aligned() {
        for len in [ALIGN, SEQ_CHUNK_BYTES] {
            let buf = AlignedBuf::new(len);
            assert_eq!(buf.as_slice().as_ptr() as usize % ALIGN, 0);
            assert_eq!(buf.as_slice().len(), len);
        }
    }

    #[test]
    fn writes_in_a_real_directory_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let plan = DiskPlan {
            max_bytes: 20 << 20,
            seq_time: Duration::from_secs(5),
            random_time: Duration::from_millis(50),
        };
        let report = run(dir.path(), u64::MAX, plan).unwrap();
        assert_eq!(report.write_bytes, 20 << 20, "five rounds of 4 MiB");
        assert!(
            report.write_mbs > 0.0 && report.random_writes > 0,
            "{report:?}"
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "scratch file left"
        );
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn refuses_to_fill_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let plan = DiskPlan {
            max_bytes: 1 << 30,
            seq_time: Duration::from_secs(1),
            random_time: Duration::from_millis(10),
        };
        let err = run(dir.path(), KEEP_FREE_BYTES + (1 << 20), plan).unwrap_err();
        assert!(matches!(err, BenchError::DiskFull { .. }), "{err}");
    }
}
