package wire

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

// Frames captured with tshark on a veth pair between two network namespaces
// (198.18.0.1 = client, Linux 6.18 on both ends, TX checksum offload switched off so
// that every checksum on the wire is final). Wireshark validated all checksums.
const (
	capARPRequest = "ffffffffffff02e5b39b30de0806000108000604000102e5b39b30dec6120001000000000000c6120002"
	capARPReply   = "02e5b39b30de8e0a72e4082e080600010800060400028e0a72e4082ec612000202e5b39b30dec6120001"
	// Linux SYN: MSS 1460, SACK_PERM, TS val 2376742560 ecr 0, NOP, WS 10.
	capSYN = "8e0a72e4082e02e5b39b30de08004500003cff5040004006af43c6120001c6120002b6901f90ee9aa81400000000a002faf08fc90000020405b40402080a8daa36a0000000000103030a"
	// Linux SYN-ACK.
	capSYNACK = "02e5b39b30de8e0a72e4082e08004500003c000040004006ae94c6120002c61200011f90b690260be32eee9aa815a012fe8895cc0000020405b40402080a1d07d0128daa36a00103030a"
	// PSH|ACK with 5 bytes "hello", NOP NOP TS.
	capDataHello = "8e0a72e4082e02e5b39b30de080045000039ff5240004006af44c6120001c6120002b6901f90ee9aa815260be32f8018003f7f0500000101080a8daa36a11d07d01268656c6c6f"
	// UDP 60759 -> 9999, "udp-payload".
	capUDP = "8e0a72e4082e02e5b39b30de080045000027c51940004011e984c6120001c6120002ed57270f0013bc777564702d7061796c6f6164"
	// ICMP port unreachable for capUDP, quoting its IP header and datagram. TOS 0xc0.
	capICMPPortUnreach = "02e5b39b30de8e0a72e4082e080045c000437b6800004001726ac6120002c6120001030389490000000045000027c51940004011e984c6120001c6120002ed57270f0013bc777564702d7061796c6f6164"
	// Echo request id 0x1234 seq 1 and Linux's reply.
	capEchoRequest = "8e0a72e4082e02e5b39b30de08004500003c8290400040012c09c6120001c612000208003b27123400016162636465666768696a6b6c6d6e6f7071727374757677616263646566676869"
	capEchoReply   = "02e5b39b30de8e0a72e4082e08004500003c7b8d00004001730cc6120002c612000100004327123400016162636465666768696a6b6c6d6e6f7071727374757677616263646566676869"

	// Linux receiver (198.18.0.2) answering out-of-order data from 198.18.0.9:
	// duplicate ACKs carrying NOP NOP TS NOP NOP SACK with 1, 2 and 3 blocks, the
	// most recent block first (RFC 2018 §4).
	capSACK1 = "02e5b39b30de8e0a72e4082e080045000040ae41400040060047c6120002c61200091f919c402e95a132000003e9b0100040e4dd00000101080ac4466989000000700101050a000007d1000009c5"
	capSACK2 = "02e5b39b30de8e0a72e4082e080045000048ae4240004006003ec6120002c61200091f919c402e95a132000003e9d0100040a36400000101080ac44669bc000000700101051200000fa100001195000007d1000009c5"
	capSACK3 = "02e5b39b30de8e0a72e4082e080045000050ae43400040060035c6120002c61200091f919c402e95a132000003e9f0100040524c00000101080ac44669ee000000700101051a000017710000196500000fa100001195000007d1000009c5"
)

var (
	capClientMAC = MAC{0x02, 0xe5, 0xb3, 0x9b, 0x30, 0xde}
	capServerMAC = MAC{0x8e, 0x0a, 0x72, 0xe4, 0x08, 0x2e}
	capClientIP  = netip.MustParseAddr("198.18.0.1")
	capServerIP  = netip.MustParseAddr("198.18.0.2")
	capSACKPeer  = netip.MustParseAddr("198.18.0.9")
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capturedTCP peels Ethernet and IPv4 off a captured frame.
func capturedTCP(t testing.TB, frame string) (IPv4, TCP) {
	t.Helper()
	e, err := ParseEthernet(mustHex(t, frame))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := ParseIPv4(e.Payload())
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := ParseTCP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	return ip, tcp
}
