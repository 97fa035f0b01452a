// Package wire parses and emits the protocol headers offload speaks: Ethernet and
// 802.1Q, ARP, IPv4, ICMPv4, TCP (with options) and UDP, plus the Internet checksum
// and TCP sequence arithmetic.
//
// Every header follows the same pattern:
//
//   - ParseX(b) is the one door for untrusted bytes. It checks every length once and
//     returns a view X over b, or one of the sentinel errors below. After a successful
//     parse no accessor of X can panic or read outside b. Views alias b; they copy
//     nothing. The zero value of a view is not valid (like a nil pointer): only use
//     views returned by ParseX.
//   - XFields is the header as plain values (the "Repr"). X.Fields() decodes it.
//   - EmitX(b, &f) writes the header into b, which the caller sized with the
//     XHeaderLen helper or constant, and returns the number of bytes written. Emit
//     trusts its input: a too-short b is a programming error and panics.
//
// Nothing here allocates on parse or emit; errors on the hot path are the bare
// sentinels so that dropping a hostile packet costs no garbage.
//
// Beyond the IPv4 set there are IPv6 (fixed header, extension-header walk), ICMPv6,
// NDP neighbor solicitation/advertisement, and IPv4Quote for the datagram quoted in
// ICMPv4 errors.
//
// Untyped constants (EtherType*, Proto*, ICMPv4*, ICMPv6*, TCPOpt*) compare directly
// with the accessors' uint8/uint16 results.
package wire
