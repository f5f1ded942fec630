//! Namespaces: created, entered, left and removed, also when things go wrong.

mod common;

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::TIMEOUT;
use tap_harness::{
    check_privileges, current_netns_inode, host_tun_devices, in_host_netns, leftovers,
    privileged_or_skip, sweep_stale, Netns, TapDevice, SKIP_ENV,
};

fn listed(name: &str) -> io::Result<bool> {
    let list = tap_harness::run(Command::new("ip").args(["netns", "list"]))?;
    Ok(list
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name)))
}

#[test]
fn a_namespace_is_gone_after_drop() -> io::Result<()> {
    if !privileged_or_skip("a_namespace_is_gone_after_drop")? {
        return Ok(());
    }
    let netns = Netns::new("udpstack-test")?;
    let name = netns.name().to_owned();
    assert!(name.starts_with(&format!("udpstack-test-{}-", std::process::id())));
    assert!(listed(&name)?);
    assert_eq!(
        netns
            .exec(["ip", "-o", "link", "show", "up"])?
            .lines()
            .count(),
        1
    );
    assert_eq!(netns.read_sysctl("net.ipv6.conf.all.disable_ipv6")?, "1");
    drop(netns);
    assert!(!listed(&name)?);
    assert!(!Netns::exists(&name));

    let netns = Netns::new("udpstack-test")?;
    let name = netns.name().to_owned();
    netns.remove()?;
    assert!(!Netns::exists(&name));
    Ok(())
}

#[test]
fn a_panic_inside_enter_restores_the_thread_and_removes_the_namespace() -> io::Result<()> {
    if !privileged_or_skip("a_panic_inside_enter_restores_the_thread_and_removes_the_namespace")? {
        return Ok(());
    }
    let before = current_netns_inode()?;
    let mut name = String::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let netns = Netns::new("udpstack-test").unwrap();
        name = netns.name().to_owned();
        netns
            .enter(|| {
                assert_ne!(current_netns_inode().unwrap(), before);
                panic!("boom inside the namespace");
            })
            .unwrap();
    }));
    assert!(result.is_err(), "the panic propagates");
    assert_eq!(current_netns_inode()?, before, "thread moved back");
    assert!(!name.is_empty());
    assert!(!Netns::exists(&name), "{name} left behind");

    // A panic with a namespace alive but not entered removes it too.
    let mut name = String::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let netns = Netns::new("udpstack-test").unwrap();
        name = netns.name().to_owned();
        panic!("boom outside");
    }));
    assert!(result.is_err());
    assert!(!Netns::exists(&name), "{name} left behind");
    Ok(())
}

#[test]
fn enter_moves_only_the_calling_thread_and_restores_it() -> io::Result<()> {
    if !privileged_or_skip("enter_moves_only_the_calling_thread_and_restores_it")? {
        return Ok(());
    }
    let outer = Netns::new("udpstack-test")?;
    let inner = Netns::new("udpstack-test")?;
    let before = current_netns_inode()?;
    assert_ne!(outer.inode()?, before);

    // Another thread stays where it is while this one is inside.
    let barrier = Arc::new(Barrier::new(2));
    let other = {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            barrier.wait();
            let seen = current_netns_inode();
            barrier.wait();
            seen
        })
    };
    let (inside, nested, back_in_outer, host, spawned) = outer.enter(|| {
        barrier.wait();
        barrier.wait();
        let inside = current_netns_inode().unwrap();
        let nested = inner.enter(|| current_netns_inode().unwrap()).unwrap();
        let back_in_outer = current_netns_inode().unwrap();
        let host = in_host_netns().unwrap();
        let spawned = thread::spawn(|| current_netns_inode().unwrap())
            .join()
            .unwrap();
        (inside, nested, back_in_outer, host, spawned)
    })?;
    assert_eq!(
        other.join().unwrap()?,
        before,
        "other threads are not moved"
    );
    assert_eq!(inside, outer.inode()?);
    assert_eq!(nested, inner.inode()?);
    assert_eq!(
        back_in_outer,
        outer.inode()?,
        "nested enter restores the outer one"
    );
    assert!(!host, "inside a namespace of ours is not the host");
    assert_eq!(
        spawned,
        outer.inode()?,
        "threads spawned inside start inside"
    );
    assert_eq!(current_netns_inode()?, before, "restored");
    Ok(())
}

#[test]
fn a_tap_created_inside_enter_belongs_to_the_namespace() -> io::Result<()> {
    if !privileged_or_skip("a_tap_created_inside_enter_belongs_to_the_namespace")? {
        return Ok(());
    }
    let host_before = host_tun_devices()?;
    let netns = Netns::new("udpstack-test")?;
    let device = netns.enter(|| TapDevice::open("udpsttest0"))??;
    assert_eq!(device.name(), "udpsttest0");
    assert!(netns
        .ip(["-o", "link", "show", "dev", "udpsttest0"])?
        .contains("udpsttest0"));
    assert_eq!(
        host_tun_devices()?,
        host_before,
        "nothing new in the host namespace"
    );
    drop(device);
    assert!(
        netns.ip(["link", "show", "dev", "udpsttest0"]).is_err(),
        "the interface goes with its descriptor"
    );
    Ok(())
}

#[test]
fn sysctls_and_commands_stay_inside() -> io::Result<()> {
    if !privileged_or_skip("sysctls_and_commands_stay_inside")? {
        return Ok(());
    }
    let host_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")?;
    let netns = Netns::new("udpstack-test")?;
    let other = if host_forward.trim() == "1" { "0" } else { "1" };
    netns.sysctl("net.ipv4.ip_forward", other)?;
    assert_eq!(netns.read_sysctl("net.ipv4.ip_forward")?, other);
    assert_eq!(
        netns.exec(["sysctl", "-n", "net.ipv4.ip_forward"])?.trim(),
        other
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")?,
        host_forward,
        "the host's value is untouched"
    );

    assert_eq!(netns.exec(["sh", "-c", "echo hi"])?, "hi\n");
    let e = netns
        .exec(["sh", "-c", "echo nope >&2; exit 4"])
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("ip netns exec") && msg.contains("nope"),
        "{msg}"
    );
    let e = netns.exec(Vec::<String>::new()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e = netns.sysctl("net.ipv4.no_such_thing", "1").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    Ok(())
}

#[test]
fn drop_kills_processes_left_inside() -> io::Result<()> {
    if !privileged_or_skip("drop_kills_processes_left_inside")? {
        return Ok(());
    }
    let netns = Netns::new("udpstack-test")?;
    let mut child = netns.command("sleep").arg("600").spawn()?;
    // `ip netns exec` execs `sleep`: wait until it has.
    let deadline = Instant::now() + TIMEOUT;
    let comm = format!("/proc/{}/comm", child.id());
    while !std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "sleep") {
        assert!(Instant::now() < deadline, "sleep did not start");
        thread::sleep(Duration::from_millis(10));
    }
    let start = Instant::now();
    drop(netns);
    let status = child.wait()?;
    assert!(!status.success());
    assert!(start.elapsed() < TIMEOUT);
    Ok(())
}

#[test]
fn stale_namespaces_are_reported_and_swept() -> io::Result<()> {
    if !privileged_or_skip("stale_namespaces_are_reported_and_swept")? {
        return Ok(());
    }
    // Make sure the once-per-process sweep in Netns::new has run, so it cannot race us.
    drop(Netns::new("udpstack-test")?);
    let mut dead = Command::new("true").spawn()?;
    let dead_pid = dead.id();
    dead.wait()?;
    let name = format!("udpstack-stale-{dead_pid}-0");
    tap_harness::run(Command::new("ip").args(["netns", "add", &name]))?;
    struct Cleanup<'a>(&'a str);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if Netns::exists(self.0) {
                let _ = Command::new("ip").args(["netns", "del", self.0]).status();
            }
        }
    }
    let _cleanup = Cleanup(&name);
    assert!(leftovers()?.namespaces.contains(&name));
    assert!(sweep_stale()?.contains(&name));
    assert!(!Netns::exists(&name));
    Ok(())
}

#[test]
fn nothing_of_this_process_is_left_over() -> io::Result<()> {
    if !privileged_or_skip("nothing_of_this_process_is_left_over")? {
        return Ok(());
    }
    let netns = Netns::new("udpstack-test")?;
    let mine = format!("-{}-", std::process::id());
    let of_mine = |l: &tap_harness::Leftovers| {
        l.namespaces
            .iter()
            .filter(|n| n.contains(&mine))
            .cloned()
            .collect::<Vec<_>>()
    };
    // Live namespaces (this one, other tests') are not leftovers.
    assert_eq!(of_mine(&leftovers()?), Vec::<String>::new());
    let found = leftovers()?;
    assert!(
        !found
            .host_tun_devices
            .iter()
            .any(|d| d.starts_with("tap0") || d.starts_with("udpst")),
        "{found}"
    );
    drop(netns);
    assert_eq!(of_mine(&leftovers()?), Vec::<String>::new());
    Ok(())
}

#[test]
fn missing_privileges_are_a_clear_error() {
    // Drops CAP_NET_ADMIN from the effective set of a thread of its own (capabilities are per
    // thread), so it also runs, and checks the same thing, without root.
    let (check, skip) = thread::spawn(|| {
        use rustix::thread::{capabilities, set_capabilities, CapabilitySet};
        if let Ok(mut caps) = capabilities(None) {
            caps.effective.remove(CapabilitySet::NET_ADMIN);
            set_capabilities(None, caps).unwrap();
        }
        (
            check_privileges(),
            privileged_or_skip("missing_privileges_are_a_clear_error"),
        )
    })
    .join()
    .unwrap();
    let e = check.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("CAP_NET_ADMIN"), "{e}");
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        assert!(!skip.unwrap());
    } else {
        let e = skip.unwrap_err();
        assert!(e.to_string().contains(SKIP_ENV), "{e}");
    }
}

#[test]
fn a_prefix_outside_the_project_is_refused() {
    // Every namespace name starts with "udpstack", so that any later process can recognise it
    // and sweep it when its creator died; anything else is refused before `ip` runs.
    for prefix in ["other", "", "udp", "udpstack/x"] {
        let e = Netns::new(prefix).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{prefix:?}: {e}");
    }
}
