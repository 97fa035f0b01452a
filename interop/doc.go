// Package interop tests offload against the most trusted TCP there is: the
// Linux kernel's, running in a network namespace, over real links (link/tap and
// link/afpacket). It holds tests only.
//
// Every test builds its own namespaces (internal/netns) and removes them when it
// ends. The tests need root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and skip,
// saying why, without it; with OFFLOAD_NETNS_REQUIRED=1 they fail instead, so a
// CI job meant to run them cannot pass by skipping.
//
// The bulk transfers move 256 MiB each way by default;
// OFFLOAD_INTEROP_SIZE (bytes, or with a KiB/MiB/GiB suffix) shrinks them for
// quick local runs. CI runs the full size.
package interop
