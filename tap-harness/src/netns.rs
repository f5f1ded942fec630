//! [`Netns`]: a named network namespace that removes itself, and [`leftovers`] to prove it.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::sys;

/// Where `ip netns` keeps its named namespaces (bind mounts of namespace files).
pub const NETNS_DIR: &str = "/var/run/netns";

/// Every namespace prefix starts with this, so that any process can tell the project's
/// namespaces (and sweep those of dead processes).
pub const PROJECT_PREFIX: &str = "udpstack";

static COUNTER: AtomicU64 = AtomicU64::new(0);
/// Namespaces owned by live [`Netns`] values of this process.
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static SWEEP: Once = Once::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `cmd`, returning its standard output; a failure to start or a non-zero exit is an
/// error naming the command line and quoting its standard error.
///
/// # Errors
/// The program is missing, or exited unsuccessfully.
pub fn run(cmd: &mut Command) -> io::Result<String> {
    let line = command_line(cmd);
    let out = cmd
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{line}`: {e}")))?;
    check_output(&line, out)
}

fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_output(line: &str, out: Output) -> io::Result<String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A named network namespace (`ip netns add`), removed when dropped.
///
/// # Teardown
/// `Drop` kills (SIGKILL) every process still running inside the namespace except this one,
/// then runs `ip netns del`. Drop runs on normal scope exit and while a panic unwinds, so a
/// failing test leaves nothing behind. What Drop cannot cover (SIGKILL, `panic = "abort"`,
/// `std::process::exit`) is caught by the name: `<prefix>-<pid>-<counter>`. The first
/// [`Netns::new`] of a process removes the project's namespaces whose creating process is dead
/// ([`sweep_stale`]), and [`leftovers`] reports them.
///
/// Interfaces inside (TAP, veth) go with the namespace; a veth pair goes as soon as either
/// of its namespaces does. A [`TapDevice`](crate::TapDevice) opened inside keeps the namespace
/// alive (unnamed, invisible to `ip netns list`) until the device is dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
    path: PathBuf,
}

impl Netns {
    /// Creates namespace `<prefix>-<pid>-<counter>`, with `lo` up and IPv6 disabled
    /// (`net.ipv6.conf.{all,default}.disable_ipv6 = 1`, so that no router solicitation or MLD
    /// report ever appears on its links).
    ///
    /// `prefix` must start with [`PROJECT_PREFIX`], so that any process's [`leftovers`] and
    /// [`sweep_stale`] see the namespace.
    ///
    /// # Errors
    /// An invalid prefix (1..=64 characters of `[A-Za-z0-9_-]` starting with
    /// [`PROJECT_PREFIX`]); missing privileges (see
    /// [`check_privileges`](crate::check_privileges)); `ip` failed.
    pub fn new(prefix: &str) -> io::Result<Netns> {
        let valid = prefix.starts_with(PROJECT_PREFIX)
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid namespace prefix {prefix:?}: up to 64 of [A-Za-z0-9_-], starting \
                     with {PROJECT_PREFIX:?}"
                ),
            ));
        }
        SWEEP.call_once(|| {
            if let Err(e) = sweep_stale() {
                eprintln!("tap-harness: could not sweep stale namespaces: {e}");
            }
        });
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Registered first, so that `leftovers` never sees it unowned.
        lock(&LIVE).insert(name.clone());
        if let Err(e) = run(Command::new("ip").args(["netns", "add", &name])) {
            lock(&LIVE).remove(&name);
            // Missing privileges are the usual reason: say so plainly.
            crate::check_privileges()?;
            return Err(e);
        }
        let netns = Netns {
            path: Path::new(NETNS_DIR).join(&name),
            name,
        };
        // From here on, Drop removes the namespace if a step fails.
        netns.ip(["link", "set", "dev", "lo", "up"])?;
        for key in [
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.default.disable_ipv6",
        ] {
            match netns.sysctl(key, "1") {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // A kernel without IPv6.
                other => other?,
            }
        }
        Ok(netns)
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file, `/var/run/netns/<name>`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The namespace's inode (what `/proc/thread-self/ns/net` of a thread inside shows).
    ///
    /// # Errors
    /// The namespace file cannot be read.
    pub fn inode(&self) -> io::Result<u64> {
        sys::ns_id(&self.path).map(|(_, ino)| ino)
    }

    /// Whether a namespace called `name` exists (is listed by `ip netns list`).
    pub fn exists(name: &str) -> bool {
        Path::new(NETNS_DIR).join(name).exists()
    }

    /// A command running `program` inside the namespace (`ip netns exec <name> program`), for
    /// arguments, environment, spawning in the background.
    ///
    /// `ip netns exec` also gives the program a private mount namespace where `/sys` shows
    /// the namespace's interfaces. A background process still running when the `Netns` is
    /// dropped is killed.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `args` (program first) inside the namespace and returns its standard output.
    ///
    /// # Errors
    /// `args` is empty, the program could not be run, or it exited unsuccessfully (the error
    /// names the command and quotes its standard error).
    pub fn exec<I, S>(&self, args: I) -> io::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut args = args.into_iter();
        let program = args
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .arg(program)
            .args(args);
        run(&mut cmd)
    }

    /// Runs `ip -n <name> args...` (faster than [`Netns::exec`]: no mount namespace).
    ///
    /// # Errors
    /// `ip` failed; the error quotes its message.
    pub fn ip<I, S>(&self, args: I) -> io::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Writes a sysctl inside the namespace: `key` in dotted form (`net.ipv4.ip_forward`;
    /// interface names containing dots are not supported), through `/proc/sys` from a thread
    /// inside the namespace.
    ///
    /// # Errors
    /// `NotFound` for an unknown key; the write was refused.
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        self.enter(|| std::fs::write(&path, value))?.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("sysctl {key}={value} in {}: {e}", self.name),
            )
        })
    }

    /// Reads a sysctl inside the namespace (see [`Netns::sysctl`]), trimmed.
    ///
    /// # Errors
    /// `NotFound` for an unknown key.
    pub fn read_sysctl(&self, key: &str) -> io::Result<String> {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        let value = self
            .enter(|| std::fs::read_to_string(&path))?
            .map_err(|e| io::Error::new(e.kind(), format!("sysctl {key} in {}: {e}", self.name)))?;
        Ok(value.trim().to_owned())
    }

    /// Runs `f` with the **calling thread** moved into the namespace, then moves the thread
    /// back to the namespace it was in, also when `f` panics.
    ///
    /// Sockets, TAP devices and child processes created by `f` belong to this namespace (and
    /// stay there afterwards: a socket or a TAP fd keeps its namespace for life). Threads
    /// spawned by `f` start in this namespace and stay there. Only the network namespace
    /// changes: `/sys` still shows the namespace it was mounted from, so read interface
    /// properties through sockets or `ip`, not sysfs. Calls nest.
    ///
    /// If the thread cannot be moved back (which needs a kernel refusing `setns` into a
    /// namespace the thread was in a moment ago) the process aborts rather than let code run
    /// on in the wrong namespace.
    ///
    /// # Errors
    /// The namespace file cannot be opened or `setns` is refused (no CAP_SYS_ADMIN); `f` has
    /// not run then.
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> io::Result<R> {
        enter_file(&self.path, f)
            .map_err(|e| io::Error::new(e.kind(), format!("entering namespace {}: {e}", self.name)))
    }

    /// Removes the namespace now, reporting failure (Drop does the same, reporting on
    /// standard error).
    ///
    /// # Errors
    /// `ip netns del` failed.
    pub fn remove(mut self) -> io::Result<()> {
        let result = self.teardown();
        self.name.clear(); // Drop: nothing left to do.
        result
    }

    fn teardown(&self) -> io::Result<()> {
        if self.name.is_empty() {
            return Ok(());
        }
        kill_processes_in(&self.name);
        let result = run(Command::new("ip").args(["netns", "del", &self.name])).map(drop);
        // No owner any more: if the namespace survived, `leftovers` reports it.
        lock(&LIVE).remove(&self.name);
        if Netns::exists(&self.name) {
            result
        } else {
            Ok(())
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!(
                "tap-harness: could not remove network namespace {}: {e}",
                self.name
            );
        }
    }
}

/// Kills (SIGKILL) the processes whose network namespace is `name`, except this process.
fn kill_processes_in(name: &str) {
    let Ok(pids) = run(Command::new("ip").args(["netns", "pids", name])) else {
        return;
    };
    let me = rustix::process::getpid();
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        if let Some(pid) = rustix::process::Pid::from_raw(pid).filter(|p| *p != me) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Moves the calling thread into the namespace at `path` for `f` (see [`Netns::enter`]).
fn enter_file<R>(path: &Path, f: impl FnOnce() -> R) -> io::Result<R> {
    sys::note_initial_netns();
    let original = File::open(sys::THREAD_NETNS)?;
    let target = File::open(path)?;
    move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&target),
        Some(LinkNameSpaceType::Network),
    )?;
    let _restore = Restore(original);
    Ok(f())
}

/// Moves the thread back into its original namespace when dropped (also while unwinding).
struct Restore(File);

impl Drop for Restore {
    fn drop(&mut self) {
        let fd = std::os::fd::AsFd::as_fd(&self.0);
        if let Err(e) = move_into_link_name_space(fd, Some(LinkNameSpaceType::Network)) {
            eprintln!(
                "tap-harness: cannot move thread back to its network namespace ({e}); aborting \
                 rather than run on in the wrong namespace"
            );
            std::process::abort();
        }
    }
}

/// What a run left behind, as found by [`leftovers`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// The project's namespaces that no live [`Netns`] owns: made by this process and not
    /// removed, or by a process that has died.
    pub namespaces: Vec<String>,
    /// TUN/TAP interfaces in the namespace `/sys` was mounted from (the host's). The harness
    /// never creates any there, so anything listed is someone else's or a bug.
    pub host_tun_devices: Vec<String>,
}

impl Leftovers {
    /// Nothing left behind.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.host_tun_devices.is_empty()
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "namespaces: [{}]; host TUN/TAP devices: [{}]",
            self.namespaces.join(", "),
            self.host_tun_devices.join(", ")
        )
    }
}

/// `(prefix, pid)` of a name made by [`Netns::new`].
fn parse_name(name: &str) -> Option<(String, u32)> {
    let mut parts = name.rsplitn(3, '-');
    let counter = parts.next()?;
    let pid = parts.next()?;
    let prefix = parts.next()?;
    counter.parse::<u64>().ok()?;
    let pid = pid.parse::<u32>().ok()?;
    prefix
        .starts_with(PROJECT_PREFIX)
        .then(|| (prefix.to_owned(), pid))
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

fn netns_names() -> io::Result<Vec<String>> {
    match std::fs::read_dir(NETNS_DIR) {
        Ok(dir) => Ok(dir
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Namespaces and devices left behind (see [`Leftovers`]). Namespaces of live [`Netns`]
/// values and of other running processes are not leftovers.
///
/// # Errors
/// `/var/run/netns` or `/sys/class/net` cannot be read.
pub fn leftovers() -> io::Result<Leftovers> {
    let live = lock(&LIVE).clone();
    let me = std::process::id();
    let mut namespaces: Vec<String> = netns_names()?
        .into_iter()
        .filter(|name| !live.contains(name))
        .filter(|name| parse_name(name).is_some_and(|(_, pid)| pid == me || !pid_alive(pid)))
        .collect();
    namespaces.sort();
    Ok(Leftovers {
        namespaces,
        host_tun_devices: host_tun_devices()?,
    })
}

/// The TUN/TAP interfaces of the namespace `/sys` was mounted from (interfaces with a
/// `tun_flags` attribute), sorted.
///
/// # Errors
/// `/sys/class/net` cannot be read.
pub fn host_tun_devices() -> io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("tun_flags").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Removes the project's namespaces whose creating process has died (left by a test run that
/// was killed), returning their names. Never touches a namespace of a running process.
///
/// # Errors
/// `/var/run/netns` cannot be read; `ip netns del` failed.
pub fn sweep_stale() -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in netns_names()? {
        if parse_name(&name).is_some_and(|(_, pid)| !pid_alive(pid)) {
            kill_processes_in(&name);
            run(Command::new("ip").args(["netns", "del", &name]))?;
            removed.push(name);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_from_the_right() {
        assert_eq!(
            parse_name("udpstack-tap-12-3"),
            Some(("udpstack-tap".to_owned(), 12))
        );
        assert_eq!(parse_name("other-7-0"), None);
        assert_eq!(parse_name("udpstack-x-0"), None);
        assert_eq!(parse_name("udpstack"), None);
    }

    #[test]
    fn failed_commands_quote_their_stderr() {
        let e = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("`sh -c echo oops >&2; exit 3` failed"),
            "{msg}"
        );
        assert!(msg.contains("oops"), "{msg}");
        let e = run(&mut Command::new("/nonexistent/program")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
