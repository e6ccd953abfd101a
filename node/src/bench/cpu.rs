//! CPU events per second with sysbench's CPU event.
//!
//! One event is exactly the loop of sysbench 1.0's `cpu` test (`cpu_execute_event` in
//! `src/tests/cpu/sb_cpu.c`): for every `c` in `3..max_prime`, trial-divide by
//! `l = 2, 3, …` while `l <= sqrt(c)` (the comparison in `f64`, as C converts `l` to
//! `double`), stopping at the first divisor. Same integer width (`u64` ↔ `unsigned long
//! long`), same bound, so `eps` here is comparable to
//! `sysbench cpu --cpu-max-prime=PRIME_BOUND --threads=T run`'s "events per second";
//! `scripts/bench-compare.sh` checks the ratio on the machine at hand.
//!
//! Same source is not yet same work: on x86-64, LLVM guards every 64-bit division with a
//! test that takes a 32-bit `div` when both operands fit (they always do here), while GCC,
//! which builds Debian's sysbench, emits the 64-bit `div`. The 32-bit form is cheaper on
//! most x86 CPUs — measured 1.55× more events per second on this project's Xeon test host —
//! which would let nodes pass EPS minimums that sysbench-calibrated figures say they miss.
//! [`urem64`] therefore issues the 64-bit `div` itself (see there); other architectures
//! have no such rewrite and use `%`.
//!
//! Each thread runs events back to back until the deadline and remembers when its last
//! event finished, in wall-clock and in its own CPU time; the rate is the sum of each
//! thread's events over its own elapsed time, so a partly run last event neither counts
//! nor stretches the window. See [`CpuReport`] for why the CPU-time rate is the headline.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::BenchError;

/// Prime bound of one event. sysbench's default is 10,000; 60,000 makes an event last
/// ~10 ms on a current core, so the per-event loop overhead and the timer checks vanish
/// and a 4-thread machine lands in the range of Flux's published EPS minimums (240–1,520).
/// Flux's own bound is not published; compare with sysbench at this same bound.
pub const PRIME_BOUND: u32 = 60_000;

/// Primes in `3..60_000` (π(60,000) = 6,057, minus the prime 2 the loop starts past).
/// Every event must find exactly this many; a CPU that computes otherwise is broken or
/// unstably overclocked, and its figure is worthless.
pub const PRIMES_BELOW_BOUND: u64 = 6_056;

/// Events per second, all usable CPUs and one thread.
///
/// `eps` and `eps_single` are the host's capacity: events per second of CPU time each
/// thread actually got (its `CLOCK_THREAD_CPUTIME_ID`), summed over the threads and capped
/// at the usable CPUs. They do not drop when other processes — including the apps this
/// node hosts, when the daemon re-benchmarks — take a share of the CPU, so a busy node
/// does not flap between tiers. Time a hypervisor steals from the VM is different: the
/// guest kernel does not charge it to the thread, yet it is capacity the operator's
/// machine really lacks, so the rates are multiplied by `1 − steal_fraction` (steal share
/// of all CPU time in `/proc/stat` during the run). On an idle host they equal the
/// wall-clock rates, which are reported beside them (`*_wall`: what `sysbench cpu` would
/// print at that moment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuReport {
    /// `--cpu-max-prime` equivalent.
    pub prime_bound: u32,
    /// Threads of the multi-threaded run (one per usable CPU, rounded up).
    pub threads: usize,
    /// Events per CPU-second with `threads` threads, scaled to the usable CPUs.
    pub eps: f64,
    /// Events per CPU-second with one thread.
    pub eps_single: f64,
    /// Events per wall-clock second with `threads` threads and with one.
    pub eps_wall: f64,
    pub eps_single_wall: f64,
    /// Share of CPU time stolen by the hypervisor during the multi- and single-threaded
    /// runs (0 on bare metal or when `/proc/stat` is unreadable).
    pub steal_fraction: f64,
    pub steal_fraction_single: f64,
    /// Events completed in the multi- and single-threaded runs.
    pub events: u64,
    pub events_single: u64,
}

/// sysbench's CPU event; returns the number of primes found in `3..max_prime`.
pub fn prime_event(max_prime: u32) -> u64 {
    let mut primes = 0;
    let mut c: u64 = 3;
    while c < u64::from(max_prime) {
        let t = as_f64(c).sqrt();
        let mut l: u64 = 2;
        while as_f64(l) <= t {
            // GCC turns the first trial, `c % 2`, into a bit test; so does this loop, or
            // it would do ~3 % more work per event than sysbench's binary.
            let remainder = if l == 2 { c & 1 } else { urem64(c, l) };
            if remainder == 0 {
                break;
            }
            l += 1;
        }
        if as_f64(l) > t {
            primes += 1;
        }
        c += 1;
    }
    primes
}

/// `(double)v` for a value below the prime bound. The bound is a `u32`, as sysbench's
/// `unsigned int max_prime`, so the value fits in 32 bits and converts with one
/// `cvtsi2sd`, as GCC compiles it; LLVM's full `u64 as f64` sequence is about 5 % slower
/// in this loop, which would make our events dearer than sysbench's.
#[inline(always)]
fn as_f64(v: u64) -> f64 {
    f64::from(v as u32)
}

/// `c % l` as exactly one 64-bit `div` instruction, as GCC compiles sysbench's
/// `unsigned long long` remainder (see the module notes for why `%` is not used).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // Inline assembly is `unsafe` by definition; this is the one use.
#[inline(always)]
fn urem64(c: u64, l: u64) -> u64 {
    let remainder: u64;
    // SAFETY: `div r64` divides rdx:rax by the operand, leaving the quotient in rax and
    // the remainder in rdx. rdx is zeroed, so the quotient is c / l and fits in rax; the
    // caller never passes l == 0 (trial division starts at 2), so it cannot fault. No
    // memory or stack is touched and both clobbered registers are declared.
    unsafe {
        std::arch::asm!(
            "div {divisor}",
            divisor = in(reg) l,
            inout("rax") c => _,
            inout("rdx") 0u64 => remainder,
            options(pure, nomem, nostack),
        );
    }
    remainder
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn urem64(c: u64, l: u64) -> u64 {
    c % l
}

/// Measured events of one run.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    events: u64,
    /// Sum over threads of events per second of the thread's own CPU time.
    per_cpu_second: f64,
    /// Sum over threads of events per wall-clock second.
    per_wall_second: f64,
    /// Share of all CPU time the hypervisor stole meanwhile.
    steal_fraction: f64,
}

/// One thread's count and the wall and CPU time up to its last completed event.
struct ThreadRun {
    events: u64,
    wall: Duration,
    cpu: Duration,
}

fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Runs events on one thread until `duration` of wall time has passed.
fn run_thread(start: &Barrier, duration: Duration) -> Result<ThreadRun, BenchError> {
    start.wait();
    let (began, cpu_began) = (Instant::now(), thread_cpu_time());
    let deadline = began + duration;
    let mut run = ThreadRun {
        events: 0,
        wall: Duration::ZERO,
        cpu: Duration::ZERO,
    };
    while began + run.wall < deadline {
        // black_box: the bound must not be constant-folded into the loop.
        let found = prime_event(black_box(PRIME_BOUND));
        if found != PRIMES_BELOW_BOUND {
            return Err(BenchError::CpuSelfCheck {
                found,
                expected: PRIMES_BELOW_BOUND,
            });
        }
        run.events += 1;
        run.wall = began.elapsed();
        run.cpu = thread_cpu_time().saturating_sub(cpu_began);
    }
    Ok(run)
}

/// Aggregate CPU time counters from the `cpu` line of `/proc/stat`: (steal, total).
fn cpu_time_counters() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is
    // already included in user and nice, so only the first eight are summed.
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let steal = *fields.get(7)?;
    Some((steal, fields.iter().sum()))
}

/// Share of CPU time stolen between two readings of [`cpu_time_counters`].
fn steal_between(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> f64 {
    match (before, after) {
        (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => {
            (s1.saturating_sub(s0) as f64 / (t1 - t0) as f64).clamp(0.0, 1.0)
        }
        _ => 0.0,
    }
}

/// Runs `threads` threads for `duration` each.
fn measure(threads: usize, duration: Duration) -> Result<Rate, BenchError> {
    let counters_before = cpu_time_counters();
    let start = Barrier::new(threads);
    let results: Vec<Result<ThreadRun, BenchError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| run_thread(&start, duration)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(BenchError::WorkerPanicked("cpu"))))
            .collect()
    });
    let per_second =
        |events: u64, time: Duration| events as f64 / time.as_secs_f64().max(f64::MIN_POSITIVE);
    let mut rate = Rate {
        steal_fraction: steal_between(counters_before, cpu_time_counters()),
        ..Rate::default()
    };
    for result in results {
        let run = result?;
        rate.events += run.events;
        rate.per_cpu_second += per_second(run.events, run.cpu);
        rate.per_wall_second += per_second(run.events, run.wall);
    }
    Ok(rate)
}

/// The multi-threaded run on `cpus` usable CPUs, then the single-threaded one.
pub fn run(cpus: f64, multi: Duration, single: Duration) -> Result<CpuReport, BenchError> {
    let threads = (cpus.ceil() as usize).max(1);
    let all = measure(threads, multi)?;
    let one = measure(1, single)?;
    // With a fractional quota (1.5 CPUs on 2 threads) the threads' CPU-time rates add up
    // to more than the quota allows; scale them back to the usable CPUs.
    let quota_share = (cpus / threads as f64).clamp(f64::MIN_POSITIVE, 1.0);
    Ok(CpuReport {
        prime_bound: PRIME_BOUND,
        threads,
        eps: all.per_cpu_second * quota_share * (1.0 - all.steal_fraction),
        eps_single: one.per_cpu_second * (1.0 - one.steal_fraction),
        eps_wall: all.per_wall_second,
        eps_single_wall: one.per_wall_second,
        steal_fraction: all.steal_fraction,
        steal_fraction_single: one.steal_fraction,
        events: all.events,
        events_single: one.events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_counts_primes_like_sysbench() {
        // Primes in 3..N: π(N) − 1 for N not prime. 3, 5, 7 below 10; 1,228 below 10,000.
        assert_eq!(prime_event(10), 3);
        assert_eq!(prime_event(10_000), 1_228);
        // The bound itself is excluded, as in sysbench's `c < max_prime`.
        assert_eq!(prime_event(11), 3);
        assert_eq!(prime_event(12), 4);
        assert_eq!(prime_event(PRIME_BOUND), PRIMES_BELOW_BOUND);
    }

    #[test]
    fn steal_share_between_readings() {
        assert_eq!(steal_between(Some((10, 1_000)), Some((60, 1_200))), 0.25);
        // Counters unreadable, or not advancing: no correction rather than a bogus one.
        assert_eq!(steal_between(None, Some((60, 1_200))), 0.0);
        assert_eq!(steal_between(Some((10, 1_000)), Some((10, 1_000))), 0.0);
        assert!(cpu_time_counters().is_some_and(|(steal, total)| steal <= total));
    }

    #[test]
    fn urem64_is_the_remainder() {
        for (c, l) in [
            (3, 2),
            (59_999, 7),
            (60_000, 245),
            (u64::MAX, 3),
            (u64::MAX, u64::MAX),
        ] {
            assert_eq!(urem64(c, l), c % l, "{c} % {l}");
        }
    }

    #[test]
    fn short_run_counts_events_on_each_thread() {
        let report = run(2.0, Duration::from_millis(50), Duration::from_millis(30)).unwrap();
        assert_eq!(report.threads, 2);
        // Every thread finishes at least its first event, whatever the deadline.
        assert!(
            report.events >= 2 && report.events_single >= 1,
            "{report:?}"
        );
        assert!(report.eps > 0.0 && report.eps_single > 0.0);
        // A thread cannot get more CPU time than wall time.
        assert!(report.eps >= report.eps_wall * 0.99, "{report:?}");
        let fractional = run(1.5, Duration::from_millis(30), Duration::from_millis(10)).unwrap();
        assert_eq!(fractional.threads, 2);
    }
}
