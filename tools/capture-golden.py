#!/usr/bin/env python3
"""Capture "golden" Ethernet frames emitted by the Linux kernel.

This script (Python 3 standard library only) creates a private, throw-away
network namespace, opens a TAP device ``tap0`` inside it and then plays the
role of a *peer stack* on the far side of that TAP device:

    kernel  (tap0)  10.0.0.1  02:00:00:00:00:01
    script  (peer)  10.0.0.2  02:00:00:00:00:02

Every frame the kernel writes to tap0 is read raw from the tun file
descriptor (IFF_TAP | IFF_NO_PI, so there is no packet-information header and
no Ethernet padding: frames are exactly what the kernel transmitted).  The
script elicits a fixed list of frames (ARP, UDP, IPv4 options, ICMP errors,
IPv4 fragments, ICMP echo), then writes

  * ``stack/src/wire/golden.rs`` - one ``pub const NAME: &[u8]`` per frame,
    each documented with its key header fields, plus ``ALL``;
  * ``tools/golden.pcap``        - the same frames as a pcap (linktype 1,
    Ethernet) so they can be cross-checked with tshark/tcpdump.

Usage (as root):

    python3 tools/capture-golden.py            # capture + write both files
    python3 tools/capture-golden.py --dry-run  # capture, print Rust to stdout

Safety: all network activity happens inside the namespace created here
(``udpstack-golden-<pid>``).  Nothing is configured in the host namespace and
nothing is sent anywhere but to the TAP device.  The namespace is deleted in
a ``finally`` block (also on Ctrl-C / SIGTERM).

Implementation: the outer process creates the namespace and re-executes this
file inside it with ``ip netns exec NS python3 capture-golden.py --inner``.
The inner process does the capture and prints the frames as JSON on stdout;
the outer process decodes them, writes the pcap and the Rust module.

IPv4 IDs of fragmented / ICMP-error / echo-reply packets and the pcap
timestamps vary between runs; everything else (MACs, addresses, ports,
payloads, ICMP identifiers and sequence numbers) is fixed.
"""

import argparse
import datetime
import fcntl
import json
import os
import platform
import select
import signal
import socket
import struct
import subprocess
import sys
import time

# ---------------------------------------------------------------------------
# Fixed topology and parameters
# ---------------------------------------------------------------------------

TAP_NAME = "tap0"
KERNEL_MAC = bytes.fromhex("020000000001")
KERNEL_IP = "10.0.0.1"
PEER_MAC = bytes.fromhex("020000000002")
PEER_IP = "10.0.0.2"
BROADCAST_MAC = b"\xff" * 6
TAP_MTU = 1500

KERNEL_UDP_PORT = 40000          # local port of every kernel UDP socket
PEER_ECHO_PORT = 7               # destination of kernel datagrams (echo)
UDP_PAYLOAD = b"hello, udpstack"  # payload of UDP_DATAGRAM / _WITH_IP_OPTIONS
FRAG_PAYLOAD = bytes(i % 251 for i in range(3000))  # fragmented datagram
CLOSED_PORT = 9                  # kernel port with no socket (discard)
PEER_SRC_PORT = 50000            # source port of the script's probe datagram
PROBE_PAYLOAD = b"port unreachable probe"
PROBE_IP_ID = 0x1234

# Record Route option set with IP_OPTIONS: type 7, length 11 (two address
# slots), pointer 4 (first slot), slots zeroed, padded with one End-of-List
# byte to a multiple of 4 (12 bytes -> IHL 8).
RECORD_ROUTE_OPTION = bytes([7, 11, 4]) + bytes(8) + bytes([0])

KERNEL_PING_IDENT = 0x1234       # ICMP ident of the kernel's ping socket
KERNEL_PING_SEQ = 1
KERNEL_PING_PAYLOAD = b"udpstack echo rq"  # 16 bytes, like ping -s 16
PEER_PING_IDENT = 0x5678         # ICMP ident of the script's echo request
PEER_PING_SEQ = 1
PEER_PING_PAYLOAD = b"udpstack echo rp"    # 16 bytes
PEER_PING_IP_ID = 0x4321

# Linux constants (include/uapi/linux/if_tun.h, in.h)
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IP_OPTIONS = 4
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806

# Output order of the frames = capture order (also the order of ``ALL`` and
# of the pcap records, so pcap frame N is ALL[N - 1]).
FRAME_ORDER = [
    "ARP_REQUEST",
    "UDP_DATAGRAM",
    "ARP_REPLY",
    "UDP_WITH_IP_OPTIONS",
    "ICMP_PORT_UNREACHABLE",
    "FRAGMENT_FIRST",
    "FRAGMENT_MIDDLE",
    "FRAGMENT_LAST",
    "ECHO_REQUEST",
    "ECHO_REPLY",
]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_RS = os.path.join(REPO, "stack", "src", "wire", "golden.rs")
DEFAULT_PCAP = os.path.join(HERE, "golden.pcap")


def log(msg):
    print(f"[capture-golden] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Packet building helpers (used by the peer side)
# ---------------------------------------------------------------------------

def ip2b(addr):
    return socket.inet_aton(addr)


def b2ip(b):
    return socket.inet_ntoa(bytes(b))


def rb(b):
    """Render a bytes payload as a Rust byte-string literal in backticks."""
    return '`b"' + b.decode("ascii") + '"`'


def mac2s(b):
    return ":".join(f"{x:02x}" for x in b)


def inet_checksum(data):
    """RFC 1071 one's-complement checksum."""
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(dst, src, ethertype, payload):
    return dst + src + struct.pack("!H", ethertype) + payload


def arp(oper, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, oper) + sha + ip2b(spa) + tha + ip2b(tpa)


def ipv4(src, dst, proto, payload, ident, ttl=64, df=True, tos=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident,
                      0x4000 if df else 0, ttl, proto, 0, ip2b(src), ip2b(dst))
    csum = inet_checksum(hdr)
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + payload


def udp(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    pseudo = ip2b(src) + ip2b(dst) + struct.pack("!BBH", 0, 17, length)
    csum = inet_checksum(pseudo + hdr + payload)
    if csum == 0:
        csum = 0xFFFF  # RFC 768: transmitted as all ones
    return struct.pack("!HHHH", sport, dport, length, csum) + payload


def icmp_echo(typ, ident, seq, payload):
    msg = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + payload
    return msg[:2] + struct.pack("!H", inet_checksum(msg)) + msg[4:]


# ---------------------------------------------------------------------------
# Minimal frame classification (inner side)
# ---------------------------------------------------------------------------

def frame_ethertype(f):
    return struct.unpack("!H", f[12:14])[0] if len(f) >= 14 else None


def frame_ip(f):
    """Return (ip_header_dict, ip_payload) for an IPv4 frame, else None."""
    if frame_ethertype(f) != ETH_P_IP or len(f) < 34:
        return None
    ip = f[14:]
    ihl = (ip[0] & 0x0F) * 4
    fo = struct.unpack("!H", ip[6:8])[0]
    return ({
        "ihl": ihl,
        "proto": ip[9],
        "id": struct.unpack("!H", ip[4:6])[0],
        "mf": bool(fo & 0x2000),
        "off": (fo & 0x1FFF) * 8,
        "src": b2ip(ip[12:16]),
        "dst": b2ip(ip[16:20]),
    }, ip[ihl:struct.unpack("!H", ip[2:4])[0]])


def is_arp(f, oper, spa=None, tpa=None):
    if frame_ethertype(f) != ETH_P_ARP or len(f) < 42:
        return False
    a = f[14:]
    return (struct.unpack("!H", a[6:8])[0] == oper
            and (spa is None or b2ip(a[14:18]) == spa)
            and (tpa is None or b2ip(a[24:28]) == tpa))


def describe_short(f):
    et = frame_ethertype(f)
    if et == ETH_P_ARP:
        return f"ARP len={len(f)}"
    ipi = frame_ip(f)
    if ipi:
        h, _ = ipi
        return (f"IPv4 {h['src']}->{h['dst']} proto={h['proto']} id={h['id']:#06x} "
                f"off={h['off']} mf={h['mf']} len={len(f)}")
    return f"ethertype={et:#06x} len={len(f)}" if et is not None else f"runt len={len(f)}"


# ---------------------------------------------------------------------------
# Inner side: runs inside the namespace
# ---------------------------------------------------------------------------

class Tap:
    """The peer end of tap0: raw Ethernet frames in and out."""

    def __init__(self, name):
        self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        ifr = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI)
        fcntl.ioctl(self.fd, TUNSETIFF, ifr)
        # When True, unexpected kernel ARP requests for the peer (e.g. the
        # unicast re-validation probes of a STALE neighbour entry) are
        # answered automatically so they never stall a later step.
        self.auto_arp = True

    def send(self, frame):
        os.write(self.fd, frame)

    def _recv(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return None
        return os.read(self.fd, 65536)

    def answer_arp(self, req):
        """Answer a kernel ARP request for PEER_IP with PEER_MAC."""
        a = req[14:]
        reply = eth(a[8:14], PEER_MAC, ETH_P_ARP,
                    arp(2, PEER_MAC, PEER_IP, a[8:14], b2ip(a[14:18])))
        self.send(reply)

    def expect(self, pred, what, timeout=5.0):
        """Read frames until ``pred(frame)``; log and skip everything else."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            f = self._recv(left)
            if f is None:
                continue
            ts = time.time()
            if pred(f):
                log(f"captured {what}: {describe_short(f)}")
                return f, ts
            self._unrelated(f)

    def drain(self, quiet_for=0.3):
        """Consume (and log) frames until the TAP is quiet for a while."""
        while True:
            f = self._recv(quiet_for)
            if f is None:
                return
            self._unrelated(f)

    def _unrelated(self, f):
        if self.auto_arp and is_arp(f, 1, tpa=PEER_IP):
            log(f"skipped kernel ARP request for {PEER_IP} (auto-answered)")
            self.answer_arp(f)
        else:
            log(f"skipped unrelated frame: {describe_short(f)}")


def sysctl(path, value):
    with open("/proc/sys/" + path.replace(".", "/"), "w") as fh:
        fh.write(value)


def run(*cmd):
    subprocess.run(cmd, check=True)


def kernel_udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((KERNEL_IP, KERNEL_UDP_PORT))
    return s


def is_kernel_udp(f, payload_len=None):
    ipi = frame_ip(f)
    if not ipi:
        return False
    h, p = ipi
    return (h["proto"] == 17 and h["src"] == KERNEL_IP and h["dst"] == PEER_IP
            and h["off"] == 0 and not h["mf"] and len(p) >= 8
            and struct.unpack("!HH", p[:4]) == (KERNEL_UDP_PORT, PEER_ECHO_PORT)
            and (payload_len is None or len(p) == 8 + payload_len))


def inner():
    frames = {}   # name -> (bytes, timestamp, how)
    notes = []

    def keep(name, f_ts, how):
        frames[name] = (f_ts[0], f_ts[1], how)

    # -- namespace setup ----------------------------------------------------
    # No IPv6 at all (no MLD reports, router solicitations, DAD).
    sysctl("net.ipv6.conf.all.disable_ipv6", "1")
    sysctl("net.ipv6.conf.default.disable_ipv6", "1")
    # Allow ICMP datagram ("ping") sockets for root in this namespace only.
    sysctl("net.ipv4.ping_group_range", "0 0")

    tap = Tap(TAP_NAME)
    sysctl(f"net.ipv6.conf.{TAP_NAME}.disable_ipv6", "1")
    run("ip", "link", "set", "lo", "up")
    run("ip", "link", "set", TAP_NAME, "address", mac2s(KERNEL_MAC))
    run("ip", "link", "set", TAP_NAME, "mtu", str(TAP_MTU))
    run("ip", "addr", "add", f"{KERNEL_IP}/24", "dev", TAP_NAME)
    run("ip", "link", "set", TAP_NAME, "up")
    time.sleep(0.5)
    tap.drain()

    # -- a. ARP_REQUEST ------------------------------------------------------
    # The neighbour cache is empty, so the first datagram to 10.0.0.2 makes
    # the kernel broadcast an ARP request (the datagram is queued meanwhile).
    tap.auto_arp = False
    s = kernel_udp_socket()
    s.sendto(UDP_PAYLOAD, (PEER_IP, PEER_ECHO_PORT))
    req = tap.expect(lambda f: is_arp(f, 1, KERNEL_IP, PEER_IP), "ARP_REQUEST")
    keep("ARP_REQUEST", req,
         f"Kernel UDP socket bound to {KERNEL_IP}:{KERNEL_UDP_PORT} sent "
         f"{rb(UDP_PAYLOAD)} to {PEER_IP}:{PEER_ECHO_PORT} with an empty "
         f"neighbour cache; this is the ARP request the kernel broadcast to "
         f"resolve {PEER_IP}.")
    # Answer it; the kernel then flushes the queued datagram.
    tap.answer_arp(req[0])
    tap.auto_arp = True
    flushed = tap.expect(lambda f: is_kernel_udp(f, len(UDP_PAYLOAD)),
                         "queued datagram flushed after ARP reply")

    # -- c. UDP_DATAGRAM -----------------------------------------------------
    # A fresh datagram from the same socket, neighbour entry now REACHABLE.
    s.sendto(UDP_PAYLOAD, (PEER_IP, PEER_ECHO_PORT))
    keep("UDP_DATAGRAM",
         tap.expect(lambda f: is_kernel_udp(f, len(UDP_PAYLOAD)), "UDP_DATAGRAM"),
         f"Unconnected kernel UDP socket bound to {KERNEL_IP}:{KERNEL_UDP_PORT}, "
         f"sendto({rb(UDP_PAYLOAD)}, {PEER_IP}:{PEER_ECHO_PORT}) after the script "
         f"had answered the kernel's ARP request (default socket options).")
    a, b = flushed[0], frames["UDP_DATAGRAM"][0]
    diff = [i for i in range(len(a)) if i >= len(b) or a[i] != b[i]]
    if not diff:
        notes.append("The datagram queued during ARP resolution (sent as soon as "
                     "the ARP reply arrived) was byte-identical to UDP_DATAGRAM.")
    elif len(a) == len(b) and all(14 + 4 <= i < 14 + 6 or 14 + 10 <= i < 14 + 12
                                  for i in diff):
        notes.append(f"The datagram queued during ARP resolution (sent as soon as "
                     f"the ARP reply arrived) differed from `UDP_DATAGRAM` only in the "
                     f"IPv4 ID ({frame_ip(a)[0]['id']:#06x} vs "
                     f"{frame_ip(b)[0]['id']:#06x}) and hence the header checksum.")
    else:
        notes.append("The datagram queued during ARP resolution differed from "
                     "UDP_DATAGRAM: " + a.hex())
    s.close()

    # -- b. ARP_REPLY --------------------------------------------------------
    # Done after (a) on purpose: a request from 10.0.0.2 would otherwise seed
    # the neighbour cache and (a) would never be broadcast.
    tap.drain()
    tap.send(eth(BROADCAST_MAC, PEER_MAC, ETH_P_ARP,
                 arp(1, PEER_MAC, PEER_IP, bytes(6), KERNEL_IP)))
    keep("ARP_REPLY",
         tap.expect(lambda f: is_arp(f, 2, KERNEL_IP, PEER_IP), "ARP_REPLY"),
         f"The script broadcast an ARP request \"who-has {KERNEL_IP} tell "
         f"{PEER_IP}\" (sender {mac2s(PEER_MAC)}, target MAC all zeros); this "
         f"is the kernel's reply.")

    # -- d. UDP_WITH_IP_OPTIONS ----------------------------------------------
    tap.drain()
    s = kernel_udp_socket()
    s.setsockopt(socket.IPPROTO_IP, IP_OPTIONS, RECORD_ROUTE_OPTION)
    s.sendto(UDP_PAYLOAD, (PEER_IP, PEER_ECHO_PORT))
    keep("UDP_WITH_IP_OPTIONS",
         tap.expect(lambda f: is_kernel_udp(f, len(UDP_PAYLOAD)), "UDP_WITH_IP_OPTIONS"),
         f"Same as `UDP_DATAGRAM`, but the socket had "
         f"setsockopt(IPPROTO_IP, IP_OPTIONS, {RECORD_ROUTE_OPTION.hex()}) set: "
         f"a Record Route option (type 7, length 11, pointer 4, two empty "
         f"slots) padded with one End-of-Options byte to 12 bytes.")
    s.close()

    # -- e. ICMP_PORT_UNREACHABLE --------------------------------------------
    tap.drain()
    probe_udp = udp(PEER_IP, KERNEL_IP, PEER_SRC_PORT, CLOSED_PORT, PROBE_PAYLOAD)
    probe = eth(KERNEL_MAC, PEER_MAC, ETH_P_IP,
                ipv4(PEER_IP, KERNEL_IP, 17, probe_udp, PROBE_IP_ID))

    def is_port_unreach(f):
        ipi = frame_ip(f)
        if not ipi:
            return False
        h, p = ipi
        return (h["proto"] == 1 and h["src"] == KERNEL_IP and h["dst"] == PEER_IP
                and len(p) >= 8 and p[0] == 3 and p[1] == 3)

    for attempt in range(3):  # ICMP errors are rate limited; retry if needed
        tap.send(probe)
        try:
            got = tap.expect(is_port_unreach, "ICMP_PORT_UNREACHABLE", timeout=2.0)
            break
        except TimeoutError:
            log("no ICMP port unreachable yet, retrying")
            time.sleep(1.1)
    else:
        raise TimeoutError("no ICMP port unreachable")
    keep("ICMP_PORT_UNREACHABLE", got,
         f"The script sent a UDP datagram {PEER_IP}:{PEER_SRC_PORT} -> "
         f"{KERNEL_IP}:{CLOSED_PORT} (no socket bound there; IP ID "
         f"{PROBE_IP_ID:#06x}, DF, TTL 64, payload {rb(PROBE_PAYLOAD)}, correct IP "
         f"and UDP checksums); this is the kernel's ICMP error in answer.")

    # -- f. FRAGMENT_FIRST / _MIDDLE / _LAST ----------------------------------
    tap.drain()
    s = kernel_udp_socket()
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    s.sendto(FRAG_PAYLOAD, (PEER_IP, PEER_ECHO_PORT))

    def is_fragment(f):
        ipi = frame_ip(f)
        if not ipi:
            return False
        h, _ = ipi
        return (h["proto"] == 17 and h["src"] == KERNEL_IP and h["dst"] == PEER_IP
                and (h["mf"] or h["off"] > 0))

    frags = [tap.expect(is_fragment, f"fragment {i + 1}/3") for i in range(3)]
    arrival = [frame_ip(f)[0]["off"] for f, _ in frags]
    notes.append(f"Fragments were written to the TAP in offset order `{arrival}`.")
    ids = {frame_ip(f)[0]["id"] for f, _ in frags}
    if len(ids) != 1:
        raise RuntimeError(f"fragments with different IP IDs: {ids}")
    frags.sort(key=lambda ft: frame_ip(ft[0])[0]["off"])
    how = (f"Kernel UDP socket bound to {KERNEL_IP}:{KERNEL_UDP_PORT} with "
           f"setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT) sent a "
           f"{len(FRAG_PAYLOAD)}-byte payload (byte i = i % 251) to "
           f"{PEER_IP}:{PEER_ECHO_PORT} over tap0 with MTU {TAP_MTU}; the "
           f"kernel split it into three IPv4 fragments. This is fragment")
    for name, ft, which in zip(("FRAGMENT_FIRST", "FRAGMENT_MIDDLE", "FRAGMENT_LAST"),
                               frags, ("1 of 3", "2 of 3", "3 of 3")):
        keep(name, ft, f"{how} {which}.")
    s.close()

    # -- g. ECHO_REQUEST -------------------------------------------------------
    # An ICMP datagram ("ping") socket, the same kind iputils ping uses when
    # allowed; the bound "port" becomes the ICMP identifier.  Unlike ping(8)
    # it carries no timestamp, so the payload is deterministic.
    tap.drain()
    ps = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    ps.bind((KERNEL_IP, KERNEL_PING_IDENT))
    # type 8, code 0, checksum 0, identifier 0 (both filled in by the kernel)
    ps.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, KERNEL_PING_SEQ) + KERNEL_PING_PAYLOAD,
              (PEER_IP, 0))

    def is_echo(f, typ, src, dst):
        ipi = frame_ip(f)
        if not ipi:
            return False
        h, p = ipi
        return (h["proto"] == 1 and h["src"] == src and h["dst"] == dst
                and len(p) >= 8 and p[0] == typ and p[1] == 0)

    keep("ECHO_REQUEST",
         tap.expect(lambda f: is_echo(f, 8, KERNEL_IP, PEER_IP), "ECHO_REQUEST"),
         f"Kernel ICMP datagram socket (socket(AF_INET, SOCK_DGRAM, "
         f"IPPROTO_ICMP)) bound to {KERNEL_IP} with identifier "
         f"{KERNEL_PING_IDENT:#06x}, sendto({PEER_IP}) of an echo request with "
         f"sequence {KERNEL_PING_SEQ} and the 16-byte payload "
         f"{rb(KERNEL_PING_PAYLOAD)} (equivalent of `ping -c 1 -s 16 {PEER_IP}` "
         f"without the timestamp); identifier and checksum filled in by the "
         f"kernel.")
    ps.close()

    # -- h. ECHO_REPLY ---------------------------------------------------------
    tap.drain()
    tap.send(eth(KERNEL_MAC, PEER_MAC, ETH_P_IP,
                 ipv4(PEER_IP, KERNEL_IP, 1,
                      icmp_echo(8, PEER_PING_IDENT, PEER_PING_SEQ, PEER_PING_PAYLOAD),
                      PEER_PING_IP_ID)))
    keep("ECHO_REPLY",
         tap.expect(lambda f: is_echo(f, 0, KERNEL_IP, PEER_IP), "ECHO_REPLY"),
         f"The script sent an ICMP echo request {PEER_IP} -> {KERNEL_IP} (IP ID "
         f"{PEER_PING_IP_ID:#06x}, DF, TTL 64, TOS 0, identifier "
         f"{PEER_PING_IDENT:#06x}, sequence {PEER_PING_SEQ}, 16-byte payload "
         f"{rb(PEER_PING_PAYLOAD)}); this is the kernel's echo reply.")

    tap.drain()
    os.close(tap.fd)
    json.dump({
        "kernel": platform.release(),
        "frames": {k: {"hex": v[0].hex(), "ts": v[1], "how": v[2]}
                   for k, v in frames.items()},
        "notes": notes,
    }, sys.stdout)


# ---------------------------------------------------------------------------
# Decoding (outer side): key fields for the doc comments
# ---------------------------------------------------------------------------

def decode_ipv4_options(opts):
    out = []
    i = 0
    while i < len(opts):
        t = opts[i]
        if t == 0:
            out.append(f"End of Options List (type 0) at option byte {i}")
            if any(opts[i + 1:]):
                out.append(f"non-zero bytes after End of Options: {opts[i + 1:].hex()}")
            break
        if t == 1:
            out.append("No-Operation (type 1)")
            i += 1
            continue
        ln = opts[i + 1]
        body = opts[i:i + ln]
        if t == 7:
            ptr = body[2]
            slots = [b2ip(body[j:j + 4]) for j in range(3, ln, 4)]
            out.append(f"Record Route (type 7), length {ln}, pointer {ptr}, "
                       f"slots: {', '.join(slots)}")
        else:
            out.append(f"option type {t} length {ln}: {body.hex()}")
        i += ln
    return out


def udp_checksum_ok(src, dst, udp_bytes):
    csum = struct.unpack("!H", udp_bytes[6:8])[0]
    if csum == 0:
        return "0x0000 (none)"
    pseudo = ip2b(src) + ip2b(dst) + struct.pack("!BBH", 0, 17, len(udp_bytes))
    ok = inet_checksum(pseudo + udp_bytes) == 0
    return f"{csum:#06x} ({'correct' if ok else 'INCORRECT'})"


def describe_ip(ip, lines, frag_datagram=None):
    """Append doc lines for an IPv4 packet; return (hdr, payload)."""
    ihl = ip[0] & 0x0F
    tot = struct.unpack("!H", ip[2:4])[0]
    ident = struct.unpack("!H", ip[4:6])[0]
    fo = struct.unpack("!H", ip[6:8])[0]
    flags = []
    if fo & 0x8000:
        flags.append("reserved")
    if fo & 0x4000:
        flags.append("DF")
    if fo & 0x2000:
        flags.append("MF")
    off = fo & 0x1FFF
    csum = struct.unpack("!H", ip[10:12])[0]
    csum_ok = inet_checksum(ip[:ihl * 4]) == 0
    proto = ip[9]
    pname = {1: "ICMP", 17: "UDP"}.get(proto, "?")
    tos = f"TOS {ip[1]:#04x}"
    if ip[1]:
        tos += f" (DSCP {ip[1] >> 2}, ECN {ip[1] & 3})"
    lines.append(f"- IPv4: version {ip[0] >> 4}, IHL {ihl} ({ihl * 4}-byte header), "
                 f"{tos}, total length {tot}, ID {ident:#06x}")
    fl = "+".join(flags) if flags else "none"
    offtxt = f"{off}" if off == 0 else f"{off} (= {off * 8} bytes)"
    lines.append(f"- IPv4: flags {fl}, fragment offset {offtxt} (field {fo:#06x}), "
                 f"TTL {ip[8]}, protocol {proto} ({pname})")
    lines.append(f"- IPv4: header checksum {csum:#06x} "
                 f"({'correct' if csum_ok else 'INCORRECT'}), "
                 f"{b2ip(ip[12:16])} -> {b2ip(ip[16:20])}")
    if ihl > 5:
        opts = ip[20:ihl * 4]
        lines.append(f"- IPv4 options ({len(opts)} bytes): {opts.hex()}")
        for o in decode_ipv4_options(opts):
            lines.append(f"  - {o}")
    payload = ip[ihl * 4:tot]
    return {"ihl": ihl, "tot": tot, "off": off, "mf": bool(fo & 0x2000),
            "proto": proto, "src": b2ip(ip[12:16]), "dst": b2ip(ip[16:20])}, payload


def printable(b):
    try:
        s = b.decode("ascii")
        if all(0x20 <= c < 0x7F for c in b):
            return f'"{s}"'
    except UnicodeDecodeError:
        pass
    return None


def describe(name, f, how, all_frames):
    lines = [how, "", f"- Frame length: {len(f)} bytes (as read from the TAP: "
                      f"no padding, no FCS)"]
    et = struct.unpack("!H", f[12:14])[0]
    etname = {ETH_P_IP: "IPv4", ETH_P_ARP: "ARP"}.get(et, "?")
    lines.append(f"- Ethernet: {mac2s(f[6:12])} -> {mac2s(f[0:6])}, "
                 f"ethertype {et:#06x} ({etname})")
    if et == ETH_P_ARP:
        a = f[14:]
        htype, ptype, hlen, plen, oper = struct.unpack("!HHBBH", a[:8])
        lines.append(f"- ARP: hardware type {htype} (Ethernet), protocol type {ptype:#06x}, "
                     f"hardware size {hlen}, protocol size {plen}")
        lines.append(f"- ARP: opcode {oper} ({'request' if oper == 1 else 'reply'})")
        lines.append(f"- ARP: sender {mac2s(a[8:14])} / {b2ip(a[14:18])}, "
                     f"target {mac2s(a[18:24])} / {b2ip(a[24:28])}")
        return lines
    h, p = describe_ip(f[14:], lines)
    if h["proto"] == 17:
        if h["off"] == 0:
            sport, dport, ulen, _ = struct.unpack("!HHHH", p[:8])
            if h["mf"]:
                # checksum covers the whole reassembled datagram
                whole = b"".join(
                    frame_ip(all_frames[n])[1]
                    for n in ("FRAGMENT_FIRST", "FRAGMENT_MIDDLE", "FRAGMENT_LAST"))
                cs = udp_checksum_ok(h["src"], h["dst"], whole)
                cs += " (over the reassembled datagram)"
            else:
                cs = udp_checksum_ok(h["src"], h["dst"], p)
            lines.append(f"- UDP: source port {sport}, destination port {dport}, "
                         f"length {ulen}")
            lines.append(f"- UDP: checksum {cs}")
            data = p[8:]
            pr = printable(data)
            if h["mf"]:
                lines.append(f"- IP payload: {len(p)} bytes = 8-byte UDP header + UDP "
                             f"payload bytes 0..{len(data)} (end exclusive)")
            else:
                lines.append(f"- UDP payload: {len(data)} bytes"
                             + (f", {pr}" if pr else ""))
        else:
            lines.append(f"- IP payload: {len(p)} bytes, no UDP header (non-first fragment)")
            lines.append(f"- IP payload = UDP payload bytes {h['off'] * 8 - 8}.."
                         f"{h['off'] * 8 - 8 + len(p)} (end exclusive)")
            if not h["mf"]:
                lines.append("- Last fragment (MF clear)")
    elif h["proto"] == 1:
        typ, code, csum = struct.unpack("!BBH", p[:4])
        ok = inet_checksum(p) == 0
        tname = {0: "echo reply", 8: "echo request", 3: "destination unreachable"}.get(typ, "?")
        cname = " (port unreachable)" if (typ, code) == (3, 3) else ""
        lines.append(f"- ICMP: type {typ} ({tname}), code {code}{cname}, "
                     f"checksum {csum:#06x} ({'correct' if ok else 'INCORRECT'})")
        lines.append(f"- ICMP message length: {len(p)} bytes")
        if typ in (0, 8):
            ident, seq = struct.unpack("!HH", p[4:8])
            data = p[8:]
            pr = printable(data)
            lines.append(f"- ICMP echo: identifier {ident:#06x}, sequence {seq}, "
                         f"data {len(data)} bytes" + (f", {pr}" if pr else ""))
        elif typ == 3:
            rest = struct.unpack("!I", p[4:8])[0]
            lines.append(f"- ICMP: unused field {rest:#010x}; quoted original "
                         f"datagram ({len(p) - 8} bytes, complete):")
            q = p[8:]
            sub = []
            qh, qp = describe_ip(q, sub)
            lines.extend("  " + s for s in sub)
            if qh["proto"] == 17 and len(qp) >= 8:
                sport, dport, ulen, ucs = struct.unpack("!HHHH", qp[:8])
                lines.append(f"  - quoted UDP: source port {sport}, destination port "
                             f"{dport}, length {ulen}")
                lines.append(f"  - quoted UDP: checksum "
                             f"{udp_checksum_ok(qh['src'], qh['dst'], qp[:ulen])}")
                lines.append(f"  - quoted UDP payload: {len(qp) - 8} bytes"
                             + (f", {printable(qp[8:])}" if printable(qp[8:]) else ""))
    return lines


# ---------------------------------------------------------------------------
# Output writers
# ---------------------------------------------------------------------------

def write_pcap(path, frames):
    with open(path, "wb") as fh:
        # pcap global header: magic, v2.4, thiszone, sigfigs, snaplen, linktype
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for _, data, ts in frames:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            if usec >= 1000000:
                sec, usec = sec + 1, usec - 1000000
            fh.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
            fh.write(data)


def wrap(text, width, indent=""):
    words, cur, lines = text.split(), "", []
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = indent + w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return lines


def rust_bytes(data):
    lines = []
    for i in range(0, len(data), 16):
        lines.append("    " + " ".join(f"0x{b:02x}," for b in data[i:i + 16]))
    return "\n".join(lines)


def render_rust(result, date):
    frames = {k: bytes.fromhex(v["hex"]) for k, v in result["frames"].items()}
    out = []
    out.append(f"""//! Golden Ethernet frames captured from the Linux kernel.
//!
//! Every frame in this module was emitted by Linux {result['kernel']} (Linux 6.18)
//! and read byte for byte from the peer side of a TAP device (`IFF_TAP |
//! IFF_NO_PI`) inside a private, throw-away network namespace by
//! `tools/capture-golden.py` on {date}. The same frames are stored in
//! `tools/golden.pcap` (linktype 1, Ethernet) for inspection with tshark, in
//! capture order, which is also the order of [`ALL`].
//!
//! Topology:
//!
//! ```text
//! kernel  tap0  10.0.0.1/24  02:00:00:00:00:01  (MTU {TAP_MTU}, IPv6 disabled)
//! peer          10.0.0.2     02:00:00:00:00:02  (played by the capture script)
//! ```
//!
//! Frames are exactly as the kernel wrote them: no Ethernet padding to 60
//! bytes and no FCS. The IPv4 IDs of the kernel's packets (and therefore their
//! IPv4 header checksums) are chosen by the kernel and differ between
//! captures; everything else (addresses, ports, payloads, ICMP identifiers and
//! sequence numbers) is fixed by the capture script. All header fields listed in the doc comments
//! were decoded from these bytes and cross-checked with tshark.""")
    if result.get("notes"):
        out.append("//!")
        out.append("//! Capture notes:")
        out.append("//!")
        for note in result["notes"]:
            out.extend("//! " + l for l in wrap("- " + note, 94, "  "))
    for name in FRAME_ORDER:
        f = frames[name]
        doc = describe(name, f, result["frames"][name]["how"], frames)
        out.append("")
        # wrap the free-text first paragraph; field lines stay one per line
        for line in wrap(doc[0], 96) + doc[1:]:
            out.append(f"/// {line}".rstrip())
        out.append(f"pub const {name}: &[u8] = &[")
        out.append(rust_bytes(f))
        out.append("];")
    out.append("")
    out.append("/// Every golden frame in this module as `(name, bytes)` pairs, in capture order")
    out.append("/// (entry `i` is frame `i + 1` of `tools/golden.pcap`).")
    out.append("pub const ALL: &[(&str, &[u8])] = &[")
    for name in FRAME_ORDER:
        out.append(f'    ("{name}", {name}),')
    out.append("];")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Outer side: namespace lifecycle
# ---------------------------------------------------------------------------

def outer(args):
    if os.geteuid() != 0:
        sys.exit("must run as root (network namespaces, TAP devices)")
    ns = f"udpstack-golden-{os.getpid()}"

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    subprocess.run(["ip", "netns", "add", ns], check=True)
    log(f"created network namespace {ns}")
    try:
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--inner"],
            stdout=subprocess.PIPE, timeout=120, check=True)
        result = json.loads(proc.stdout)
    finally:
        # The inner process has exited (or was killed by the timeout), which
        # closes the tun fd and removes tap0; now remove the namespace.
        subprocess.run(["ip", "netns", "del", ns], check=False)
        log(f"deleted network namespace {ns}")

    for note in result["notes"]:
        log(f"note: {note}")
    date = args.date or datetime.date.today().isoformat()
    rust = render_rust(result, date)
    frames = [(n, bytes.fromhex(result["frames"][n]["hex"]), result["frames"][n]["ts"])
              for n in FRAME_ORDER]
    if args.dry_run:
        sys.stdout.write(rust)
        return
    with open(args.rust_out, "w") as fh:
        fh.write(rust)
    write_pcap(args.pcap_out, frames)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(result, fh, indent=1)
    log(f"wrote {args.rust_out} and {args.pcap_out}")
    for n, data, _ in frames:
        log(f"  {n:24s} {len(data):5d} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inner", action="store_true",
                    help="internal: run the capture (inside the namespace)")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the Rust module instead of writing files")
    ap.add_argument("--rust-out", default=DEFAULT_RS)
    ap.add_argument("--pcap-out", default=DEFAULT_PCAP)
    ap.add_argument("--json-out", default=None,
                    help="also save the raw capture result as JSON")
    ap.add_argument("--date", default=None,
                    help="capture date for the module doc (default: today)")
    args = ap.parse_args()
    if args.inner:
        inner()
    else:
        try:
            outer(args)
        except KeyboardInterrupt as e:
            sys.exit(f"capture-golden: interrupted ({e}); namespace removed")
        except subprocess.CalledProcessError as e:
            sys.exit(f"capture-golden: capture failed ({e}); namespace removed")


if __name__ == "__main__":
    main()
