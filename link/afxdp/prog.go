//go:build linux

package afxdp

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf/asm"
)

// Offsets in struct xdp_md (include/uapi/linux/bpf.h).
const (
	mdData         = 0
	mdDataEnd      = 4
	mdRxQueueIndex = 16
)

// XDP verdicts.
const xdpPass = 2

// maxAddrs bounds the program's size: each address costs a few instructions
// per protocol, and the verifier walks every path.
const maxAddrs = 64

// ne32/ne16 turn wire bytes into the value a native-endian BPF load of them
// yields, so the program compares loaded words with constants without
// byte-swapping at run time.
func ne32(b []byte) int32 { return int32(binary.NativeEndian.Uint32(b)) }
func ne16(b []byte) int32 { return int32(binary.NativeEndian.Uint16(b)) }

// program returns the XDP program's instructions. It hands to the XSKMAP
// entry of the receiving queue (bpf_redirect_map keyed by rx_queue_index) the
// frames meant for the stack, and returns XDP_PASS for everything else, so
// the host keeps the interface:
//
//   - IPv4 whose destination is one of addrs;
//   - ARP (request or reply) whose target protocol address is one of addrs;
//   - IPv6 whose destination is one of addrs;
//   - NDP neighbour solicitations (RFC 4861 §7.2.2) sent to the solicited-node
//     multicast group whose target is one of addrs (other solicitations to
//     the same group, for the host's addresses, stay with the host).
//
// all redirects every frame (the interface then belongs to the stack).
// A queue without a socket in the map falls back to XDP_PASS (the low bits
// of bpf_redirect_map's flags are the verdict on a miss).
//
// Frames are untagged Ethernet; 802.1Q frames go to the host. Every load is
// preceded by a bounds check against data_end that the verifier accepts
// (pointer plus constant compared with data_end). In multi-buffer mode the
// first buffer always holds the headers looked at here (at most 78 bytes).
func program(mapFD int, addrs []netip.Addr, all bool, miss int32) (asm.Instructions, error) {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case a.Is4():
			v4 = append(v4, a)
		case a.Is6():
			v6 = append(v6, a)
		default:
			return nil, fmt.Errorf("afxdp: address %v is not IPv4 or IPv6", a)
		}
	}
	if len(addrs) > maxAddrs {
		return nil, fmt.Errorf("afxdp: %d addresses: at most %d", len(addrs), maxAddrs)
	}
	if !all && len(addrs) == 0 {
		return nil, fmt.Errorf("afxdp: no addresses to steer to the stack: set Config.Addrs (or Config.RedirectAll to take every frame)")
	}
	const (
		ctx  = asm.R6
		data = asm.R2
		end  = asm.R3
		ptr  = asm.R4
		val  = asm.R5
	)
	var p asm.Instructions
	emit := func(ins ...asm.Instruction) { p = append(p, ins...) }
	// need n: fall through only if data+n <= data_end.
	need := func(n int32) {
		emit(asm.Mov.Reg(ptr, data), asm.Add.Imm(ptr, n), asm.JGT.Reg(ptr, end, "pass"))
	}
	emit(asm.Mov.Reg(ctx, asm.R1))
	if !all {
		emit(
			asm.LoadMem(data, ctx, mdData, asm.Word),
			asm.LoadMem(end, ctx, mdDataEnd, asm.Word),
		)
		need(14)
		emit(asm.LoadMem(val, data, 12, asm.Half))
		if len(v4) > 0 {
			emit(
				asm.JEq.Imm32(val, ne16([]byte{0x08, 0x00}), "ipv4"),
				asm.JEq.Imm32(val, ne16([]byte{0x08, 0x06}), "arp"),
			)
		}
		if len(v6) > 0 {
			emit(asm.JEq.Imm32(val, ne16([]byte{0x86, 0xdd}), "ipv6"))
		}
		emit(asm.Ja.Label("pass"))
		// match4 redirects when the 32-bit word at off is one of v4.
		match4 := func(off int16) {
			emit(asm.LoadMem(val, data, off, asm.Word))
			for _, a := range v4 {
				b := a.As4()
				emit(asm.JEq.Imm32(val, ne32(b[:]), "redirect"))
			}
			emit(asm.Ja.Label("pass"))
		}
		if len(v4) > 0 {
			// IPv4 destination: Ethernet 14 + offset 16.
			p = append(p, asm.Mov.Reg(ptr, data).WithSymbol("ipv4"))
			emit(asm.Add.Imm(ptr, 34), asm.JGT.Reg(ptr, end, "pass"))
			match4(30)
			// ARP target protocol address: Ethernet 14 + offset 24.
			p = append(p, asm.Mov.Reg(ptr, data).WithSymbol("arp"))
			emit(asm.Add.Imm(ptr, 42), asm.JGT.Reg(ptr, end, "pass"))
			match4(38)
		}
		if len(v6) > 0 {
			// match6 redirects when the 16 bytes at off are one of v6.
			label := 0
			match6 := func(off int16) {
				for _, a := range v6 {
					b := a.As16()
					next := fmt.Sprintf("next%d", label)
					label++
					for w := range 4 {
						emit(asm.LoadMem(val, data, off+int16(4*w), asm.Word))
						if w < 3 {
							emit(asm.JNE.Imm32(val, ne32(b[4*w:]), next))
						} else {
							emit(asm.JEq.Imm32(val, ne32(b[4*w:]), "redirect"))
						}
					}
					p = append(p, asm.Mov.Imm(val, 0).WithSymbol(next))
				}
			}
			p = append(p, asm.Mov.Reg(ptr, data).WithSymbol("ipv6"))
			emit(asm.Add.Imm(ptr, 54), asm.JGT.Reg(ptr, end, "pass"))
			match6(38) // IPv6 destination: Ethernet 14 + offset 24
			// Solicited-node multicast ff02::1:ffXX:XXXX (RFC 4291 §2.7.1).
			emit(
				asm.LoadMem(val, data, 38, asm.Word),
				asm.JNE.Imm32(val, ne32([]byte{0xff, 0x02, 0, 0}), "pass"),
				asm.LoadMem(val, data, 42, asm.Word),
				asm.JNE.Imm32(val, 0, "pass"),
				asm.LoadMem(val, data, 46, asm.Word),
				asm.JNE.Imm32(val, ne32([]byte{0, 0, 0, 1}), "pass"),
				asm.LoadMem(val, data, 50, asm.Byte),
				asm.JNE.Imm32(val, 0xff, "pass"),
				asm.LoadMem(val, data, 20, asm.Byte), // next header
				asm.JNE.Imm32(val, 58, "pass"),       // ICMPv6
			)
			need(14 + 40 + 24)
			emit(
				asm.LoadMem(val, data, 54, asm.Byte),
				asm.JNE.Imm32(val, 135, "pass"), // neighbour solicitation
			)
			match6(62) // its target address
			emit(asm.Ja.Label("pass"))
		}
	}
	p = append(p, asm.LoadMem(asm.R2, ctx, mdRxQueueIndex, asm.Word).WithSymbol("redirect"))
	emit(
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.Mov.Imm(asm.R3, miss),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	)
	if !all { // with all, nothing jumps here, and the verifier refuses dead code
		p = append(p, asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"))
		emit(asm.Return())
	}
	return p, nil
}
