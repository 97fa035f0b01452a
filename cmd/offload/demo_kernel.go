package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"offload"
	"offload/bench"
	"offload/internal/netns"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/choose"
	"offload/link/tap"
)

// The kernel-peer demo's addresses, all inside namespaces it creates.
var (
	vethKernel   = netip.MustParsePrefix("198.18.0.2/24") // the kernel peer, namespace B
	vethOffload  = netip.MustParsePrefix("198.18.0.1/24") // offload over AF_PACKET on A's veth end
	vethKernelA  = netip.MustParsePrefix("198.18.0.3/24") // the kernel in A, for kernel ↔ kernel
	tapKernel    = netip.MustParsePrefix("198.18.1.2/24") // the kernel's side of the TAP device
	tapOffload   = netip.MustParsePrefix("198.18.1.1/24") // offload on the TAP descriptor
	sinkPort     = 5001
	echoPort     = 5002
	demoNameVeth = "demo"
)

// party is one end of a measurement: something that can listen and dial.
type party struct {
	name   string
	addr   netip.Addr
	listen func(addr string) (net.Listener, error)
	dial   func(addr string) (net.Conn, error)
}

func kernelParty(name string, h *netns.Host, addr netip.Addr) party {
	return party{
		name: name, addr: addr,
		listen: func(a string) (ln net.Listener, err error) {
			err = h.Run(func() error { ln, err = net.Listen("tcp4", a); return err })
			return ln, err
		},
		dial: func(a string) (c net.Conn, err error) {
			err = h.Run(func() error { c, err = net.DialTimeout("tcp4", a, 5*time.Second); return err })
			return c, err
		},
	}
}

func offloadParty(name string, st *offload.Stack, addr netip.Addr) party {
	return party{
		name: name, addr: addr,
		listen: func(a string) (net.Listener, error) { return st.Listen("tcp", a) },
		dial:   func(a string) (net.Conn, error) { return st.Dial("tcp", a) },
	}
}

// kernelRow measures one path: bulk from a to b, bulk from b to a, and a's
// requests answered by b's echo server.
type kernelRow struct {
	path           string
	up, down       bench.BulkResult
	lat            bench.LatencyResult
	upE, downE, lE error
}

func measure(path string, a, b party, size int64, rounds, msg int) kernelRow {
	r := kernelRow{path: path}
	fmt.Printf("%s\n", path)
	r.up, r.upE = bulkBetween(fmt.Sprintf("  %s → %s", a.name, b.name), a, b, size)
	r.down, r.downE = bulkBetween(fmt.Sprintf("  %s → %s", b.name, a.name), b, a, size)
	fmt.Printf("  %d round trips of %d bytes\n", rounds, msg)
	r.lat, r.lE = rrBetween(a, b, rounds, msg)
	return r
}

// bulkBetween checks integrity with a SHA-256 transfer, then times a
// transfer of size bytes from client to a Sink on server without hashing (so
// the hash does not set the pace).
func bulkBetween(label string, client, server party, size int64) (bench.BulkResult, error) {
	addr := netip.AddrPortFrom(server.addr, uint16(sinkPort)).String()
	ln, err := server.listen(addr)
	if err != nil {
		return bench.BulkResult{}, err
	}
	defer ln.Close()
	go bench.Sink(ln)
	return verifiedThenTimed(label, func() (net.Conn, error) { return client.dial(addr) }, size)
}

// verifiedThenTimed runs a SHA-256-checked transfer of up to 32 MiB, then the
// timed one; the result is the timed one, Verified only if both checked out.
func verifiedThenTimed(label string, dial func() (net.Conn, error), size int64) (bench.BulkResult, error) {
	check := min(size, 32<<20)
	c, err := dial()
	if err != nil {
		return bench.BulkResult{}, err
	}
	v, err := bench.Bulk(c, check, uint64(size), nil)
	c.Close()
	if err != nil {
		return v, fmt.Errorf("integrity transfer: %w", err)
	}
	c, err = dial()
	if err != nil {
		return bench.BulkResult{}, err
	}
	defer c.Close()
	fmt.Printf("%s: %d MiB SHA-256 %s, then %d MiB timed ", label, check>>20, map[bool]string{true: "equal", false: "DIFFERENT"}[v.Verified], size>>20)
	next := size / 10
	res, err := bench.Throughput(c, size, func(sent int64) {
		for sent >= next && next <= size {
			fmt.Print(".")
			next += size / 10
		}
	})
	fmt.Println()
	res.Verified = res.Verified && v.Verified
	res.Hashed = v.Hashed
	return res, err
}

func rrBetween(client, server party, rounds, msg int) (bench.LatencyResult, error) {
	addr := netip.AddrPortFrom(server.addr, uint16(echoPort)).String()
	ln, err := server.listen(addr)
	if err != nil {
		return bench.LatencyResult{}, err
	}
	defer ln.Close()
	go bench.Echo(ln)
	c, err := client.dial(addr)
	if err != nil {
		return bench.LatencyResult{}, err
	}
	defer c.Close()
	return bench.RequestResponse(c, msg, rounds/10, rounds)
}

// demoKernel runs offload against the Linux kernel in network namespaces, and
// kernel against kernel over the same veth for comparison.
func demoKernel(created *cleanups, size int64, rounds, msg int, busy time.Duration) ([]kernelRow, error) {
	if err := netns.RemoveLeftovers(); err != nil {
		fmt.Fprintf(os.Stderr, "note: could not remove leftovers of an earlier run: %v\n", err)
	}
	pair, err := netns.CreatePair(netns.PairConfig{Name: demoNameVeth, AddrB: vethKernel, DisableIPv6: true})
	if err != nil {
		return nil, fmt.Errorf("creating the network namespaces: %w", err)
	}
	defer pair.Close()
	created.add(func() { pair.Close() }) // the TAP device and AF_XDP's program go with the namespaces
	var rows []kernelRow

	// kernel ↔ kernel over the veth: the kernel in A gets its own address.
	if err := pair.A.AddAddr(pair.IfA, vethKernelA); err != nil {
		return nil, err
	}
	kA := kernelParty("kernel", pair.A, vethKernelA.Addr())
	kB := kernelParty("kernel", pair.B, vethKernel.Addr())
	rows = append(rows, measure("kernel ↔ kernel (veth)", kA, kB, size, rounds, msg))

	// offload on A's veth end through AF_PACKET, the kernel in B.
	dev, err := afpacket.Open(afpacket.Config{Interface: pair.IfA, Netns: pair.A.Path()})
	if err != nil {
		return rows, fmt.Errorf("opening AF_PACKET on %s: %w", pair.IfA, err)
	}
	row, err := measureOffload("offload ↔ kernel (veth, AF_PACKET)", dev, vethOffload, kB, size, rounds, msg, busy)
	if err != nil {
		return rows, err
	}
	rows = append(rows, row)

	// offload on a TAP device whose kernel side lives in B (before AF_XDP,
	// whose native mode, if it is used, turns off TSO on the veth peer).
	td, err := tap.Open(tap.Config{Name: "offl-demo0", Netns: pair.B.Path(), TSO: true})
	if err != nil {
		return rows, fmt.Errorf("opening TAP: %w", err)
	}
	if err := pair.B.AddAddr(td.IfName(), tapKernel); err != nil {
		td.Close()
		return rows, err
	}
	kT := kernelParty("kernel", pair.B, tapKernel.Addr())
	row, err = measureOffload("offload ↔ kernel (TAP, vnet hdr + TSO)", td, tapOffload, kT, size, rounds, msg, busy)
	if err != nil {
		return rows, err
	}
	rows = append(rows, row)

	// offload on A's veth end through AF_XDP (falling back to AF_PACKET, said
	// in one line, where AF_XDP cannot be used). On a veth it attaches in
	// generic mode; last anyway, since native XDP would turn off TSO on the
	// kernel's side of the veth.
	xd, how, err := choose.Open(pair.IfA, pair.A.Path(), choose.AFXDP, vethOffload.Addr())
	if err != nil {
		return rows, fmt.Errorf("opening AF_XDP on %s: %w", pair.IfA, err)
	}
	fmt.Println(how)
	row, err = measureOffload(fmt.Sprintf("offload ↔ kernel (veth, %s)", linkName(how)), xd, vethOffload, kB, size, rounds, msg, busy)
	if err != nil {
		return rows, err
	}
	rows = append(rows, row)
	return rows, nil
}

// linkName shortens choose's one-line explanation to the link's name.
func linkName(how string) string {
	for _, l := range []string{"AF_XDP", "AF_PACKET", "TAP"} {
		if strings.Contains(how, "link: "+l) {
			return l
		}
	}
	return how
}

func measureOffload(path string, dev link.Device, addr netip.Prefix, kernel party, size int64, rounds, msg int, busy time.Duration) (kernelRow, error) {
	st, err := offload.New(offload.Options{Link: dev, Addr: addr, BusyPoll: busy, TCP: demoTCP, NoGRO: demoNoGRO})
	if err != nil {
		dev.Close()
		return kernelRow{}, err
	}
	defer st.Close()
	return measure(path, offloadParty("offload", st, addr.Addr()), kernel, size, rounds, msg), nil
}

func (r kernelRow) failed() error {
	return errors.Join(r.upE, r.downE, r.lE)
}
