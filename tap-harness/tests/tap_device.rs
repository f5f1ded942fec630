//! `TapDevice` against the kernel at the other end of a TAP, inside a namespace of its own.

mod common;

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use common::{arp_request, kernel_arp_reply, parse_arp, TIMEOUT};
use tap_harness::{privileged_or_skip, TapLink, TapLinkConfig};
use udpstack::device::Device;
use udpstack::wire::{ArpOperation, MacAddr};

const EIO: i32 = 5;
const EBADFD: i32 = 77;

#[test]
fn an_arp_request_draws_the_kernels_reply() -> io::Result<()> {
    if !privileged_or_skip("an_arp_request_draws_the_kernels_reply")? {
        return Ok(());
    }
    let TapLink {
        mut device,
        netns: _netns,
        config,
    } = TapLink::open(TapLinkConfig::default())?;
    assert_eq!(device.max_frame_len(), 1514);
    let reply = kernel_arp_reply(&mut device, &config)?.expect("no ARP reply from the kernel");
    assert_eq!(reply.operation, ArpOperation::Reply);
    assert_eq!(reply.sender_mac, MacAddr([2, 0, 0, 0, 0, 1]));
    assert_eq!(reply.sender_ip, config.kernel_addr);
    assert_eq!(reply.target_mac, config.stack_mac);
    assert_eq!(reply.target_ip, config.stack_addr);
    let stats = device.stats();
    assert!(stats.tx_frames >= 1 && stats.rx_frames >= 1, "{stats:?}");
    assert_eq!(stats.tx_bytes, 42 * stats.tx_frames);
    Ok(())
}

#[test]
fn the_waker_interrupts_wait_and_deadlines_end_it() -> io::Result<()> {
    if !privileged_or_skip("the_waker_interrupts_wait_and_deadlines_end_it")? {
        return Ok(());
    }
    let TapLink {
        mut device,
        netns: _netns,
        ..
    } = TapLink::open(TapLinkConfig::default())?;

    // A wake from another thread ends a wait without deadline.
    let waker = device.waker();
    let start = Instant::now();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        waker.wake();
    });
    device.wait(None)?;
    assert!(start.elapsed() < TIMEOUT);
    t.join().unwrap();

    // A wake that comes before the wait is not lost.
    device.waker().wake();
    let start = Instant::now();
    device.wait(None)?;
    assert!(start.elapsed() < TIMEOUT);
    assert_eq!(device.stats().wakes, 2);

    // Nothing pending (the link is silent: IPv6 is off): the deadline ends the wait.
    let start = Instant::now();
    device.wait(Some(start + Duration::from_millis(50)))?;
    let waited = start.elapsed();
    assert!(waited < TIMEOUT, "{waited:?}");
    device.wait(Some(start))?; // A deadline in the past returns at once.
    Ok(())
}

#[test]
fn frames_longer_than_the_buffer_are_dropped_and_counted() -> io::Result<()> {
    if !privileged_or_skip("frames_longer_than_the_buffer_are_dropped_and_counted")? {
        return Ok(());
    }
    let TapLink {
        mut device,
        netns: _netns,
        config,
    } = TapLink::open(TapLinkConfig::default())?;
    device.send(&arp_request(&config, config.kernel_addr))?;
    let deadline = Instant::now() + TIMEOUT;
    let mut small = [0u8; 41]; // The reply is 42 bytes.
    loop {
        assert_eq!(device.try_recv(&mut small)?, None);
        if device.stats().rx_oversize > 0 || Instant::now() >= deadline {
            break;
        }
        device.wait(Some(deadline))?;
    }
    assert_eq!(device.stats().rx_oversize, 1);
    assert_eq!(device.stats().rx_frames, 0);
    Ok(())
}

#[test]
fn the_mtu_is_read_and_set_in_the_devices_namespace() -> io::Result<()> {
    if !privileged_or_skip("the_mtu_is_read_and_set_in_the_devices_namespace")? {
        return Ok(());
    }
    let TapLink {
        device,
        netns,
        config,
    } = TapLink::open(TapLinkConfig {
        mtu: 1400,
        ..TapLinkConfig::default()
    })?;
    // Read from this thread, which is in the host namespace.
    assert_eq!(device.mtu()?, 1400);
    assert_eq!(device.max_frame_len(), 1414);
    device.set_mtu(1280)?;
    assert_eq!(device.max_frame_len(), 1294);
    let shown = netns.ip(["-o", "link", "show", "dev", &config.tap_name])?;
    assert!(shown.contains("mtu 1280"), "{shown}");
    Ok(())
}

#[test]
fn a_downed_interface_fails_sends_and_recovers_when_up() -> io::Result<()> {
    if !privileged_or_skip("a_downed_interface_fails_sends_and_recovers_when_up")? {
        return Ok(());
    }
    let TapLink {
        mut device,
        netns,
        config,
    } = TapLink::open(TapLinkConfig::default())?;
    netns.ip(["link", "set", "dev", "tap0", "down"])?;
    let err = device
        .send(&arp_request(&config, config.kernel_addr))
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EIO), "{err}");
    assert_eq!(device.stats().tx_errors, 1);
    let mut buf = [0u8; 1514];
    assert_eq!(device.try_recv(&mut buf)?, None);
    netns.ip(["link", "set", "dev", "tap0", "up"])?;
    assert!(kernel_arp_reply(&mut device, &config)?.is_some());
    Ok(())
}

#[test]
fn a_deleted_interface_is_an_error_until_it_comes_back() -> io::Result<()> {
    if !privileged_or_skip("a_deleted_interface_is_an_error_until_it_comes_back")? {
        return Ok(());
    }
    let TapLink {
        mut device,
        netns,
        config,
    } = TapLink::open(TapLinkConfig::default())?;
    netns.ip(["link", "del", "dev", "tap0"])?;
    let mut buf = [0u8; 1514];

    // wait notices, and does not spin while detached.
    let start = Instant::now();
    device.wait(Some(start + Duration::from_millis(300)))?;
    device.wait(Some(start + Duration::from_millis(300)))?;
    assert!(!device.is_attached());
    let e = device.try_recv(&mut buf).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(EBADFD), "EBADFD expected: {e}");
    let e = device
        .send(&arp_request(&config, config.kernel_addr))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(EBADFD), "EBADFD expected: {e}");

    // Someone re-creates it (persistent, like `ip tuntap add` does) and configures it.
    netns.ip(["tuntap", "add", "dev", "tap0", "mode", "tap"])?;
    netns.sysctl("net.ipv6.conf.tap0.disable_ipv6", "1")?;
    netns.ip(["link", "set", "dev", "tap0", "address", "02:00:00:00:00:01"])?;
    netns.ip(["addr", "add", "10.0.0.1/24", "dev", "tap0"])?;
    netns.ip(["link", "set", "dev", "tap0", "up"])?;
    let deadline = Instant::now() + TIMEOUT;
    while !device.is_attached() && Instant::now() < deadline {
        device.wait(Some(deadline))?;
        let _ = device.try_recv(&mut buf);
    }
    assert!(device.is_attached());
    assert_eq!(device.stats().reattaches, 1);
    let reply = kernel_arp_reply(&mut device, &config)?;
    assert!(reply.is_some(), "no ARP reply after re-attaching");
    Ok(())
}

#[test]
fn the_device_works_from_a_thread_outside_its_namespace() -> io::Result<()> {
    if !privileged_or_skip("the_device_works_from_a_thread_outside_its_namespace")? {
        return Ok(());
    }
    let TapLink {
        mut device,
        netns: _netns,
        config,
    } = TapLink::open(TapLinkConfig::default())?;
    let stats = device.stats_handle();
    let reply = thread::spawn(move || kernel_arp_reply(&mut device, &config))
        .join()
        .unwrap()?;
    assert!(reply.is_some());
    assert!(stats.get().rx_frames >= 1);
    Ok(())
}

#[test]
fn frames_from_the_kernel_are_ethernet_ii_with_its_mac() -> io::Result<()> {
    if !privileged_or_skip("frames_from_the_kernel_are_ethernet_ii_with_its_mac")? {
        return Ok(());
    }
    let TapLink {
        mut device,
        netns: _netns,
        config,
    } = TapLink::open(TapLinkConfig::default())?;
    device.send(&arp_request(&config, config.kernel_addr))?;
    let frame = common::receive_until(&mut device, &config, TIMEOUT, |f| Some(f.to_vec()))?
        .expect("a frame");
    let (eth, _) = parse_arp(&frame).expect("an ARP frame");
    assert_eq!(eth.src, config.kernel_mac);
    assert_eq!(eth.dst, config.stack_mac);
    Ok(())
}

#[test]
fn the_link_outlives_its_namespace_name_until_the_device_is_dropped() -> io::Result<()> {
    if !privileged_or_skip("the_link_outlives_its_namespace_name_until_the_device_is_dropped")? {
        return Ok(());
    }
    let TapLink {
        mut device,
        netns,
        config,
    } = TapLink::open(TapLinkConfig::default())?;
    let name = netns.name().to_owned();
    netns.remove()?;
    assert!(!tap_harness::Netns::exists(&name));
    // The descriptor holds the (now unnamed) namespace: the kernel side still answers.
    assert!(kernel_arp_reply(&mut device, &config)?.is_some());
    Ok(())
}

#[test]
fn invalid_interface_names_are_refused_before_anything_is_created() {
    for name in ["", "a/b", "a b", "tap%d", "sixteen-chars-xx"] {
        let e = tap_harness::TapDevice::open(name).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name:?}: {e}");
    }
}

#[test]
fn an_interface_up_before_it_is_opened_answers_the_first_arp_request() -> io::Result<()> {
    // `ip tuntap add` then `ip link set up`, as an administrator (or the CLI tests) would: the
    // carrier comes on only when we attach, and the kernel discards what it sends until its
    // link watch has run. `TapDevice::open` waits for that, so the very first ARP request,
    // sent at once, is answered. Without the wait this failed in most runs (and the CLI's
    // `send` test was flaky: the first datagrams waited a whole ARP retransmission).
    if !privileged_or_skip("an_interface_up_before_it_is_opened_answers_the_first_arp_request")? {
        return Ok(());
    }
    let config = TapLinkConfig::default();
    let netns = tap_harness::Netns::new("udpstack-tapup")?;
    netns.ip(["tuntap", "add", "dev", "tap0", "mode", "tap"])?;
    netns.ip(["link", "set", "dev", "tap0", "address", "02:00:00:00:00:01"])?;
    netns.ip(["addr", "add", "10.0.0.1/24", "dev", "tap0"])?;
    netns.ip(["link", "set", "dev", "tap0", "up"])?;
    for _ in 0..5 {
        let mut device = netns.enter(|| tap_harness::TapDevice::open("tap0"))??;
        device.send(&arp_request(&config, config.kernel_addr))?;
        let reply = common::receive_until(&mut device, &config, Duration::from_millis(500), |f| {
            parse_arp(f)
                .map(|(_, arp)| arp)
                .filter(|arp| arp.operation == ArpOperation::Reply)
        })?;
        assert!(reply.is_some(), "the first ARP request went unanswered");
        // Closing the descriptor drops the carrier again, for the next round.
        drop(device);
    }
    Ok(())
}
