package peer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"offload/pkt"
)

// IsTCPData matches IPv4 TCP frames to port that carry payload.
func IsTCPData(port uint16) func(Frame) bool {
	return func(f Frame) bool {
		_, s, ok := ParseTCP(f.Data)
		return ok && s.DstPort == port && len(s.Payload) > 0
	}
}

// CheckSuperFrame checks that a kernel TCP super-frame and its Meta agree: GSO
// TCPv4 with segment size mss, a partial checksum at the TCP checksum field
// that holds the pseudo-header sum (virtio-net semantics), and a segment count
// that covers the payload.
func CheckSuperFrame(f Frame, mss int) error {
	m := f.Meta
	if len(f.Data) <= 1514 {
		return fmt.Errorf("frame of %d bytes: the kernel did not hand over a super-frame (meta %+v)", len(f.Data), m)
	}
	if m.GSO != pkt.GSOTCPv4 || int(m.GSOSize) != mss {
		return fmt.Errorf("meta %+v: want GSO TCPv4 with size %d", m, mss)
	}
	ip, s, ok := ParseTCP(f.Data)
	if !ok {
		return errors.New("super-frame's IPv4/TCP headers do not parse")
	}
	if m.Checksum != pkt.ChecksumPartial || m.CsumStart != 34 || m.CsumOffset != 16 {
		return fmt.Errorf("meta %+v: want a partial checksum at 34+16", m)
	}
	if got, want := binary.BigEndian.Uint16(f.Data[50:]), ^PseudoHeaderChecksum(ip.Src, ip.Dst, len(ip.Payload)); got != want {
		return fmt.Errorf("checksum field %#04x, want pseudo-header sum %#04x", got, want)
	}
	if want := (len(s.Payload) + mss - 1) / mss; int(m.Segs) != want {
		return fmt.Errorf("meta says %d segments for %d payload bytes of MSS %d, want %d", m.Segs, len(s.Payload), mss, want)
	}
	return nil
}

// Connect opens a TCP connection by hand from the peer (port sport) to a
// kernel listening on dst:dport behind dstMAC, announcing MSS 1460, and
// returns the next sequence numbers (ours, theirs).
func (p *Peer) Connect(dstMAC [6]byte, dst netip.Addr, sport, dport uint16) (uint32, uint32, error) {
	const iss = 7000
	mss := []byte{2, 4, 0x05, 0xb4}
	p.Send(TCP(p.MAC, dstMAC, p.IP, dst, Segment{
		SrcPort: sport, DstPort: dport, Seq: iss, Flags: SYN, Window: 65535, Options: mss}))
	f, ok := p.Next(3*time.Second, func(f Frame) bool {
		_, s, ok := ParseTCP(f.Data)
		return ok && s.DstPort == sport && s.Flags&(SYN|ACK) == SYN|ACK
	})
	if !ok {
		return 0, 0, errors.New("peer: no SYN-ACK from the kernel")
	}
	_, sa, _ := ParseTCP(f.Data)
	if sa.Ack != iss+1 {
		return 0, 0, fmt.Errorf("SYN-ACK acks %d, want %d", sa.Ack, iss+1)
	}
	p.Send(TCP(p.MAC, dstMAC, p.IP, dst, Segment{
		SrcPort: sport, DstPort: dport, Seq: iss + 1, Ack: sa.Seq + 1, Flags: ACK, Window: 65535}))
	return iss + 1, sa.Seq + 1, nil
}
