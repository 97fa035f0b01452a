package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"offload"
	"offload/bench"
	"offload/internal/netns"
	"offload/link/afpacket"
	"offload/link/choose"
	"offload/link/tap"
)

// benchParams size one run of `offload bench`.
type benchParams struct {
	bulkBytes   int64         // the one-flow timed transfer, each way
	flowBytes   int64         // each flow of the eight-flow transfers
	flows       int           // flows of the multi-flow scenario
	checkBytes  int64         // the SHA-256-checked transfer, each way
	rounds      int           // timed request/response round trips
	loadConns   int           // connections of the saturating-load request/response
	loadRounds  int           // timed round trips per connection under load
	msg         int           // request and response size
	cpsDuration time.Duration // how long to open connections for...
	cpsMax      int           // ...or until this many were opened
	repeats     int           // bulk and connection-rate runs; the median counts
	busy        time.Duration // offload's BusyPoll
	idleConns   int           // connections of the idle-memory scenario (0: skip it)
	groBytes    int64         // received per aggregation on/off run (0: skip them)
	groRepeats  int
	linkRate    time.Duration // each link's packet-rate run per direction (0: skip them)
	timeout     time.Duration // a deadline for every connection, so nothing hangs
}

func quickBenchParams() benchParams {
	return benchParams{bulkBytes: 256 << 20, flowBytes: 32 << 20, flows: 8, checkBytes: 8 << 20,
		idleConns: 20000, groBytes: 64 << 20, groRepeats: 1, linkRate: 200 * time.Millisecond,
		rounds: 5000, loadConns: 16, loadRounds: 500, msg: 64, cpsDuration: time.Second, cpsMax: 5000, repeats: 1, timeout: 60 * time.Second}
}

func fullBenchParams() benchParams {
	return benchParams{bulkBytes: 1 << 30, flowBytes: 128 << 20, flows: 8, checkBytes: 64 << 20,
		idleConns: 100000, groBytes: 512 << 20, groRepeats: 3, linkRate: time.Second,
		rounds: 50000, loadConns: 16, loadRounds: 5000, msg: 64, cpsDuration: 2 * time.Second, cpsMax: 8000, repeats: 3, timeout: 120 * time.Second}
}

// Scenario IDs; the JSON uses them.
const (
	scBulk1Up   = "bulk1-up"
	scBulk1Down = "bulk1-down"
	scBulkNUp   = "bulkN-up"
	scBulkNDown = "bulkN-down"
	scRRp50     = "rr-p50"
	scRRp99     = "rr-p99"
	scRRp999    = "rr-p99.9"
	scLoadP50   = "rrload-p50"
	scLoadP99   = "rrload-p99"
	scLoadP999  = "rrload-p99.9"
	scLoadRate  = "rrload-rate"
	scCPS       = "cps"
	scIdleMem   = "idle-mem"
)

func benchScenarios(p benchParams) []bench.Scenario {
	return []bench.Scenario{
		{ID: scBulk1Up, Title: "1 flow →", Unit: "Gbit/s", HigherIsBetter: true},
		{ID: scBulk1Down, Title: "1 flow ←", Unit: "Gbit/s", HigherIsBetter: true},
		{ID: scBulkNUp, Title: fmt.Sprintf("%d flows →", p.flows), Unit: "Gbit/s", HigherIsBetter: true},
		{ID: scBulkNDown, Title: fmt.Sprintf("%d flows ←", p.flows), Unit: "Gbit/s", HigherIsBetter: true},
		{ID: scRRp50, Title: fmt.Sprintf("%dB RR p50", p.msg), Unit: "µs"},
		{ID: scRRp99, Title: "p99", Unit: "µs"},
		{ID: scRRp999, Title: "p99.9", Unit: "µs"},
		{ID: scLoadP50, Title: fmt.Sprintf("%d conns RR p50", p.loadConns), Unit: "µs"},
		{ID: scLoadP99, Title: "p99", Unit: "µs"},
		{ID: scLoadP999, Title: "p99.9", Unit: "µs"},
		{ID: scLoadRate, Title: "RR rate", Unit: "k/s", HigherIsBetter: true},
		{ID: scCPS, Title: "connect+RR+close", Unit: "conn/s", HigherIsBetter: true},
		{ID: scIdleMem, Title: "idle conn memory", Unit: "B", HigherIsBetter: false},
	}
}

// Configuration names: the table's rows.
const (
	cfgKernel     = "kernel↔kernel veth"
	cfgTAP        = "offload↔kernel TAP"
	cfgAFPacket   = "offload↔kernel AF_PACKET"
	cfgAFXDP      = "offload↔kernel AF_XDP"
	cfgOffload    = "offload↔offload AF_PACKET"
	cfgAFXDPNoGRO = "offload↔kernel AF_XDP no gro"
	// gVisor's netstack on the same links as offload's TAP and AF_PACKET.
	cfgGvisorTAP      = "gVisor↔kernel TAP"
	cfgGvisorAFPacket = "gVisor↔kernel AF_PACKET"
	nameWidth         = 26
)

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "small sizes and counts: under two minutes on a 2-core machine")
	jsonPath := fs.String("json", "", "write every number, with the machine's facts, to this JSON file")
	svgPath := fs.String("svg", "", "draw each scenario as a ratio to kernel↔kernel into this SVG file (default with --doc: benchmarks.svg beside it)")
	docPath := fs.String("doc", "", "write a Markdown page with the machine, the table, the chart and how to rerun (e.g. docs/BENCHMARKS.md)")
	busy := fs.Duration("busy-poll", 0, "offload's busy polling after each packet (e.g. 50us); 0 is the stack's default, sleeping")
	from := fs.String("from", "", "measure nothing: read the results from this JSON file (--json of an earlier run) and write --svg and --doc from them (no root needed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *docPath != "" && *svgPath == "" {
		*svgPath = filepath.Join(filepath.Dir(*docPath), "benchmarks.svg")
	}
	if *from != "" {
		f, err := os.Open(*from)
		if err != nil {
			return err
		}
		rep, err := bench.ReadJSON(f)
		f.Close()
		if err != nil {
			return err
		}
		return writeBenchFiles(rep, *jsonPath, *svgPath, *docPath)
	}
	if err := netns.CheckPrivileges(); err != nil {
		fmt.Fprintln(os.Stderr, "offload bench needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): it builds network namespaces, veth pairs and TAP devices for the kernel peers.")
		return fmt.Errorf("%w; rerun as root, e.g. sudo offload bench --quick", netns.ErrNotPrivileged)
	}
	p := fullBenchParams()
	if *quick {
		p = quickBenchParams()
	}
	p.busy = *busy
	rep := newBenchReport(p, benchCommand(*quick, *jsonPath, *svgPath, *docPath, *busy))
	start := time.Now()
	err := benchAll(rep, p, os.Stdout, os.Stderr)
	fmt.Fprintf(os.Stderr, "finished in %s\n", time.Since(start).Round(time.Second))
	if werr := writeBenchFiles(rep, *jsonPath, *svgPath, *docPath); werr != nil {
		return errors.Join(err, werr)
	}
	if err != nil {
		return err
	}
	if f := rep.Failures(); len(f) > 0 {
		return fmt.Errorf("%d measurement(s) failed, first: %s", len(f), f[0])
	}
	return nil
}

func benchCommand(quick bool, jsonPath, svgPath, docPath string, busy time.Duration) string {
	s := "offload bench"
	if quick {
		s += " --quick"
	}
	if busy > 0 {
		s += " --busy-poll " + busy.String()
	}
	for _, f := range [][2]string{{"--json", jsonPath}, {"--svg", svgPath}, {"--doc", docPath}} {
		if f[1] != "" {
			s += " " + f[0] + " " + f[1]
		}
	}
	return s
}

func newBenchReport(p benchParams, command string) *bench.Report {
	return &bench.Report{
		Machine:   bench.ThisMachine(),
		Command:   command,
		Baseline:  cfgKernel,
		Configs:   []string{cfgKernel, cfgTAP, cfgAFPacket, cfgGvisorTAP, cfgGvisorAFPacket, cfgAFXDP, cfgAFXDPNoGRO, cfgOffload},
		Scenarios: benchScenarios(p),
		Settings: map[string]float64{
			"bulk_bytes_one_flow":    float64(p.bulkBytes),
			"bulk_bytes_per_flow":    float64(p.flowBytes),
			"flows":                  float64(p.flows),
			"sha256_checked_bytes":   float64(p.checkBytes),
			"rr_round_trips":         float64(p.rounds),
			"rrload_connections":     float64(p.loadConns),
			"rrload_rounds_per_conn": float64(p.loadRounds),
			"idle_connections":       float64(p.idleConns),
			"aggregation_run_bytes":  float64(p.groBytes),
			"aggregation_repeats":    float64(p.groRepeats),
			"link_rate_seconds":      p.linkRate.Seconds(),
			"rr_message_bytes":       float64(p.msg),
			"cps_seconds":            p.cpsDuration.Seconds(),
			"cps_max_connections":    float64(p.cpsMax),
			"repeats":                float64(p.repeats),
			"offload_busy_poll_usec": float64(p.busy.Microseconds()),
		},
		Notes: []string{
			"→ is from the configuration's first party to its second (offload to the kernel; kernel A to kernel B), ← the other way. " +
				"Both ends run in network namespaces on this machine, so sender and receiver share its cores.",
			"Bulk: timed transfers without hashing (bench.Throughput, the receiver counts the bytes); before them one SHA-256-checked transfer each way per configuration (bench.Bulk).",
			"Request/response: one connection, one outstanding request (low load), the first party asking and the second echoing.",
			"Request/response under load: rrload_connections connections at once, each with one request outstanding back to back (a closed loop that saturates the stacks), " +
				"the first party asking; percentiles over every round trip of every connection, and the rate they made together in thousands per second.",
			"Connections per second: the first party connects, sends one request, reads the reply and closes, one connection at a time, for the given time or count.",
			"offload↔offload runs two offload stacks on the two ends of a second veth pair, each through AF_PACKET.",
			"offload's TAP and AF_PACKET devices are multi-queue, one queue (and owner goroutine) per CPU: the kernel spreads the flows it sends over the queues (TAP's IFF_MULTI_QUEUE, AF_PACKET's PACKET_FANOUT by flow hash). AF_XDP on the veth has one queue here.",
			"offload↔kernel AF_XDP no gro is the AF_XDP configuration with receive aggregation (package gro) off; the receive aggregation section measures aggregation on every link.",
			"Idle connection memory: idle_connections connections from kernel clients (child processes in the peer namespace) to the configuration's first party, " +
				"each moving a byte each way and then idle; bytes per connection of the server side, as each configuration's note below says. " +
				"Not measured for gVisor (its own process), offload↔offload and the no-gro row (the same stack as AF_XDP).",
			"gVisor↔kernel runs gVisor's netstack (gvisor.dev/gvisor, bench/gvisorpeer, its own Go module) as a separate process in the namespace, " +
				"on the same TAP device setup and the same veth end as offload, through gVisor's fdbased link endpoint; it runs the same offload/bench workloads. " +
				"Its options follow runsc's defaults where they apply: received checksums trusted (rx-checksum-offload), on AF_PACKET host GSO through PACKET_VNET_HDR " +
				"and 4 MiB socket buffers; gVisor's software GRO on; TCP with SACK, cubic, no Nagle, the kernel's tcp_rmem with receive-buffer moderation, " +
				"and the kernel's tcp_wmem maximum as a fixed send buffer (gVisor does not grow send buffers). fdbased reads a TAP descriptor without a virtio-net header, " +
				"so over TAP gVisor exchanges MTU-sized frames with the kernel both ways (no TSO).",
			"AF_XDP runs last on its veth. On a veth it attaches in generic mode (afxdp.AttachAuto): native XDP would turn off TSO on the kernel's side of the veth, " +
				"so the kernel would cut what it sends into MTU-sized frames in software (a kernel sender reached offload at 4.9 Gbit/s native against 6.8 generic). " +
				"AF_XDP transmit takes no GSO metadata, so offload's own super-segments go out cut to the MTU either way.",
			"AF_PACKET uses a TPACKET_V2 ring of 2 KiB slots, handed over frame by frame; larger frames (the kernel's TSO super-frames) come whole through the socket (PACKET_COPY_THRESH). " +
				"The TPACKET_V3 block ring (afpacket.Config.Blocks) would put a 1 ms floor (its block retire timeout) under a quiet connection's round trip.",
			"Bulk and connection-rate numbers are the median of the repeats setting's runs (all runs are in the JSON); latency percentiles come from one run of rr_round_trips round trips after a tenth as many untimed ones.",
		},
	}
}

func writeBenchFiles(rep *bench.Report, jsonPath, svgPath, docPath string) error {
	write := func(path string, f func(w io.Writer) error) error {
		if path == "" {
			return nil
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		var b bytes.Buffer
		if err := f(&b); err != nil {
			return err
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
		return nil
	}
	var errs []error
	errs = append(errs, write(jsonPath, rep.WriteJSON))
	errs = append(errs, write(svgPath, rep.SVG))
	errs = append(errs, write(docPath, func(w io.Writer) error {
		ref := ""
		if svgPath != "" {
			if r, err := filepath.Rel(filepath.Dir(docPath), svgPath); err == nil {
				ref = filepath.ToSlash(r)
			} else {
				ref = svgPath
			}
		}
		rep.Document(w, ref)
		return nil
	}))
	return errors.Join(errs...)
}

// bparty is one end of a benchmark configuration: a stack at an address that
// serves and runs the client side of every workload.
type bparty struct {
	name string
	addr netip.Addr
	partyWork
}

// partyWork runs the workloads where a party's stack lives: in this process
// (localParty: the kernel through its namespace, or offload) or in another
// process (gVisor, see bench_gvisor.go). Addresses are ADDR:PORT.
type partyWork interface {
	// serve listens on addr and serves bench.Sink ("sink") or bench.Echo ("echo").
	serve(addr, kind string) (io.Closer, error)
	// verify sends size bytes to a Sink with bench.Bulk (SHA-256 checked).
	verify(addr string, size int64, seed uint64, timeout time.Duration) (bench.BulkResult, error)
	// flows is timedFlows from this party.
	flows(addr string, n int, size int64, timeout time.Duration, progress io.Writer) (bench.BulkResult, error)
	// requestResponse is bench.RequestResponse to an Echo server.
	requestResponse(addr string, msg, warmup, rounds int, timeout time.Duration) (bench.LatencyResult, error)
	// loadedRR is bench.RequestResponseLoaded over conns connections to an Echo server.
	loadedRR(addr string, conns, msg, warmup, rounds int, timeout time.Duration) (bench.LoadedResult, error)
	// connections is connectionRate from this party.
	connections(addr string, p benchParams) (n int, el time.Duration, err error)
}

// localParty is a stack in this process. run executes f where the party's
// sockets live (inside its namespace for the kernel), so a loop of dials pays
// for entering the namespace once; dialHere must be called from inside run.
type localParty struct {
	listen   func(addr string) (net.Listener, error)
	run      func(f func() error) error
	dialHere func(addr string) (net.Conn, error)
}

func (p localParty) dial(addr string) (c net.Conn, err error) {
	err = p.run(func() error { c, err = p.dialHere(addr); return err })
	return c, err
}

func (p localParty) serve(addr, kind string) (io.Closer, error) {
	ln, err := p.listen(addr)
	if err != nil {
		return nil, err
	}
	if kind == "sink" {
		go bench.Sink(ln)
	} else {
		go bench.Echo(ln)
	}
	return ln, nil
}

func (p localParty) verify(addr string, size int64, seed uint64, timeout time.Duration) (bench.BulkResult, error) {
	c, err := p.dial(addr)
	if err != nil {
		return bench.BulkResult{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	return bench.Bulk(c, size, seed, nil)
}

func (p localParty) flows(addr string, n int, size int64, timeout time.Duration, progress io.Writer) (bench.BulkResult, error) {
	return timedFlows(p, addr, n, size, timeout, progress)
}

func (p localParty) requestResponse(addr string, msg, warmup, rounds int, timeout time.Duration) (bench.LatencyResult, error) {
	c, err := p.dial(addr)
	if err != nil {
		return bench.LatencyResult{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	return bench.RequestResponse(c, msg, warmup, rounds)
}

func (p localParty) loadedRR(addr string, n, msg, warmup, rounds int, timeout time.Duration) (bench.LoadedResult, error) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(timeout)
	err := p.run(func() error {
		for range n {
			c, err := p.dialHere(addr)
			if err != nil {
				return err
			}
			c.SetDeadline(deadline)
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		return bench.LoadedResult{}, err
	}
	return bench.RequestResponseLoaded(conns, msg, warmup, rounds)
}

func (p localParty) connections(addr string, bp benchParams) (int, time.Duration, error) {
	return connectionRate(p, addr, bp)
}

func kernelBParty(h *netns.Host, addr netip.Addr) bparty {
	return bparty{name: "kernel", addr: addr, partyWork: localParty{
		listen: func(a string) (ln net.Listener, err error) {
			err = h.Run(func() error { ln, err = net.Listen("tcp4", a); return err })
			return ln, err
		},
		run:      h.Run,
		dialHere: func(a string) (net.Conn, error) { return net.DialTimeout("tcp4", a, 5*time.Second) },
	}}
}

func offloadBParty(st *offload.Stack, addr netip.Addr) bparty {
	return bparty{name: "offload", addr: addr, partyWork: localParty{
		listen:   func(a string) (net.Listener, error) { return st.Listen("tcp", a) },
		run:      func(f func() error) error { return f() },
		dialHere: func(a string) (net.Conn, error) { return st.Dial("tcp", a) },
	}}
}

// benchConfig builds one configuration's two parties; close releases what
// setup made (stacks and their devices).
type benchConfig struct {
	name  string
	setup func() (a, b bparty, close func(), err error)
	// idleClients, if set, is the namespace whose kernel opens the idle
	// connections to a (the idle-memory scenario); unset, it is not measured.
	idleClients *netns.Host
}

// benchAll builds the namespaces, runs every configuration in turn, prints
// each row to table as it completes and progress to progress, and removes
// everything it made. A configuration that cannot be set up gets failed
// results and the run goes on.
func benchAll(rep *bench.Report, p benchParams, table, progress io.Writer) error {
	if err := netns.RemoveLeftovers(); err != nil {
		fmt.Fprintf(progress, "note: could not remove leftovers of an earlier run: %v\n", err)
	}
	pair, err := netns.CreatePair(netns.PairConfig{Name: "bench", AddrB: vethKernel, DisableIPv6: true})
	if err != nil {
		return fmt.Errorf("creating the network namespaces: %w", err)
	}
	defer pair.Close()
	// A second, address-free veth for two offload stacks: no kernel on it
	// answers or resets anything.
	pair2, err := netns.CreatePair(netns.PairConfig{Name: "bench2", DisableIPv6: true})
	if err != nil {
		return fmt.Errorf("creating the network namespaces: %w", err)
	}
	defer pair2.Close()
	// Ctrl-C must not leave namespaces behind (the next run would remove
	// them, but nothing else would).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() { signal.Stop(sig); close(done) }()
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(progress, "\n%v: removing the network namespaces and stopping\n", s)
			pair2.Close()
			pair.Close()
			os.Exit(130)
		case <-done:
		}
	}()
	for _, h := range []*netns.Host{pair.A, pair.B} {
		// Connection-rate runs leave a TIME-WAIT per connection on the side
		// that closes first: give the kernel ports enough and let it reuse them.
		if err := h.Sysctl("net.ipv4.ip_local_port_range", "10000 65000"); err != nil {
			return err
		}
		if err := h.Sysctl("net.ipv4.tcp_tw_reuse", "1"); err != nil {
			return err
		}
	}
	if err := pair.A.AddAddr(pair.IfA, vethKernelA); err != nil {
		return err
	}
	kB := kernelBParty(pair.B, vethKernel.Addr())
	var gvisor gvisorBuilder
	defer gvisor.remove()
	withGvisor := func(config string, start func() (*gvisorPeer, error), addr netip.Addr, peer bparty) (bparty, bparty, func(), error) {
		g, err := start()
		if err != nil {
			return bparty{}, bparty{}, nil, err
		}
		fmt.Fprintf(progress, "  %s\n", g.describe)
		rep.Notes = append(rep.Notes, config+" in this run: "+g.describe+".")
		closeFn := func() {
			// Its memory after the run, for comparison with offload's.
			if kib, err := g.rss(); err == nil {
				fmt.Fprintf(progress, "  gVisor peer's resident memory: %d MiB\n", kib>>10)
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: the gVisor process's resident memory after the run was %d MiB.", config, kib>>10))
			}
			g.close()
		}
		return bparty{name: "gVisor", addr: addr, partyWork: g}, peer, closeFn, nil
	}
	withStack := func(open func() (offload.Options, error), peer bparty) (bparty, bparty, func(), error) {
		opts, err := open()
		if err != nil {
			return bparty{}, bparty{}, nil, err
		}
		opts.BusyPoll = p.busy
		// The idle-memory scenario holds idleConns connections at once.
		opts.MaxConns = max(opts.MaxConns, p.idleConns+1024)
		st, err := offload.New(opts)
		if err != nil {
			opts.Link.Close()
			return bparty{}, bparty{}, nil, err
		}
		return offloadBParty(st, opts.Addr.Addr()), peer, func() { st.Close() }, nil
	}
	openAFXDP := func() (offload.Options, error) {
		d, how, err := choose.Open(pair.IfA, pair.A.Path(), choose.AFXDP, vethOffload.Addr())
		if err != nil {
			return offload.Options{}, fmt.Errorf("opening AF_XDP on %s: %w", pair.IfA, err)
		}
		fmt.Fprintf(progress, "  %s\n", how)
		if note := "AF_XDP in this run: " + strings.TrimPrefix(how, "link: AF_XDP ") + "."; !slices.Contains(rep.Notes, note) {
			rep.Notes = append(rep.Notes, note)
		}
		return offload.Options{Link: d, Addr: vethOffload}, nil
	}
	configs := []benchConfig{
		{name: cfgKernel, setup: func() (bparty, bparty, func(), error) {
			return kernelBParty(pair.A, vethKernelA.Addr()), kB, func() {}, nil
		}, idleClients: pair.B},
		{name: cfgTAP, idleClients: pair.B, setup: func() (bparty, bparty, func(), error) {
			return withStack(func() (offload.Options, error) {
				td, err := tap.Open(tap.Config{Name: "offl-bench0", Netns: pair.B.Path(), TSO: true, Queues: min(runtime.NumCPU(), 16)})
				if err != nil {
					return offload.Options{}, fmt.Errorf("opening TAP: %w", err)
				}
				if err := pair.B.AddAddr(td.IfName(), tapKernel); err != nil {
					td.Close()
					return offload.Options{}, err
				}
				return offload.Options{Link: td, Addr: tapOffload}, nil
			}, kernelBParty(pair.B, tapKernel.Addr()))
		}},
		{name: cfgAFPacket, idleClients: pair.B, setup: func() (bparty, bparty, func(), error) {
			return withStack(func() (offload.Options, error) {
				d, err := afpacket.Open(afpacket.Config{Interface: pair.IfA, Netns: pair.A.Path(), Queues: min(runtime.NumCPU(), 16)})
				if err != nil {
					return offload.Options{}, fmt.Errorf("opening AF_PACKET on %s: %w", pair.IfA, err)
				}
				return offload.Options{Link: d, Addr: vethOffload}, nil
			}, kB)
		}},
		{name: cfgGvisorTAP, setup: func() (bparty, bparty, func(), error) {
			return withGvisor(cfgGvisorTAP, func() (*gvisorPeer, error) {
				return gvisorOnTAP(&gvisor, pair.B, tapOffload, tapKernel)
			}, tapOffload.Addr(), kernelBParty(pair.B, tapKernel.Addr()))
		}},
		{name: cfgGvisorAFPacket, setup: func() (bparty, bparty, func(), error) {
			return withGvisor(cfgGvisorAFPacket, func() (*gvisorPeer, error) {
				return gvisorOnAFPacket(&gvisor, pair.A, pair.IfA, vethOffload)
			}, vethOffload.Addr(), kB)
		}},
		{name: cfgAFXDP, idleClients: pair.B, setup: func() (bparty, bparty, func(), error) {
			return withStack(openAFXDP, kB)
		}},
		{name: cfgAFXDPNoGRO, setup: func() (bparty, bparty, func(), error) {
			return withStack(func() (offload.Options, error) {
				o, err := openAFXDP()
				o.NoGRO = true
				return o, err
			}, kB)
		}},
		{name: cfgOffload, setup: func() (bparty, bparty, func(), error) {
			addrA := netip.MustParsePrefix("198.18.2.1/24")
			addrB := netip.MustParsePrefix("198.18.2.2/24")
			openOn := func(h *netns.Host, ifname string, addr netip.Prefix) func() (offload.Options, error) {
				return func() (offload.Options, error) {
					d, err := afpacket.Open(afpacket.Config{Interface: ifname, Netns: h.Path()})
					if err != nil {
						return offload.Options{}, fmt.Errorf("opening AF_PACKET on %s: %w", ifname, err)
					}
					return offload.Options{Link: d, Addr: addr}, nil
				}
			}
			b, _, closeB, err := withStack(openOn(pair2.B, pair2.IfB, addrB), bparty{})
			if err != nil {
				return bparty{}, bparty{}, nil, err
			}
			a, _, closeA, err := withStack(openOn(pair2.A, pair2.IfA, addrA), bparty{})
			if err != nil {
				closeB()
				return bparty{}, bparty{}, nil, err
			}
			return a, b, func() { closeA(); closeB() }, nil
		}},
	}
	rep.TableHeader(table, nameWidth)
	// The kernel server's idle memory is measured last: it needs the kernel
	// client sockets' own cost, which an offload server's run measures.
	var clientKernel float64
	var kernelIdle func()
	for i, c := range configs {
		fmt.Fprintf(progress, "[%d/%d] %s\n", i+1, len(configs), c.name)
		a, b, closeFn, err := c.setup()
		if err != nil {
			fmt.Fprintf(progress, "  setup failed: %v\n", err)
			for _, s := range rep.Scenarios {
				rep.Add(bench.Result{Config: c.name, Scenario: s.ID, Error: "setup: " + err.Error()})
			}
			rep.TableRow(table, nameWidth, c.name)
			continue
		}
		measureBenchConfig(rep, c.name, a, b, p, progress)
		switch {
		case c.idleClients == nil || p.idleConns <= 0:
		case c.name == cfgKernel:
			kernelIdle = func() { measureIdle(rep, c.name, a, c.idleClients, p.idleConns, clientKernel, progress) }
		default:
			if r, ok := measureIdle(rep, c.name, a, c.idleClients, p.idleConns, 0, progress); ok && clientKernel == 0 {
				clientKernel = r.KernelPerConn
			}
		}
		closeFn()
		rep.TableRow(table, nameWidth, c.name)
	}
	if kernelIdle != nil {
		fmt.Fprintf(progress, "[idle memory] %s\n", cfgKernel)
		kernelIdle()
		fmt.Fprintf(table, "\nAll configurations, with %s's idle memory:\n", cfgKernel)
		rep.TableHeader(table, nameWidth)
		for _, c := range configs {
			rep.TableRow(table, nameWidth, c.name)
		}
	}
	if p.groBytes > 0 {
		fmt.Fprintf(table, "\nReceive aggregation on and off, a kernel sender in its own process:\n")
		err := aggregationBench(rep, groParams{bytes: p.groBytes, repeats: p.groRepeats, timeout: p.timeout, tcpBuf: groTCPBuffer}, table, progress)
		if err != nil {
			fmt.Fprintf(progress, "aggregation runs: %v\n", err)
			rep.AggregationNotes = append(rep.AggregationNotes, "The aggregation runs failed: "+err.Error())
		}
	}
	if p.linkRate > 0 {
		fmt.Fprintf(table, "\nLink packet rates, 60-byte frames, one queue (× against %s; for CPU, its ns/frame over the link's):\n", linkRateBaselineTitle())
		linkRateBench(rep, p.linkRate, table, progress)
	}
	return nil
}

// measureIdle runs the idle-memory scenario with server as the server and
// adds its cell; the note says what it counted.
func measureIdle(rep *bench.Report, config string, server bparty, clients *netns.Host, n int, clientKernel float64, progress io.Writer) (idleResult, bool) {
	fmt.Fprintf(progress, "  %d idle connections\n", n)
	r, err := idleConnMemory(server, clients, n, clientKernel, progress)
	res := bench.Result{Config: config, Scenario: scIdleMem, Samples: int64(n)}
	if err != nil {
		fmt.Fprintf(progress, "FAILED: %v\n", err)
		res.Error = err.Error()
		rep.Add(res)
		return r, false
	}
	fmt.Fprintf(progress, "  %s\n", r.idleSummary())
	res.Value = r.PerConn
	rep.Add(res)
	if r.Note != "" {
		rep.Notes = append(rep.Notes, config+", idle connection memory: "+r.Note)
	}
	return r, true
}

// measureBenchConfig runs every scenario between a (the client, →'s sender)
// and b on one configuration.
func measureBenchConfig(rep *bench.Report, config string, a, b bparty, p benchParams, progress io.Writer) {
	fail := func(ids []string, err error) {
		for _, id := range ids {
			rep.Add(bench.Result{Config: config, Scenario: id, Error: err.Error()})
		}
	}
	sinkA, errA := startServer(a, sinkPort, "sink")
	sinkB, errB := startServer(b, sinkPort, "sink")
	echoB, errE := startServer(b, echoPort, "echo")
	for _, ln := range []io.Closer{sinkA, sinkB, echoB} {
		if ln != nil {
			defer ln.Close()
		}
	}
	if err := errors.Join(errA, errB, errE); err != nil {
		fmt.Fprintf(progress, "  listening: %v\n", err)
		fail([]string{scBulk1Up, scBulk1Down, scBulkNUp, scBulkNDown, scRRp50, scRRp99, scRRp999, scLoadP50, scLoadP99, scLoadP999, scLoadRate, scCPS}, err)
		return
	}
	sinkAddr := func(x bparty) string { return netip.AddrPortFrom(x.addr, uint16(sinkPort)).String() }

	type dir struct {
		one, many string
		from, to  bparty
		arrow     string
		verified  bool
		verifyErr error
	}
	dirs := []*dir{{one: scBulk1Up, many: scBulkNUp, from: a, to: b, arrow: "→"}, {one: scBulk1Down, many: scBulkNDown, from: b, to: a, arrow: "←"}}
	for _, d := range dirs {
		fmt.Fprintf(progress, "  SHA-256 check %s %s ", d.arrow, sizeStr(p.checkBytes))
		v, err := d.from.verify(sinkAddr(d.to), p.checkBytes, uint64(p.checkBytes)^0x5eed, p.timeout)
		d.verified = err == nil && v.Verified
		if err == nil && !v.Verified {
			err = errors.New("SHA-256 of the received bytes differs from the sent bytes'")
		}
		d.verifyErr = err
		fmt.Fprintln(progress, okOr(err, "equal"))
	}
	bulk := func(id, what string, from, to bparty, flows int, size int64, verifyErr error) {
		var runs []float64
		var out bench.Result
		for i := range max(1, p.repeats) {
			fmt.Fprintf(progress, "  %s ", what)
			if p.repeats > 1 {
				fmt.Fprintf(progress, "(%d/%d) ", i+1, p.repeats)
			}
			res, err := from.flows(sinkAddr(to), flows, size, p.timeout, progress)
			fmt.Fprintf(progress, " %s\n", okOr(err, fmt.Sprintf("%.2f Gbit/s", res.Gbps())))
			r := bulkResult(config, id, res, errors.Join(err, verifyErr))
			if r.Error != "" {
				out = r
				break
			}
			runs = append(runs, r.Value)
			out = r
		}
		if out.Error == "" && len(runs) > 1 {
			out.Value, out.Runs = bench.Median(runs), runs
		}
		rep.Add(out)
	}
	for _, d := range dirs {
		bulk(d.one, fmt.Sprintf("1 flow %s %s", d.arrow, sizeStr(p.bulkBytes)), d.from, d.to, 1, p.bulkBytes, d.verifyErr)
	}
	for _, d := range dirs {
		bulk(d.many, fmt.Sprintf("%d flows %s %s each", p.flows, d.arrow, sizeStr(p.flowBytes)), d.from, d.to, p.flows, p.flowBytes, d.verifyErr)
	}

	fmt.Fprintf(progress, "  %d round trips of %d bytes ", p.rounds, p.msg)
	lat, err := a.requestResponse(netip.AddrPortFrom(b.addr, uint16(echoPort)).String(), p.msg, p.rounds/10, p.rounds, p.timeout)
	for _, q := range []struct {
		id  string
		pct float64
	}{{scRRp50, 50}, {scRRp99, 99}, {scRRp999, 99.9}} {
		r := bench.Result{Config: config, Scenario: q.id, Samples: int64(len(lat.Samples))}
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Value = float64(lat.Percentile(q.pct)) / float64(time.Microsecond)
		}
		rep.Add(r)
	}
	fmt.Fprintln(progress, okOr(err, fmt.Sprintf("p50 %s, p99 %s", fmtDur(lat.Percentile(50)), fmtDur(lat.Percentile(99)))))

	fmt.Fprintf(progress, "  %d connections at once, %d round trips each ", p.loadConns, p.loadRounds)
	load, err := a.loadedRR(netip.AddrPortFrom(b.addr, uint16(echoPort)).String(), p.loadConns, p.msg, p.loadRounds/10, p.loadRounds, p.timeout)
	for _, q := range []struct {
		id  string
		pct float64
	}{{scLoadP50, 50}, {scLoadP99, 99}, {scLoadP999, 99.9}, {scLoadRate, -1}} {
		r := bench.Result{Config: config, Scenario: q.id, Samples: int64(len(load.Samples))}
		switch {
		case err != nil:
			r.Error = err.Error()
		case q.pct < 0:
			r.Value = load.RequestsPerSecond() / 1000
		default:
			r.Value = float64(load.Percentile(q.pct)) / float64(time.Microsecond)
		}
		rep.Add(r)
	}
	fmt.Fprintln(progress, okOr(err, fmt.Sprintf("p50 %s, p99 %s, %.0f requests/s", fmtDur(load.Percentile(50)), fmtDur(load.Percentile(99)), load.RequestsPerSecond())))

	var runs []float64
	var r bench.Result
	for i := range max(1, p.repeats) {
		fmt.Fprintf(progress, "  connections for %s (at most %d) ", p.cpsDuration, p.cpsMax)
		if p.repeats > 1 {
			fmt.Fprintf(progress, "(%d/%d) ", i+1, p.repeats)
		}
		n, el, err := a.connections(netip.AddrPortFrom(b.addr, uint16(echoPort)).String(), p)
		r = bench.Result{Config: config, Scenario: scCPS, Samples: r.Samples + int64(n)}
		if el > 0 {
			r.Value = float64(n) / el.Seconds()
		}
		fmt.Fprintln(progress, okOr(err, fmt.Sprintf("%d in %s: %.0f/s", n, el.Round(time.Millisecond), r.Value)))
		if err != nil {
			r.Error = fmt.Sprintf("after %d connections: %v", n, err)
			break
		}
		runs = append(runs, r.Value)
	}
	if r.Error == "" && len(runs) > 1 {
		r.Value, r.Runs = bench.Median(runs), runs
	}
	rep.Add(r)
}

func okOr(err error, ok string) string {
	if err != nil {
		return "FAILED: " + err.Error()
	}
	return ok
}

func bulkResult(config, id string, res bench.BulkResult, err error) bench.Result {
	r := bench.Result{Config: config, Scenario: id, Value: res.Gbps(), Samples: res.Bytes, Verified: err == nil && res.Verified}
	if err == nil && !res.Verified {
		err = errors.New("the receiver counted fewer bytes than were sent")
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

func startServer(p bparty, port int, kind string) (io.Closer, error) {
	ln, err := p.serve(netip.AddrPortFrom(p.addr, uint16(port)).String(), kind)
	if err != nil {
		return nil, fmt.Errorf("%s listening on port %d: %w", p.name, port, err)
	}
	return ln, nil
}

// timedFlows opens n connections from client to a Sink at addr, then sends
// size bytes on each at once (bench.Throughput); the result is all bytes over
// the time from the start to the last receiver's count, Verified only if
// every receiver counted every byte. Progress prints a dot per tenth of the
// total.
func timedFlows(client localParty, addr string, n int, size int64, timeout time.Duration, progress io.Writer) (bench.BulkResult, error) {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	err := client.run(func() error {
		for range n {
			c, err := client.dialHere(addr)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		return bench.BulkResult{}, err
	}
	return bench.Flows(conns, size, timeout, func() { fmt.Fprint(progress, ".") })
}

// connectionRate is bench.ConnectionRate from client to an Echo server at
// addr, for p.cpsDuration or p.cpsMax connections.
func connectionRate(client localParty, addr string, p benchParams) (n int, el time.Duration, err error) {
	err = client.run(func() error {
		n, el, err = bench.ConnectionRate(func() (net.Conn, error) { return client.dialHere(addr) }, p.msg, p.cpsDuration, p.cpsMax)
		return err
	})
	return n, el, err
}

// sizeStr says a byte count in MiB, or KiB below one MiB.
func sizeStr(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
