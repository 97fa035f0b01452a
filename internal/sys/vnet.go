package sys

import (
	"encoding/binary"
	"errors"

	"offload/pkt"
)

// The virtio-net header (struct virtio_net_hdr, virtio spec 1.x §5.1.6) that TAP
// with IFF_VNET_HDR and AF_PACKET with PACKET_VNET_HDR put in front of each frame:
//
//	flags u8 | gso_type u8 | hdr_len u16 | gso_size u16 | csum_start u16 | csum_offset u16
//
// Fields are little-endian: TAP uses the host's order unless TUNSETVNETBE is set,
// AF_PACKET always the host's, and every machine this runs on is little-endian.
const VnetHdrLen = 10

// Header flags and GSO types from linux/virtio_net.h.
const (
	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetFlagDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID

	vnetGSONone  = 0
	vnetGSOTCPv4 = 1
	vnetGSOUDP   = 3
	vnetGSOTCPv6 = 4
	vnetGSOECN   = 0x80
)

// Errors for virtio-net headers that do not fit their frame. They are values so
// a driver can count and drop without allocating.
var (
	ErrVnetShort       = errors.New("virtio-net header: shorter than 10 bytes")
	ErrVnetCsumRange   = errors.New("virtio-net header: checksum start/offset outside the frame")
	ErrVnetGSOType     = errors.New("virtio-net header: unsupported GSO type (only TCPv4/TCPv6)")
	ErrVnetGSOSize     = errors.New("virtio-net header: GSO frame with zero segment size")
	ErrVnetGSONoCsum   = errors.New("virtio-net header: GSO frame without a partial checksum")
	ErrVnetGSOTCPRange = errors.New("virtio-net header: GSO frame's TCP header outside the frame")
)

// VnetHdrToMeta decodes the header h that came in front of frame into m (whose
// Checksum, CsumStart, CsumOffset, GSO, GSOSize and Segs it sets). It checks the
// header against the frame so later layers can trust the offsets: a checksum
// location inside the frame, and for a GSO frame a whole TCP header at CsumStart.
// GSO types other than TCP (UDP fragmentation offload, USO) are refused because
// nothing above can split them.
func VnetHdrToMeta(h []byte, frame []byte, m *pkt.Meta) error {
	if len(h) < VnetHdrLen {
		return ErrVnetShort
	}
	flags := h[0]
	gsoType := h[1]
	gsoSize := binary.LittleEndian.Uint16(h[4:])
	csumStart := binary.LittleEndian.Uint16(h[6:])
	csumOffset := binary.LittleEndian.Uint16(h[8:])

	m.Checksum, m.CsumStart, m.CsumOffset = pkt.ChecksumUnknown, 0, 0
	m.GSO, m.GSOSize, m.Segs = pkt.GSONone, 0, 0
	switch {
	case flags&vnetFlagNeedsCsum != 0:
		if int(csumStart)+int(csumOffset)+2 > len(frame) {
			return ErrVnetCsumRange
		}
		m.Checksum, m.CsumStart, m.CsumOffset = pkt.ChecksumPartial, csumStart, csumOffset
	case flags&vnetFlagDataValid != 0:
		m.Checksum = pkt.ChecksumVerified
	}

	switch gsoType &^ vnetGSOECN {
	case vnetGSONone:
		return nil
	case vnetGSOTCPv4:
		m.GSO = pkt.GSOTCPv4
	case vnetGSOTCPv6:
		m.GSO = pkt.GSOTCPv6
	default:
		return ErrVnetGSOType
	}
	if gsoSize == 0 {
		return ErrVnetGSOSize
	}
	if m.Checksum != pkt.ChecksumPartial {
		return ErrVnetGSONoCsum
	}
	// The kernel only builds TCP GSO frames with the checksum at the TCP header,
	// so CsumStart is where TCP begins; its data offset says where payload begins.
	tcp := int(csumStart)
	if tcp+13 > len(frame) {
		return ErrVnetGSOTCPRange
	}
	hdrEnd := tcp + int(frame[tcp+12]>>4)*4
	if hdrEnd < tcp+20 || hdrEnd > len(frame) {
		return ErrVnetGSOTCPRange
	}
	m.GSOSize = gsoSize
	payload := len(frame) - hdrEnd
	segs := (payload + int(gsoSize) - 1) / int(gsoSize)
	if segs < 1 {
		segs = 1
	}
	if segs > 0xffff {
		segs = 0xffff
	}
	m.Segs = uint16(segs)
	return nil
}

// MetaToVnetHdr encodes m as the header h for frame. A GSO frame must have a
// partial checksum whose CsumStart is its TCP header (the form the stack builds);
// hdr_len is set to the end of that TCP header, as the kernel expects.
func MetaToVnetHdr(m *pkt.Meta, frame []byte, h []byte) error {
	if len(h) < VnetHdrLen {
		return ErrVnetShort
	}
	clear(h[:VnetHdrLen])
	switch m.Checksum {
	case pkt.ChecksumPartial:
		if int(m.CsumStart)+int(m.CsumOffset)+2 > len(frame) {
			return ErrVnetCsumRange
		}
		h[0] = vnetFlagNeedsCsum
		binary.LittleEndian.PutUint16(h[6:], m.CsumStart)
		binary.LittleEndian.PutUint16(h[8:], m.CsumOffset)
	case pkt.ChecksumVerified:
		h[0] = vnetFlagDataValid
	}
	switch m.GSO {
	case pkt.GSONone:
		return nil
	case pkt.GSOTCPv4:
		h[1] = vnetGSOTCPv4
	case pkt.GSOTCPv6:
		h[1] = vnetGSOTCPv6
	default:
		return ErrVnetGSOType
	}
	if m.GSOSize == 0 {
		return ErrVnetGSOSize
	}
	if m.Checksum != pkt.ChecksumPartial {
		return ErrVnetGSONoCsum
	}
	tcp := int(m.CsumStart)
	if tcp+13 > len(frame) {
		return ErrVnetGSOTCPRange
	}
	hdrEnd := tcp + int(frame[tcp+12]>>4)*4
	if hdrEnd < tcp+20 || hdrEnd > len(frame) {
		return ErrVnetGSOTCPRange
	}
	binary.LittleEndian.PutUint16(h[2:], uint16(hdrEnd))
	binary.LittleEndian.PutUint16(h[4:], m.GSOSize)
	return nil
}
