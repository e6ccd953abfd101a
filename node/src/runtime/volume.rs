//! Fixed-size app volumes: an app given `hdd` GB cannot write more than that.
//!
//! As FluxOS does, each component volume is an ext4 file system in an image file of the
//! component's `hdd` size, attached to a loop device. The node does the unprivileged part
//! and leaves the mount to dockerd:
//!
//! 1. creates `<dir>/<app>/<volume>.img`, sparse (`hdd` GiB, taking only what is written),
//!    and formats it with `mkfs.ext4` (no reserved blocks: the app gets all of it);
//! 2. attaches it to a loop device with `losetup` (a free `/dev/loopN`, N ≥
//!    [`FIRST_DEVICE`]);
//! 3. creates the Docker volume with the `local` driver and `type=ext4,device=/dev/loopN`,
//!    so the engine mounts the block device when a container starts.
//!
//! (`o=loop` with the image file as `device` does not work: the `local` driver calls
//! mount(2) directly, which knows nothing of `loop`, a mount(8) option.)
//!
//! Loop devices do not survive a reboot, and the Docker volume records the device number:
//! before a container is (re)started, [`Runtime::attach_volumes`] finds the image's device by
//! its backing file (`losetup -j`) and, when there is none, attaches it again to the
//! number the volume records. New devices are numbered from [`FIRST_DEVICE`] up, above
//! those `losetup -f` hands out (snaps and other users take the lowest free ones at boot),
//! so after a reboot the recorded number is almost surely still free. If it is not, the
//! start fails with an error naming the device and its holder.
//!
//! Removal detaches the image's devices and deletes its file (and the app's directory).
//!
//! Tools: `mkfs.ext4` (e2fsprogs) and `losetup` (util-linux) are on every Debian and Ubuntu
//! host (priority required), are the reference implementations of what they do, and are
//! what FluxOS itself runs. A Rust ext4 formatter would be far less proven, and the
//! `loopdev` crate needs bindgen (libclang) at build time and still leaves device
//! creation and the backing-file look-up to us; the cost of the tools is one short process
//! per step, at bid time only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::error::RuntimeError;

/// Where component volumes live and how big they may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataVolumes {
    /// Plain Docker volumes: `hdd` is not enforced (a library default and an explicit
    /// operator choice, `docker.volumes = "unbounded"`; the daemon warns about it).
    Unbounded,
    /// Fixed-size ext4 images under `dir`, one directory per app.
    Loop { dir: PathBuf },
}

/// Lowest loop device number new volumes get.
pub const FIRST_DEVICE: u32 = 1000;

/// Bytes per `hdd` unit: FluxOS's GB, taken as GiB so the app never gets less.
pub const BYTES_PER_GB: u64 = 1 << 30;

/// How long one `mkfs.ext4` or `losetup` may take: a sparse image formats in well under a
/// second with lazy inode table initialisation; a hung tool must not hang the app.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The image file of `volume` of `app`.
pub fn image_path(dir: &Path, app: &str, volume: &str) -> PathBuf {
    dir.join(app).join(format!("{volume}.img"))
}

/// Whether this host can give apps fixed-size volumes; the reason when it cannot.
pub fn loop_support() -> Result<(), String> {
    let ctl = Path::new("/dev/loop-control");
    if !ctl.exists() {
        return Err(
            "no /dev/loop-control: the kernel has no loop device support \
                    (load it with `modprobe loop`)"
                .into(),
        );
    }
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(ctl) {
        return Err(format!(
            "/dev/loop-control cannot be opened read-write: {e} (the daemon needs the \
             `disk` group and DeviceAllow=/dev/loop-control rw, as scripts/fluxnode.service \
             sets)"
        ));
    }
    for tool in ["losetup", "mkfs.ext4"] {
        if find_tool(tool).is_none() {
            return Err(format!(
                "`{tool}` not found in PATH, /usr/sbin or /sbin (install {})",
                if tool == "losetup" {
                    "util-linux"
                } else {
                    "e2fsprogs"
                }
            ));
        }
    }
    Ok(())
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn fail(volume: &str, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Volume {
        volume: volume.to_owned(),
        message: message.into(),
    }
}

/// Runs `tool` with `args`; its stdout, or an error with its stderr.
async fn run(volume: &str, tool: &str, args: &[&str]) -> Result<String, RuntimeError> {
    let bin = find_tool(tool).ok_or_else(|| fail(volume, format!("`{tool}` not found")))?;
    let out = tokio::time::timeout(
        TOOL_TIMEOUT,
        Command::new(&bin).args(args).kill_on_drop(true).output(),
    )
    .await
    .map_err(|_| {
        fail(
            volume,
            format!("`{tool}` did not finish within {TOOL_TIMEOUT:?}"),
        )
    })?
    .map_err(|e| fail(volume, format!("cannot run {}: {e}", bin.display())))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(fail(
            volume,
            format!(
                "`{tool} {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ))
    }
}

/// Creates and formats the image of `volume` at `path` with `size` bytes unless it exists.
/// Formatting happens on a temporary name, so a crash never leaves a half-made image under
/// the real one. Returns whether it was created.
pub async fn ensure_image(volume: &str, path: &Path, size: u64) -> Result<bool, RuntimeError> {
    if path.is_file() {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail(volume, format!("{}: {e}", dir.display())))?;
    let tmp = path.with_extension("img.tmp");
    let made = async {
        let f = std::fs::File::create(&tmp)
            .map_err(|e| fail(volume, format!("{}: {e}", tmp.display())))?;
        // Sparse: blocks are taken from the host only as the app writes them.
        f.set_len(size)
            .map_err(|e| fail(volume, format!("sizing {}: {e}", tmp.display())))?;
        drop(f);
        let tmp_s = tmp.to_string_lossy();
        // -m 0: no blocks reserved for root, the app gets all of them; root_owner: the
        // volume root is root's whatever user formats it (as Docker's own volumes are);
        // lazy init: a large image formats in well under a second (the kernel zeroes the
        // inode tables in the background after the first mount).
        run(
            volume,
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-m",
                "0",
                "-E",
                "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
                &tmp_s,
            ],
        )
        .await?;
        std::fs::rename(&tmp, path).map_err(|e| fail(volume, format!("{}: {e}", path.display())))
    }
    .await;
    if made.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    made.map(|()| true)
}

/// Loop devices `path` is attached to (`losetup -j`), e.g. `["/dev/loop1000"]`.
pub async fn devices_of(volume: &str, path: &Path) -> Result<Vec<String>, RuntimeError> {
    let p = path.to_string_lossy();
    let out = run(volume, "losetup", &["-n", "-O", "NAME", "-j", &p]).await?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Every attached loop device.
async fn attached_devices(volume: &str) -> Result<Vec<String>, RuntimeError> {
    let out = run(volume, "losetup", &["-n", "-l", "-O", "NAME"]).await?;
    Ok(out.lines().map(|l| l.trim().to_owned()).collect())
}

fn device_number(dev: &str) -> Option<u32> {
    dev.strip_prefix("/dev/loop")?.parse().ok()
}

/// The loop device of the image at `path`: the one it is attached to, else `wanted` (the
/// number its Docker volume records) attached now, else (no `wanted`) a free number at or
/// above [`FIRST_DEVICE`] not in `reserved` (numbers other volumes of this node record).
pub async fn attach(
    volume: &str,
    path: &Path,
    wanted: Option<&str>,
    reserved: &[String],
) -> Result<String, RuntimeError> {
    if let Some(dev) = devices_of(volume, path).await?.into_iter().next() {
        return Ok(dev);
    }
    let p = path.to_string_lossy();
    if let Some(dev) = wanted {
        return match run(volume, "losetup", &[dev, &p]).await {
            Ok(_) => Ok(dev.to_owned()),
            Err(e) => {
                let holder = run(volume, "losetup", &["-n", "-O", "BACK-FILE", dev])
                    .await
                    .unwrap_or_default();
                Err(fail(
                    volume,
                    format!(
                        "its Docker volume records {dev}, which cannot be attached again \
                         (held by {:?}): {e}; detach that device or remove the app",
                        holder.trim()
                    ),
                ))
            }
        };
    }
    let used: Vec<u32> = attached_devices(volume)
        .await?
        .iter()
        .chain(reserved)
        .filter_map(|d| device_number(d))
        .collect();
    let mut n = FIRST_DEVICE;
    // Another process may take a number between the listing and the attach: try on.
    for _ in 0..64 {
        while used.contains(&n) {
            n += 1;
        }
        let dev = format!("/dev/loop{n}");
        match run(volume, "losetup", &[&dev, &p]).await {
            Ok(_) => return Ok(dev),
            Err(e) if e.to_string().contains("busy") => n += 1,
            Err(e) => return Err(e),
        }
    }
    Err(fail(volume, "no free loop device after 64 attempts"))
}

/// Detaches every loop device of the image at `path` and deletes it. Missing is fine.
pub async fn destroy(volume: &str, path: &Path) -> Result<(), RuntimeError> {
    if !path.exists() {
        return Ok(());
    }
    for dev in devices_of(volume, path).await? {
        run(volume, "losetup", &["-d", &dev]).await?;
    }
    std::fs::remove_file(path).map_err(|e| fail(volume, format!("{}: {e}", path.display())))
}

/// Detaches and deletes every image of `app` under `dir`, then its directory. Returns how
/// many images there were.
pub async fn destroy_app(dir: &Path, app: &str) -> Result<usize, RuntimeError> {
    let app_dir = dir.join(app);
    let entries = match std::fs::read_dir(&app_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(fail(app, format!("{}: {e}", app_dir.display()))),
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(volume) = name.strip_suffix(".img") {
            destroy(volume, &path).await?;
            n += 1;
        } else if name.ends_with(".img.tmp") {
            let _ = std::fs::remove_file(&path);
        }
    }
    match std::fs::remove_dir(&app_dir) {
        Ok(()) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(n),
        Err(e) => Err(fail(app, format!("{}: {e}", app_dir.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_and_device_numbers() {
        assert_eq!(
            image_path(Path::new("/d/v"), "shop", "fluxweb_shop_data"),
            PathBuf::from("/d/v/shop/fluxweb_shop_data.img")
        );
        assert_eq!(device_number("/dev/loop1003"), Some(1003));
        assert_eq!(device_number("/dev/sda"), None);
        assert_eq!(device_number("/dev/loopx"), None);
    }
}
