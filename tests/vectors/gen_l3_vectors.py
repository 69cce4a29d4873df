#!/usr/bin/python3
"""tests/vectors/gen_l3_vectors.py — golden IPv4 / ICMP / UDP packets from an
independent implementation (scapy), written as C arrays into
tests/vectors/l3_vectors.h for test_ipv4, test_reasm, test_icmp and test_udp,
and as seed corpora for fuzz_ipv4, fuzz_udp and fuzz_icmp.

Packets start at the IP header (no Ethernet). Where we are the sender, the
IP ID is ours to choose: the tests patch our ID to the one here (and fix the
header checksum) before comparing byte for byte.

The header is committed so the build needs no scapy; run this to regenerate
(deterministic: fixed seed, fixed addresses):

    /usr/bin/python3 tests/vectors/gen_l3_vectors.py
"""
import os
import random
import struct

from scapy.all import ICMP, IP, UDP, IPOption_NOP, IPOption_RR, Raw, fragment, raw

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "l3_vectors.h")
CORPUS = os.path.join(HERE, "..", "fuzz", "corpus")

OUR_IP, PEER_IP, REMOTE_IP = "10.0.0.2", "10.0.0.1", "192.0.2.7"
OUT_ID = 0x4242          # the ID the tests patch into our output
FRAGSIZE = 1480          # payload per fragment for a 1500-byte MTU

rng = random.Random(20240603)


def payload(n):
    return bytes(rng.randrange(256) for _ in range(n))


def icmp_error(type_, code, offending, **kw):
    """Our ICMP error about `offending`: quoted up to 576 bytes in all,
    TOS 0xc0 (internetwork control), TTL 64."""
    quote = raw(offending)[:576 - 20 - 8]
    return IP(src=OUR_IP, dst=PEER_IP, tos=0xc0, id=OUT_ID, ttl=64) / \
        ICMP(type=type_, code=code, **kw) / Raw(quote)


def packets():
    """(name, bytes, comment) of every golden packet, and fragment lists."""
    small = payload(32)
    udp_in = IP(src=PEER_IP, dst=OUR_IP, id=7, ttl=64) / UDP(sport=40000, dport=9999) / small
    udp_out = IP(src=OUR_IP, dst=PEER_IP, id=OUT_ID, ttl=64) / \
        UDP(sport=9999, dport=40000) / small
    opts = IP(src=PEER_IP, dst=OUR_IP, id=0x1234, ttl=3, tos=0x10,
              options=[IPOption_RR(routers=["192.0.2.1", "192.0.2.2"]), IPOption_NOP()]) / \
        UDP(sport=5000, dport=9999) / b"with options"
    zero = IP(src=PEER_IP, dst=OUR_IP, id=8) / UDP(sport=40000, dport=9999, chksum=0) / small
    bcast = IP(src=PEER_IP, dst="10.0.0.255", id=9) / UDP(sport=68, dport=67) / small
    echo_data = payload(56)
    echo_req = IP(src=PEER_IP, dst=OUR_IP, id=0x99, ttl=64) / ICMP(type=8, id=0x1234, seq=1) / echo_data
    echo_rep = IP(src=OUR_IP, dst=PEER_IP, id=OUT_ID, ttl=64) / ICMP(type=0, id=0x1234, seq=1) / echo_data
    proto_in = IP(src=PEER_IP, dst=OUR_IP, id=0x77, proto=200) / Raw(payload(24))
    # Errors from the network about a datagram we sent to REMOTE_IP.
    sent = IP(src=OUR_IP, dst=REMOTE_IP, id=0x31, ttl=64) / UDP(sport=9999, dport=53) / payload(100)
    frag_needed = IP(src=PEER_IP, dst=OUR_IP, id=0x32) / \
        ICMP(type=3, code=4, nexthopmtu=1400) / Raw(raw(sent)[:28])
    port_unr_in = IP(src=REMOTE_IP, dst=OUR_IP, id=0x33) / ICMP(type=3, code=3) / Raw(raw(sent)[:28])
    return [
        ("udp_in", udp_in, "UDP PEER:40000 -> OUR:9999, 32 bytes"),
        ("udp_out", udp_out, "UDP OUR:9999 -> PEER:40000, same 32 bytes (our ID patched)"),
        ("ip_opts_in", opts, "UDP with IP options (record route, NOP): IHL 8, TTL 3, TOS 0x10"),
        ("udp_zero_csum_in", zero, "UDP with checksum 0 (none computed, RFC 768)"),
        ("udp_bcast_in", bcast, "UDP to the subnet broadcast 10.0.0.255:67"),
        ("echo_req_in", echo_req, "ICMP echo request, 56 bytes of data"),
        ("echo_rep_out", echo_rep, "our echo reply to echo_req_in"),
        ("port_unreach_out", icmp_error(3, 3, udp_in), "our port unreachable about udp_in"),
        ("proto_in", proto_in, "IP protocol 200 (unknown)"),
        ("proto_unreach_out", icmp_error(3, 2, proto_in), "our protocol unreachable about proto_in"),
        ("frag_needed_in", frag_needed, "frag needed (MTU 1400) about OUR:9999 -> REMOTE:53"),
        ("port_unreach_in", port_unr_in, "port unreachable about OUR:9999 -> REMOTE:53"),
    ]


def frag_sets():
    """(name, whole datagram, fragments, comment) for reassembly and output."""
    big = payload(3000)
    dgram_in = IP(src=PEER_IP, dst=OUR_IP, id=0xbeef, ttl=64) / UDP(sport=1111, dport=2222) / big
    dgram_out = IP(src=OUR_IP, dst=REMOTE_IP, id=OUT_ID, ttl=64) / UDP(sport=2222, dport=1111) / big
    ping = payload(4000)
    ping_in = IP(src=PEER_IP, dst=OUR_IP, id=0xcafe, ttl=64) / ICMP(type=8, id=7, seq=9) / ping
    pong_out = IP(src=OUR_IP, dst=PEER_IP, id=OUT_ID, ttl=64) / ICMP(type=0, id=7, seq=9) / ping
    sets = [
        ("frag_udp_in", dgram_in, "3000-byte UDP PEER:1111 -> OUR:2222 in 1480-byte fragments"),
        ("frag_udp_out", dgram_out, "the same data OUR:2222 -> REMOTE:1111 as we fragment it"),
        ("frag_ping_in", ping_in, "4000-byte echo request in fragments"),
        ("frag_pong_out", pong_out, "our echo reply to frag_ping_in, fragmented"),
    ]
    out = []
    for name, whole, comment in sets:
        whole = IP(raw(whole))        # freeze checksums before fragmenting
        out.append((name, whole, fragment(whole, fragsize=FRAGSIZE), comment))
    # Time exceeded quotes fragment zero of frag_udp_in (576 bytes in all).
    frag0 = out[0][2][0]
    out.append(("time_exceeded_out", None, [icmp_error(11, 1, frag0)],
                "our time exceeded (code 1) when frag_udp_in lost its last fragment"))
    return out


def c_array(name, data, comment):
    lines = ["/* %s (%d bytes) */" % (comment, len(data)),
             "static const uint8_t l3v_%s[] = {" % name]
    for i in range(0, len(data), 12):
        lines.append("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    lines.append("};")
    return "\n".join(lines) + "\n"


def header(pkts, fsets):
    parts = ["""/* tests/vectors/l3_vectors.h — GENERATED by tests/vectors/gen_l3_vectors.py
 * (scapy); do not edit. Golden IPv4 / ICMP / UDP packets (from the IP header
 * on) from an independent implementation, for test_ipv4, test_reasm,
 * test_icmp and test_udp. Our output is compared after patching its IP ID
 * to L3V_OUT_ID. */
#ifndef RINGSTACK_TESTS_L3_VECTORS_H
#define RINGSTACK_TESTS_L3_VECTORS_H

#include <stdint.h>

#define L3V_OUR_IP    0x0a000002u  /* 10.0.0.2/24 */
#define L3V_PEER_IP   0x0a000001u  /* 10.0.0.1, the gateway */
#define L3V_REMOTE_IP 0xc0000207u  /* 192.0.2.7, off-link */
#define L3V_OUT_ID    0x%04x
#define L3V_FRAGSIZE  %d

struct l3v_frag {
	const uint8_t *data;
	uint32_t len;
};
""" % (OUT_ID, FRAGSIZE)]
    for name, pkt, comment in pkts:
        parts.append(c_array(name, raw(pkt), comment))
    for name, whole, frags, comment in fsets:
        if whole is not None:
            parts.append(c_array(name + "_whole", raw(whole), comment + ": the whole datagram"))
        for i, f in enumerate(frags):
            parts.append(c_array("%s_%d" % (name, i), raw(f), "%s: fragment %d" % (name, i)))
        parts.append("static const struct l3v_frag l3v_%s[] = {\n%s};\n#define L3V_%s_N %d\n" % (
            name, "".join("\t{ l3v_%s_%d, sizeof(l3v_%s_%d) },\n" % (name, i, name, i)
                          for i in range(len(frags))), name.upper(), len(frags)))
    parts.append("#endif /* RINGSTACK_TESTS_L3_VECTORS_H */\n")
    return "\n".join(parts)


def write_corpus(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ipv4_record(pkt, flags=0):
    """fuzz_ipv4's input is records: flags(1) length(2, big-endian) bytes."""
    b = raw(pkt)
    return struct.pack(">BH", flags, len(b)) + b


def corpora(pkts, fsets):
    for name, pkt, _ in pkts:
        write_corpus("fuzz_ipv4", name, ipv4_record(pkt))
        l4 = raw(pkt)[(raw(pkt)[0] & 15) * 4:]
        if pkt.proto == 17:
            write_corpus("fuzz_udp", name, b"\x01" + l4)     # flags: fix checksum
        if pkt.proto == 1:
            write_corpus("fuzz_icmp", name, b"\x01" + l4)
    for name, _, frags, _ in fsets:
        write_corpus("fuzz_ipv4", name, b"".join(ipv4_record(f) for f in frags))
        write_corpus("fuzz_ipv4", name + "_rev", b"".join(ipv4_record(f) for f in reversed(frags)))


def main():
    pkts, fsets = packets(), frag_sets()
    with open(OUT, "w") as f:
        f.write(header(pkts, fsets))
    corpora(pkts, fsets)


if __name__ == "__main__":
    main()
