// Package interop tests offload against the most trusted TCP there is: the
// Linux kernel's, running in a network namespace, over real links. It holds
// tests only.
//
// Topologies (see rig in rig_test.go):
//   - tap: a TAP interface created in the kernel's namespace, with the kernel's
//     address on it; our stack holds the descriptor, asking for TSO and
//     checksum offload, so the two exchange 64 KiB TCP super-frames with
//     partial checksums in both directions.
//   - afpacket: a veth pair between the kernel's namespace and a second one;
//     our AF_PACKET socket is bound to the second end (whose kernel has no
//     address). The veth keeps its default offloads, so super-frames flow here
//     too, as GSO packets with their metadata.
//
// Every behaviour is checked over both links and, where it matters, with
// either side opening the connection: bulk transfers with SHA-256 each way,
// both at once and eight in parallel; 1,000 short connections one after
// another, 100 at once, 300 at once against a small backlog, and reconnections
// into the server's TIME-WAIT; half-close both ways; RST for closed ports and
// aborts; the peer vanishing mid-transfer (user timeout, retransmission
// limit, keepalive, SYN retries); zero windows both ways; the options the
// kernel negotiated as its TCP_INFO reports them (also with a kernel that
// offers none, and on a 9000-byte MTU); TSO super-frames both ways; kernel
// keepalives and Fast Open SYNs; ping; the kernel forgetting our MAC address
// mid-transfer; and transfers under injected loss, reordering, duplication
// and corruption.
//
// Every test builds its own namespaces (internal/netns) and removes them when
// it ends. The tests need root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and skip,
// saying why, without it; with OFFLOAD_NETNS_REQUIRED=1 they fail instead, so
// a CI job meant to run them cannot pass by skipping.
//
// The bulk transfers move 256 MiB each way by default; OFFLOAD_INTEROP_SIZE
// (bytes, or with a KiB/MiB/GiB suffix) changes that for quick local runs,
// e.g. OFFLOAD_INTEROP_SIZE=32MiB go test -race ./interop. CI runs the full
// size. Tests of known, reported bugs skip with the bug's description;
// OFFLOAD_INTEROP_KNOWN_BUGS=1 makes them fail instead. OFFLOAD_INTEROP_PCAP=DIR
// records every rig's traffic, as our stack sees it, to DIR/<test>.pcapng.
package interop
