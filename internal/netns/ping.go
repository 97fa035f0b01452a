//go:build linux

package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// ICMP message types Ping uses.
const (
	icmpEchoRequest   = 8   // RFC 792
	icmpEchoReply     = 0   // RFC 792
	icmpv6EchoRequest = 128 // RFC 4443 §4.1
	icmpv6EchoReply   = 129 // RFC 4443 §4.2
)

// Ping makes the namespace's kernel send ICMP (or, to an IPv6 address, ICMPv6)
// echo requests to dst, one at a time, until one is answered or timeout
// passes, like `ping -c 1 -w timeout` (no ping binary needed: it uses a raw
// socket opened inside the namespace). It returns the round-trip time of the
// answered request.
//
// The IPv4 reply's checksum is verified here. An ICMPv6 checksum covers a
// pseudo-header with both addresses (RFC 4443 §2.3), so the kernel computes
// it on raw ICMPv6 sockets and drops received messages whose checksum is
// wrong before they reach the socket (RFC 3542 §3.1): a reply that arrives
// had a correct one.
func (h *Host) Ping(dst netip.Addr, timeout time.Duration) (time.Duration, error) {
	if !dst.IsValid() {
		return 0, fmt.Errorf("netns: Ping needs an address")
	}
	dst = dst.Unmap()
	network, wildcard := "ip4:icmp", "0.0.0.0"
	reqType, replyType := byte(icmpEchoRequest), byte(icmpEchoReply)
	if dst.Is6() {
		network, wildcard = "ip6:ipv6-icmp", "::"
		reqType, replyType = icmpv6EchoRequest, icmpv6EchoReply
	}
	var c net.PacketConn
	err := h.Run(func() error {
		var err error
		c, err = net.ListenPacket(network, wildcard)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netns %s: icmp socket: %w", h.name, err)
	}
	defer c.Close()
	id := uint16(os.Getpid())
	deadline := time.Now().Add(timeout)
	to := &net.IPAddr{IP: dst.AsSlice()}
	buf := make([]byte, 1500)
	for seq := uint16(1); time.Now().Before(deadline); seq++ {
		req := echoRequest(reqType, id, seq)
		sent := time.Now()
		if _, err := c.WriteTo(req, to); err != nil {
			return 0, fmt.Errorf("netns %s: send echo to %v: %w", h.name, dst, err)
		}
		// Wait up to 200 ms for this sequence number, then send the next one:
		// the first request is often lost while ARP or NDP resolves.
		wait := min(time.Until(deadline), 200*time.Millisecond)
		c.SetReadDeadline(time.Now().Add(wait))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				return 0, err
			}
			ip, ok := from.(*net.IPAddr)
			if !ok || !ip.IP.Equal(to.IP) || n < 8 || buf[0] != replyType || buf[1] != 0 {
				continue // not an echo reply from dst
			}
			if binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
				if dst.Is4() && inetChecksum(buf[:n]) != 0 {
					return 0, fmt.Errorf("netns %s: echo reply from %v with a bad ICMP checksum", h.name, dst)
				}
				return time.Since(sent), nil
			}
		}
	}
	return 0, fmt.Errorf("netns %s: no echo reply from %v within %v", h.name, dst, timeout)
}

// echoRequest builds an echo request of type typ with its checksum; for
// ICMPv6 the kernel overwrites the checksum with the right one.
func echoRequest(typ byte, id, seq uint16) []byte {
	b := make([]byte, 8+32)
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i)
	}
	binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	return b
}

// inetChecksum is the RFC 1071 Internet checksum.
func inetChecksum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
