// Package stacktest runs the offload stack over link/afxdp against the Linux
// kernel (TCP both ways, and throughput against AF_PACKET and TAP). It is kept
// apart from link/afxdp's own tests so those build and run while the stack is
// being changed.
package stacktest
