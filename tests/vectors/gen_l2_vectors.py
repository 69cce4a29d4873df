#!/usr/bin/python3
"""tests/vectors/gen_l2_vectors.py — golden link-layer frames and checksums
from an independent implementation (scapy), written as C arrays into
tests/vectors/l2_vectors.h for test_eth / test_arp / test_csum and as seed
corpora for the fuzzers.

The header is committed so the build needs no scapy; run this to regenerate
(deterministic: fixed seed, fixed addresses):

    /usr/bin/python3 tests/vectors/gen_l2_vectors.py
"""
import os
import random
import struct

from scapy.all import ARP, Dot1Q, Ether, IP, UDP, Padding, raw
from scapy.utils import checksum

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "l2_vectors.h")
CORPUS = os.path.join(HERE, "..", "fuzz", "corpus")

OUR_MAC, OUR_IP = "02:00:00:00:00:01", "10.0.0.2"
PEER_MAC, PEER_IP = "02:00:00:00:00:02", "10.0.0.1"
OTHER_IP = "10.0.0.3"
BCAST, ZERO = "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"
VLAN = 100


def arp(op, hwsrc, psrc, hwdst, pdst):
    return ARP(op=op, hwsrc=hwsrc, psrc=psrc, hwdst=hwdst, pdst=pdst)


def frames():
    """(name, bytes, comment) of every golden frame."""
    udp = IP(src=PEER_IP, dst=OUR_IP, id=1, ttl=64) / UDP(sport=1234, dport=53) / b"hello"
    return [
        ("arp_request_out", Ether(dst=BCAST, src=OUR_MAC) /
         arp(1, OUR_MAC, OUR_IP, ZERO, PEER_IP), "we ask who has PEER_IP"),
        ("arp_reply_out", Ether(dst=PEER_MAC, src=OUR_MAC) /
         arp(2, OUR_MAC, OUR_IP, PEER_MAC, PEER_IP), "we answer the peer's request"),
        ("arp_gratuitous_out", Ether(dst=BCAST, src=OUR_MAC) /
         arp(1, OUR_MAC, OUR_IP, ZERO, OUR_IP), "RFC 5227 announcement of OUR_IP"),
        ("arp_request_out_vlan", Ether(dst=BCAST, src=OUR_MAC) / Dot1Q(vlan=VLAN) /
         arp(1, OUR_MAC, OUR_IP, ZERO, PEER_IP), "our request on VLAN 100"),
        ("arp_request_in", Ether(dst=BCAST, src=PEER_MAC) /
         arp(1, PEER_MAC, PEER_IP, ZERO, OUR_IP) / Padding(b"\0" * 18),
         "the peer asks for OUR_IP, padded to 60 bytes as on the wire"),
        ("arp_reply_in", Ether(dst=OUR_MAC, src=PEER_MAC) /
         arp(2, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP), "the peer answers our request"),
        ("arp_request_other_in", Ether(dst=BCAST, src=PEER_MAC) /
         arp(1, PEER_MAC, PEER_IP, ZERO, OTHER_IP), "the peer asks for someone else"),
        ("arp_gratuitous_in", Ether(dst=BCAST, src="02:00:00:00:00:99") /
         arp(1, "02:00:00:00:00:99", PEER_IP, ZERO, PEER_IP), "the peer moved to :99"),
        ("arp_request_in_vlan", Ether(dst=BCAST, src=PEER_MAC) / Dot1Q(vlan=VLAN) /
         arp(1, PEER_MAC, PEER_IP, ZERO, OUR_IP), "the peer asks for OUR_IP on VLAN 100"),
        ("ipv4_udp_in", Ether(dst=OUR_MAC, src=PEER_MAC) / udp, "UDP to port 53"),
        ("ipv4_udp_in_vlan", Ether(dst=OUR_MAC, src=PEER_MAC) / Dot1Q(prio=3, vlan=VLAN) / udp,
         "UDP to port 53 on VLAN 100, priority 3"),
        ("eth_mcast_mdns_in", Ether(dst="01:00:5e:00:00:fb", src=PEER_MAC) /
         IP(src=PEER_IP, dst="224.0.0.251") / UDP(sport=5353, dport=5353),
         "mDNS: a group we are not in"),
        ("eth_mcast_allhosts_in", Ether(dst="01:00:5e:00:00:01", src=PEER_MAC) /
         IP(src=PEER_IP, dst="224.0.0.1") / UDP(sport=9, dport=9), "all-hosts group"),
    ]


def c_bytes(data, indent="\t"):
    lines = []
    for i in range(0, len(data), 12):
        lines.append(indent + ", ".join("0x%02x" % b for b in data[i:i + 12]) + ",")
    return "\n".join(lines) if lines else indent + "0x00, /* empty */"


def csum_cases(rng):
    """Random buffers with scapy's Internet checksum, at odd and even lengths."""
    lens = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 20, 31, 32, 33, 63, 64, 65, 127, 1499,
            1500, 2049]
    data, cases = bytearray(), []
    for n in lens:
        buf = bytes(rng.getrandbits(8) for _ in range(n))
        cases.append((len(data), n, checksum(buf)))
        data += buf
    # all-ones and all-zero buffers: the -0 / +0 corners of RFC 1624
    for fill, n in ((0xff, 64), (0x00, 64)):
        buf = bytes([fill]) * n
        cases.append((len(data), n, checksum(buf)))
        data += buf
    return bytes(data), cases


def udp_case():
    """A UDP datagram with scapy's checksum, for csum_pseudo_ipv4."""
    pkt = IP(raw(IP(src=PEER_IP, dst=OUR_IP, id=7) / UDP(sport=1234, dport=53) /
                 b"odd-length payload!"))
    return raw(pkt[UDP]), pkt[UDP].chksum


def ttl_case():
    """The same IP header at TTL 64 and 63: RFC 1624's incremental update."""
    a = raw(IP(src=PEER_IP, dst=OUR_IP, id=0x1234, ttl=64, proto=17, len=40))
    b = raw(IP(src=PEER_IP, dst=OUR_IP, id=0x1234, ttl=63, proto=17, len=40))
    return a, b


def fuzz_record(op, data):
    """One record of tests/fuzz/fuzz_eth.c's input: op, 16-bit length, bytes."""
    return struct.pack("!BH", op, len(data)) + data


def write_corpus(fr):
    """fuzz_eth takes a configuration byte and records (see fuzz_eth.c);
    fuzz_arp takes bare ARP packets (no Ethernet header)."""
    for target in ("fuzz_eth", "fuzz_arp"):
        os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    seeds = {}
    for name, pkt, _ in fr:
        cfg = 1 if name.endswith("_vlan") else 0
        seeds[name] = bytes([cfg]) + fuzz_record(0, raw(pkt))
        if ARP in pkt:
            with open(os.path.join(CORPUS, "fuzz_arp", name), "wb") as f:
                f.write(raw(pkt[ARP]))
    # a whole resolution: send to the peer, time passes, the reply comes
    ip = raw(IP(src=OUR_IP, dst=PEER_IP) / UDP(sport=53, dport=1234) / b"x")
    reply = raw(dict((n, p) for n, p, _ in fr)["arp_reply_in"])
    peer = struct.pack("!I", 0x0a000001)
    seeds["resolve_then_reply"] = (b"\0" + fuzz_record(1, peer + ip) + fuzz_record(2, b"\x0a") +
                                   fuzz_record(0, reply) + fuzz_record(1, peer + ip))
    seeds["resolve_and_fail"] = (b"\0" + fuzz_record(1, peer + ip) * 4 +
                                 fuzz_record(2, b"\x14") * 5 + fuzz_record(1, peer + ip))
    for name, data in seeds.items():
        with open(os.path.join(CORPUS, "fuzz_eth", name), "wb") as f:
            f.write(data)


def main():
    rng = random.Random(20240601)
    fr = frames()
    out = ["/* tests/vectors/l2_vectors.h — GENERATED by tests/vectors/gen_l2_vectors.py",
           " * (scapy); do not edit. Golden frames and checksums from an independent",
           " * implementation, for test_eth, test_arp and test_csum. */",
           "#ifndef RINGSTACK_TESTS_L2_VECTORS_H", "#define RINGSTACK_TESTS_L2_VECTORS_H",
           "", "#include <stdint.h>", "",
           "#define L2V_OUR_MAC  { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }",
           "#define L2V_PEER_MAC { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 }",
           "#define L2V_OUR_IP   0x0a000002u  /* 10.0.0.2/24 */",
           "#define L2V_PEER_IP  0x0a000001u  /* 10.0.0.1, the gateway */",
           "#define L2V_OTHER_IP 0x0a000003u",
           "#define L2V_VLAN     %d" % VLAN, ""]
    for name, pkt, comment in fr:
        data = raw(pkt)
        out += ["/* %s (%d bytes) */" % (comment, len(data)),
                "static const uint8_t l2v_%s[] = {" % name, c_bytes(data), "};", ""]
    data, cases = csum_cases(rng)
    out += ["/* Internet checksum cases: l2v_csum_data[off .. off+len) sums to csum",
            " * (as stored in a packet: csum[0] is the high byte). */",
            "struct l2v_csum_case { uint32_t off, len; uint8_t csum[2]; };",
            "static const struct l2v_csum_case l2v_csum_cases[] = {"]
    out += ["\t{ %d, %d, { 0x%02x, 0x%02x } }," % (o, n, c >> 8, c & 0xff) for o, n, c in cases]
    out += ["};", "static const uint8_t l2v_csum_data[] = {", c_bytes(data), "};", ""]
    seg, ck = udp_case()
    out += ["/* UDP %s -> %s, checksum 0x%04x by scapy (stored in bytes 6..7) */" %
            (PEER_IP, OUR_IP, ck),
            "static const uint8_t l2v_udp_seg[] = {", c_bytes(seg), "};", ""]
    a, b = ttl_case()
    out += ["/* One IP header at TTL 64 and at TTL 63, checksums by scapy */",
            "static const uint8_t l2v_ip_ttl64[] = {", c_bytes(a), "};",
            "static const uint8_t l2v_ip_ttl63[] = {", c_bytes(b), "};", "",
            "#endif /* RINGSTACK_TESTS_L2_VECTORS_H */", ""]
    with open(OUT, "w") as f:
        f.write("\n".join(out))
    write_corpus(fr)
    print("wrote %s (%d frames, %d checksum cases)" % (OUT, len(fr), len(cases)))


if __name__ == "__main__":
    main()
