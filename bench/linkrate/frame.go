package linkrate

import (
	"net/netip"

	"offload/wire"
)

// FrameSize is the size of the frames Frame builds: the 60 bytes of a
// minimum Ethernet frame without its FCS, the size packet-rate figures
// are usually quoted at.
const FrameSize = 60

// Frame builds a minimum-size Ethernet/IPv4/UDP frame from src to dst
// (MACs) and from to to (IPv4 addresses and ports), with valid IPv4 and UDP
// checksums and a zero payload padding it to FrameSize. Receivers that
// check what they get (a kernel, offload's stack) take it as a real
// datagram.
func Frame(src, dst [6]byte, from, to netip.AddrPort) []byte {
	b := make([]byte, FrameSize)
	n := wire.EmitEthernet(b, &wire.EthernetFields{Dst: dst, Src: src, EtherType: wire.EtherTypeIPv4})
	udpLen := FrameSize - wire.EthernetHeaderSize - wire.IPv4HeaderSize
	n += wire.EmitIPv4(b[n:], &wire.IPv4Fields{
		TTL: 64, Protocol: wire.ProtoUDP, DontFragment: true,
		Src: from.Addr(), Dst: to.Addr(), PayloadLen: udpLen,
	})
	dgram := b[n:]
	wire.EmitUDP(dgram, &wire.UDPFields{SrcPort: from.Port(), DstPort: to.Port(), Length: uint16(udpLen)})
	wire.SetUDPChecksum(dgram, from.Addr(), to.Addr())
	return b
}
