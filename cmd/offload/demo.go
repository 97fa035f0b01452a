package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"offload"
	"offload/bench"
	"offload/internal/sys"
	"offload/link/pipe"
	"offload/tcp"
)

// demoTCP is the TCP configuration the demo's offload stacks use (nil: defaults).
var demoTCP *tcp.Config

// demoNoGRO turns the demo's offload stacks' receive aggregation off.
var demoNoGRO bool

// demoResult is one row of the demo's table.
type demoResult struct {
	name     string
	bulk     bench.BulkResult
	lat      bench.LatencyResult
	bulkErr  error
	latError error
}

func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	size := fs.Int64("size", 128<<20, "bytes to send in the bulk transfer")
	rounds := fs.Int("requests", 5000, "request/response round trips to time")
	msg := fs.Int("msg", 64, "request and response size in bytes")
	mtu := fs.Int("mtu", 1500, "MTU of the in-memory link")
	busy := fs.Duration("busy-poll", 0, "keep the stack polling this long after each packet instead of sleeping (e.g. 50us): lower latency, more CPU")
	tcpBuf := fs.Int("tcp-buffer", 0, "offload's TCP send and receive buffer size in bytes (0: the default)")
	noGRO := fs.Bool("no-gro", false, "turn offload's receive aggregation off (to compare)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole demo to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	demoNoGRO = *noGRO
	demoTCP = nil
	if *tcpBuf > 0 {
		c := tcp.DefaultConfig()
		c.SendBufferSize, c.RecvBufferSize = *tcpBuf, *tcpBuf
		demoTCP = &c
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := demoPrivileges(); err != nil {
		fmt.Printf("Not root (%v): running the in-memory demo, two offload stacks over link/pipe.\n", firstLine(err))
		return runInMemoryDemo(*size, *rounds, *msg, *mtu, *busy)
	}
	fmt.Println("Running offload against the Linux kernel in network namespaces (198.18.0.0/15), and kernel against kernel over the same veth.")
	var created cleanups
	defer onInterrupt(&created)()
	rows, err := demoKernel(&created, *size, *rounds, *msg, *busy)
	printKernelDemo(os.Stdout, rows, *msg)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if e := r.failed(); e != nil {
			return fmt.Errorf("%s: %w", r.path, e)
		}
		if !r.up.Verified || !r.down.Verified {
			return fmt.Errorf("%s: SHA-256 of the transferred bytes did not match", r.path)
		}
	}
	return nil
}

// demoPrivileges says what the kernel demo lacks: namespaces and veth pairs
// need CAP_SYS_ADMIN and CAP_NET_ADMIN, the AF_PACKET and AF_XDP sockets
// CAP_NET_RAW.
func demoPrivileges() error {
	var missing []string
	for _, c := range []struct {
		cap  int
		what string
	}{
		{sys.CapSysAdmin, "CAP_SYS_ADMIN (network namespaces)"},
		{sys.CapNetAdmin, "CAP_NET_ADMIN (veth pairs, TAP devices, addresses)"},
		{sys.CapNetRaw, "CAP_NET_RAW (AF_PACKET and AF_XDP sockets)"},
	} {
		if !sys.HasCapability(c.cap) {
			missing = append(missing, c.what)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("the kernel demo needs root; missing %s. Run it as root (sudo offload demo) to see offload against the kernel",
		strings.Join(missing, ", "))
}

// cleanups are what the kernel demo created and must remove, also when it
// is interrupted: its measurements block in calls that cannot be cancelled,
// so a signal handler removes these and ends the process.
type cleanups struct {
	mu sync.Mutex
	fs []func()
}

// add registers f; run calls it once, newest first.
func (c *cleanups) add(f func()) {
	c.mu.Lock()
	c.fs = append(c.fs, f)
	c.mu.Unlock()
}

func (c *cleanups) run() {
	c.mu.Lock()
	fs := c.fs
	c.fs = nil
	c.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// onInterrupt makes SIGINT and SIGTERM run c and end the process with
// 128+signal, saying so on stderr; the returned function stops that.
func onInterrupt(c *cleanups) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "\noffload demo: %v: removing the network namespaces it created\n", s)
			c.run()
			code := 130
			if s == syscall.SIGTERM {
				code = 143
			}
			os.Exit(code)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

func firstLine(err error) string {
	s := err.Error()
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

func runInMemoryDemo(size int64, rounds, msg, mtu int, busy time.Duration) error {
	var rows []demoResult
	r, err := demoInMemory(size, rounds, msg, mtu, busy)
	if err != nil {
		return err
	}
	rows = append(rows, r)
	k, err := demoKernelLoopback(size, rounds, msg)
	if err != nil {
		return err
	}
	rows = append(rows, k)
	printDemo(os.Stdout, rows, msg)
	for _, r := range rows {
		if r.bulkErr != nil || r.latError != nil || !r.bulk.Verified {
			return fmt.Errorf("%s: a transfer failed or its SHA-256 did not match", r.name)
		}
	}
	return nil
}

// demoInMemory runs both workloads between two offload stacks joined by a pipe.
func demoInMemory(size int64, rounds, msg, mtu int, busy time.Duration) (demoResult, error) {
	res := demoResult{name: fmt.Sprintf("offload ↔ offload (link/pipe, MTU %d, TSO)", mtu)}
	// Offloads on, like loopback or a veth with TSO: TCP hands the link super-
	// segments and leaves checksums to it (nothing in memory corrupts them).
	a, b := pipe.New(pipe.Config{MTU: mtu, GSO: true, TxChecksumOffload: true, RxChecksumTrusted: true})
	client, err := offload.New(offload.Options{Link: a, Addr: netip.MustParsePrefix("198.18.0.1/24"), BusyPoll: busy, TCP: demoTCP, NoGRO: demoNoGRO})
	if err != nil {
		return res, err
	}
	defer client.Close()
	server, err := offload.New(offload.Options{Link: b, Addr: netip.MustParsePrefix("198.18.0.2/24"), BusyPoll: busy, TCP: demoTCP, NoGRO: demoNoGRO})
	if err != nil {
		return res, err
	}
	defer server.Close()
	res.bulk, res.bulkErr, res.lat, res.latError = runWorkloads(res.name, size, rounds, msg,
		func(addr string) (net.Listener, error) { return server.Listen("tcp", addr) },
		func(addr string) (net.Conn, error) { return client.Dial("tcp", addr) },
		"198.18.0.2")
	return res, nil
}

// demoKernelLoopback runs the same workloads over the kernel's loopback, for scale.
func demoKernelLoopback(size int64, rounds, msg int) (demoResult, error) {
	res := demoResult{name: "kernel ↔ kernel (loopback, for scale)"}
	res.bulk, res.bulkErr, res.lat, res.latError = runWorkloads(res.name, size, rounds, msg,
		func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) },
		func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) },
		"127.0.0.1")
	return res, nil
}

func runWorkloads(name string, size int64, rounds, msg int,
	listen func(string) (net.Listener, error), dial func(string) (net.Conn, error), host string,
) (bench.BulkResult, error, bench.LatencyResult, error) {
	var bulk bench.BulkResult
	var lat bench.LatencyResult
	sinkLn, err := listen(host + ":5001")
	if err != nil {
		return bulk, err, lat, err
	}
	defer sinkLn.Close()
	go bench.Sink(sinkLn)
	echoLn, err := listen(host + ":5002")
	if err != nil {
		return bulk, err, lat, err
	}
	defer echoLn.Close()
	go bench.Echo(echoLn)

	bulkErr := func() error {
		var err error
		bulk, err = verifiedThenTimed(name, func() (net.Conn, error) { return dial(sinkLn.Addr().String()) }, size)
		return err
	}()
	fmt.Printf("%s: %d round trips of %d bytes\n", name, rounds, msg)
	latErr := func() error {
		c, err := dial(echoLn.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		lat, err = bench.RequestResponse(c, msg, rounds/10, rounds)
		return err
	}()
	return bulk, bulkErr, lat, latErr
}

func printDemo(w io.Writer, rows []demoResult, msg int) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "path\tbulk Gbit/s\tSHA-256\t%d-byte RTT p50\tp99\t\n", msg)
	for _, r := range rows {
		bulk, sum := "failed", "—"
		if r.bulkErr == nil {
			bulk = fmt.Sprintf("%.2f", r.bulk.Gbps())
			sum = map[bool]string{true: "equal", false: "DIFFERENT"}[r.bulk.Verified]
		}
		p50, p99 := "failed", "failed"
		if r.latError == nil {
			p50, p99 = fmtDur(r.lat.Percentile(50)), fmtDur(r.lat.Percentile(99))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.name, bulk, sum, p50, p99)
	}
	tw.Flush()
	for _, r := range rows {
		if r.bulkErr != nil {
			fmt.Fprintf(w, "%s: bulk transfer: %v\n", r.name, r.bulkErr)
		}
		if r.latError != nil {
			fmt.Fprintf(w, "%s: request/response: %v\n", r.name, r.latError)
		}
	}
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func printKernelDemo(w io.Writer, rows []kernelRow, msg int) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "path\tto kernel Gbit/s\tfrom kernel Gbit/s\tSHA-256\t%d-byte RTT p50\tp99\t\n", msg)
	for _, r := range rows {
		gb := func(b bench.BulkResult, err error) string {
			if err != nil {
				return "failed"
			}
			return fmt.Sprintf("%.2f", b.Gbps())
		}
		sum := "equal"
		if r.upE != nil || r.downE != nil {
			sum = "—"
		} else if !r.up.Verified || !r.down.Verified {
			sum = "DIFFERENT"
		}
		p50, p99 := "failed", "failed"
		if r.lE == nil {
			p50, p99 = fmtDur(r.lat.Percentile(50)), fmtDur(r.lat.Percentile(99))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.path, gb(r.up, r.upE), gb(r.down, r.downE), sum, p50, p99)
	}
	tw.Flush()
	for _, r := range rows {
		if e := r.failed(); e != nil {
			fmt.Fprintf(w, "%s: %v\n", r.path, e)
		}
	}
	fmt.Fprintln(w, "For kernel ↔ kernel, \"to kernel\" is A → B and \"from kernel\" is B → A.")
}
