package wire_test

import (
	"encoding/hex"
	"fmt"
	"net/netip"

	"offload/wire"
)

// Peeling a received frame: each layer is parsed once from the previous layer's
// payload; errors are sentinels, so a drop costs no allocation.
func Example_receive() {
	frame, _ := hex.DecodeString("8e0a72e4082e02e5b39b30de08004500003cff5040004006af43c6120001c6120002" +
		"b6901f90ee9aa81400000000a002faf08fc90000020405b40402080a8daa36a0000000000103030a")
	eth, err := wire.ParseEthernet(frame)
	if err != nil || eth.EtherType() != wire.EtherTypeIPv4 {
		return
	}
	ip, err := wire.ParseIPv4(eth.Payload())
	if err != nil || ip.Protocol() != wire.ProtoTCP || ip.IsFragment() {
		return
	}
	seg, err := wire.ParseTCP(ip.Payload())
	if err != nil || !seg.ChecksumValid(ip.Src(), ip.Dst()) {
		return
	}
	f := seg.Fields()
	fmt.Println(ip.Src(), "->", ip.Dst(), f.DstPort, f.Flags.Has(wire.FlagSYN), f.Options.MSS, f.Options.WScale)
	// Output: 198.18.0.1 -> 198.18.0.2 8080 true 1460 10
}

// Building a segment: size the buffer with the HeaderLen helpers, emit outer to
// inner, then fill the TCP checksum over header and payload.
func Example_send() {
	src, dst := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.1")
	payload := []byte("hello")
	eth := wire.EthernetFields{Dst: wire.MAC{2, 0, 0, 0, 0, 1}, Src: wire.MAC{2, 0, 0, 0, 0, 2}, EtherType: wire.EtherTypeIPv4}
	tcp := wire.TCPFields{SrcPort: 8080, DstPort: 46736, Seq: 1, Ack: 1, Flags: wire.FlagACK | wire.FlagPSH, Window: 512,
		Options: wire.TCPOptions{HasTimestamp: true, TSVal: 7, TSEcr: 9}}
	tcpLen := wire.TCPHeaderLen(&tcp) + len(payload)
	ip := wire.IPv4Fields{TTL: 64, Protocol: wire.ProtoTCP, DontFragment: true, Src: src, Dst: dst, PayloadLen: tcpLen}

	b := make([]byte, wire.EthernetHeaderLen(&eth)+wire.IPv4HeaderSize+tcpLen)
	n := wire.EmitEthernet(b, &eth)
	n += wire.EmitIPv4(b[n:], &ip)
	seg := b[n:]
	copy(seg[wire.EmitTCP(seg, &tcp):], payload)
	wire.SetTCPChecksum(seg, src, dst)
	fmt.Println(len(b), wire.TCPChecksumValid(seg, src, dst))
	// Output: 71 true
}
