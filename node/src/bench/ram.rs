//! Sequential RAM bandwidth: STREAM-style copy, one thread per usable CPU.
//!
//! Each thread copies one buffer into another, back to back, until the deadline. Copy is
//! counted as STREAM counts it: bytes read plus bytes written. The buffers together are
//! far larger than any CPU cache, so the figure is memory, not cache, bandwidth.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::BenchError;

/// Working set of all threads together for a full run: 512 MiB is several times the
/// largest L3 caches sold today (AMD's 3D V-Cache parts have 96–128 MiB per socket).
pub const FULL_WORKING_SET_BYTES: usize = 512 << 20;
/// Quick runs: 128 MiB, still above the L3 of all but the largest parts, and four times
/// faster to allocate and fault in.
pub const QUICK_WORKING_SET_BYTES: usize = 128 << 20;
/// Never use more than this share of the RAM the process may use (a small container).
const MAX_RAM_SHARE: u64 = 8;
/// Below this per buffer, the run would measure cache; 8 MiB is still above most L2/L3
/// slices per core.
const MIN_BUFFER_BYTES: usize = 8 << 20;

/// RAM bandwidth figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RamReport {
    /// Copy bandwidth in MB/s (10^6 bytes; read + written).
    pub copy_mbs: f64,
    pub threads: usize,
    /// Size of each source and destination buffer, bytes.
    pub buffer_bytes: usize,
}

/// Measures with `threads` threads for `duration`, using at most `working_set` bytes and
/// `ram_bytes / 8`.
pub fn run(
    threads: usize,
    ram_bytes: u64,
    working_set: usize,
    duration: Duration,
) -> Result<RamReport, BenchError> {
    let threads = threads.max(1);
    let budget = usize::try_from(ram_bytes / MAX_RAM_SHARE)
        .unwrap_or(usize::MAX)
        .min(working_set);
    let buffer_bytes = (budget / (2 * threads)).max(MIN_BUFFER_BYTES);
    let start = Barrier::new(threads);
    let results: Vec<Result<(u64, Duration), BenchError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = &start;
                scope.spawn(move || {
                    let src = vec![t as u8 ^ 0x5a; buffer_bytes];
                    let mut dst = vec![0u8; buffer_bytes];
                    // Untimed first copy: faults every page of `dst` in.
                    dst.copy_from_slice(&src);
                    start.wait();
                    let began = Instant::now();
                    let mut bytes = 0u64;
                    let mut last_end = began;
                    while last_end - began < duration {
                        dst.copy_from_slice(black_box(&src));
                        black_box(&mut dst);
                        bytes += 2 * buffer_bytes as u64;
                        last_end = Instant::now();
                    }
                    Ok((bytes, last_end - began))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(BenchError::WorkerPanicked("ram"))))
            .collect()
    });
    let mut copy_mbs = 0.0;
    for result in results {
        let (bytes, elapsed) = result?;
        copy_mbs += bytes as f64 / 1e6 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    }
    Ok(RamReport {
        copy_mbs,
        threads,
        buffer_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_container_gets_small_buffers() {
        let report = run(
            2,
            256 << 20,
            FULL_WORKING_SET_BYTES,
            Duration::from_millis(20),
        )
        .unwrap();
        // 256 MiB / 8 = 32 MiB for 2 threads × 2 buffers = 8 MiB each.
        assert_eq!(report.buffer_bytes, 8 << 20);
        assert!(report.copy_mbs > 0.0);
    }
}
