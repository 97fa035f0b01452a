package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"offload/internal/netns"
)

// Memory per idle connection (issue 7): the server under test accepts n
// connections from the kernel, each moves one byte each way (so every buffer
// was used once, as on a real server between requests), and then all sit
// idle while the memory they cost is measured. The client half runs in child
// processes (idle-client below) so its memory is never the server's: for an
// offload server the bench process holds only the server side; for a kernel
// server the kernel holds both sides, and the client's share is taken out as
// described in idleResult.Note. A kernel server's sockets are held by child
// processes too (idle-server), since one process may hold too few
// descriptors for 100,000 of them.

// idlePortBase is the first server port; idleConnsPerPort connections go to
// each (a kernel client has about 55,000 ephemeral ports per destination in
// the bench namespaces: ip_local_port_range 10000-65000).
const (
	idlePortBase     = 5100
	idleConnsPerPort = 25000
)

// idleResult is one configuration's idle-connection memory.
type idleResult struct {
	Conns int
	// PerConn is the memory one idle server-side connection costs, in bytes,
	// all counted: for an offload server, this process's resident memory
	// (VmRSS) growth; for a kernel server, the kernel's share (see Note) plus
	// the VmRSS growth of the processes holding the sockets (Go net.Conn
	// objects).
	PerConn float64
	// RSSPerConn is the server processes' VmRSS growth per connection, and
	// HeapPerConn their Go heap in use (HeapInuse) growth, after a collection.
	RSSPerConn, HeapPerConn float64
	// KernelPerConn is the kernel memory per connection in the slab caches
	// that grew by at least one object per two connections (/proc/slabinfo:
	// objects times their size in the slab pages); KernelCaches names them
	// with their bytes per connection. With an offload server it is the kernel
	// client sockets alone; with a kernel server it is both ends.
	KernelPerConn float64
	KernelCaches  string
	// SlabPerConn is the cruder machine-wide growth of /proc/meminfo Slab, and
	// TCPMemPerConn that of the pages charged to TCP sockets (sockstat's TCP
	// mem: an accounting of buffer memory, not more memory), per connection.
	SlabPerConn, TCPMemPerConn float64
	// Open is how long opening (and the one-byte exchange on) all n took.
	Open time.Duration
	// Note says exactly what PerConn counts, for the report.
	Note string
}

// memSnapshot is what idleConnMemory reads before and after.
type memSnapshot struct {
	rss, heap      uint64 // bytes
	slab, tcpPages uint64 // bytes, pages
	caches         map[string]slabCache
}

// slabCache is one line of /proc/slabinfo: objects in use and the memory
// each takes in its slab pages (object size plus its share of the slack).
type slabCache struct {
	active uint64
	perObj float64
}

// readSlabinfo reads /proc/slabinfo (root only).
func readSlabinfo() (map[string]slabCache, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return nil, err
	}
	m := make(map[string]slabCache)
	for line := range strings.Lines(string(b)) {
		// name active_objs num_objs objsize objperslab pagesperslab : ...
		f := strings.Fields(line)
		if len(f) < 6 || strings.HasPrefix(f[0], "#") || f[0] == "slabinfo" {
			continue
		}
		active, err1 := strconv.ParseUint(f[1], 10, 64)
		perSlab, err2 := strconv.ParseUint(f[4], 10, 64)
		pages, err3 := strconv.ParseUint(f[5], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || perSlab == 0 {
			continue
		}
		m[f[0]] = slabCache{active: active, perObj: float64(pages*uint64(os.Getpagesize())) / float64(perSlab)}
	}
	return m, nil
}

// socketCaches returns the memory of the slab caches that grew by at least
// one object per two connections between a and b (the objects every
// connection has: the socket, its inode, file, dentry, epoll entry...), per
// connection, with a description of the largest. Caches that moved less are
// other activity on the machine and are left out, and so are procfs inodes
// (proc_inode_cache): they are made when something lists the processes'
// descriptors under /proc (a monitor did on the machine measured), not by
// the sockets; the description mentions them.
func socketCaches(a, b map[string]slabCache, n int) (float64, string) {
	type part struct {
		name  string
		bytes float64
	}
	var parts []part
	total := 0.0
	for name, cb := range b {
		ca := a[name]
		if cb.active < ca.active+uint64(n/2) {
			continue
		}
		v := float64(cb.active-ca.active) * cb.perObj / float64(n)
		if name == "proc_inode_cache" {
			parts = append(parts, part{name + " (not counted)", v})
			continue
		}
		parts = append(parts, part{name, v})
		total += v
	}
	slices.SortFunc(parts, func(x, y part) int { return cmp.Compare(y.bytes, x.bytes) })
	var desc []string
	for _, p := range parts {
		desc = append(desc, fmt.Sprintf("%s %.0f", p.name, p.bytes))
	}
	return total, strings.Join(desc, ", ")
}

// takeSnapshot collects garbage, returns freed memory to the OS and reads
// the counters. Two collections: the TCP buffer pools (sync.Pool) keep what
// was put in them through one collection and drop it at the next.
func takeSnapshot() (memSnapshot, error) {
	var s memSnapshot
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heap = ms.HeapInuse
	var err error
	if s.rss, err = procKiB("/proc/self/status", "VmRSS:"); err != nil {
		return s, err
	}
	if s.slab, err = procKiB("/proc/meminfo", "Slab:"); err != nil {
		return s, err
	}
	s.rss <<= 10
	s.slab <<= 10
	if s.tcpPages, err = sockstatTCPMem(); err != nil {
		return s, err
	}
	s.caches, err = readSlabinfo()
	return s, err
}

// procKiB reads the "kB" value of the line starting with key.
func procKiB(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseUint(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %q line", path, key)
}

// sockstatTCPMem returns the pages the kernel has charged to TCP sockets:
// the "mem" field of sockstat's TCP line. It is one machine-wide counter
// (tcp_memory_allocated), whatever namespace reads it.
func sockstatTCPMem() (uint64, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			if f[i] == "mem" {
				return strconv.ParseUint(f[i+1], 10, 64)
			}
		}
	}
	return 0, errors.New("/proc/net/sockstat: no TCP mem field")
}

// raiseNoFile lifts this process's descriptor limit to at least n.
func raiseNoFile(n uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= n {
		return nil
	}
	l.Cur = n
	l.Max = max(l.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("raising the descriptor limit to %d: %w", n, err)
	}
	return nil
}

// childProc is a helper process that reports on stdout, one line per event,
// and ends when its stdin closes.
type childProc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	quit  chan struct{}
	done  bool
}

// startChild starts cmd and collects its output lines.
func startChild(name string, cmd *exec.Cmd) (*childProc, error) {
	p := &childProc{name: name, cmd: cmd, lines: make(chan string), quit: make(chan struct{})}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			case <-p.quit:
				return
			}
		}
	}()
	return p, nil
}

// expect waits for a line starting with prefix until limit, passing the
// lines before it to progress, and returns the line's remaining fields.
func (p *childProc) expect(prefix string, limit time.Time, progress io.Writer) ([]string, error) {
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return nil, fmt.Errorf("%s ended before %q: %v", p.name, prefix, p.stop())
			}
			if rest, ok := strings.CutPrefix(l, prefix+" "); ok {
				return strings.Fields(rest), nil
			}
			fmt.Fprintf(progress, "  idle: %s: %s\n", p.name, l)
		case <-time.After(time.Until(limit)):
			return nil, fmt.Errorf("%s: no %q in time", p.name, prefix)
		}
	}
}

// stop closes the child's stdin (it closes its connections and exits) and
// waits for it.
func (p *childProc) stop() error {
	if p.done {
		return nil
	}
	p.done = true
	p.stdin.Close()
	err := p.cmd.Wait()
	close(p.quit)
	return err
}

// idleConnMemory measures what an idle connection costs server: n kernel
// connections come to it from child processes in client's namespace, move a
// byte each way and then sit idle while memory is compared with before.
// server is a kernel or offload party of benchAll (gVisor's are not
// supported); an offload server's stack needs MaxConns of at least n.
//
// Processes: the connections are spread over ports from idlePortBase, one
// port and one client process per share, a share being at most 25,000 and
// what one process's descriptor limit allows (RLIMIT_NOFILE's hard limit,
// which this process may be unable to raise: 20,000 in some containers). An
// offload server accepts all of them in this process. A kernel server's
// sockets are held by one child process per port, so neither this process's
// descriptor limit nor its memory is involved; their resident memory growth
// is the server's user-space share.
//
// clientKernel is the kernel memory one idle kernel client socket costs, as
// KernelPerConn of an earlier run against an offload server, where the
// client's sockets are the only kernel sockets: with a kernel server it is
// subtracted from the kernel-wide growth to leave the server's share. Zero
// means unknown: half the growth is taken then (both ends are alike sockets),
// and the note says so.
func idleConnMemory(server bparty, client *netns.Host, n int, clientKernel float64, progress io.Writer) (res idleResult, err error) {
	res.Conns = n
	if n <= 0 {
		return res, errors.New("idle connections: n must be positive")
	}
	lp, ok := server.partyWork.(localParty)
	if !ok {
		return res, fmt.Errorf("idle connections: %s runs in another process; only kernel and offload servers are measured", server.name)
	}
	kernelServer := server.name == "kernel"
	// The client's ports: the same range benchAll gives its namespaces.
	if err := client.Sysctl("net.ipv4.ip_local_port_range", "10000 65000"); err != nil {
		return res, err
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return res, err
	}
	perProc := min(idleConnsPerPort, int(min(lim.Max, 1<<20))-256)
	if perProc < 100 {
		return res, fmt.Errorf("idle connections: descriptor limit %d is too low", lim.Max)
	}
	parts := (n + perProc - 1) / perProc
	shares := make([]int, parts)
	for i := range shares {
		shares[i] = n / parts
		if i < n%parts {
			shares[i]++
		}
	}
	limit := time.Now().Add(60*time.Second + time.Duration(n)*time.Millisecond)

	var children []*childProc
	stopAll := func(ps []*childProc) error {
		var errs []error
		for _, p := range ps {
			if e := p.stop(); e != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.name, e))
			}
		}
		return errors.Join(errs...)
	}
	var servers []*childProc // kernel server children
	defer func() {
		if e := stopAll(children); e != nil && err == nil {
			err = e
		}
		if e := stopAll(servers); e != nil && err == nil {
			err = e
		}
	}()

	// The server side.
	var (
		addrs    []string
		lns      []net.Listener
		mu       sync.Mutex
		held     []net.Conn
		answered atomic.Int64
		srvErr   atomic.Pointer[error]
		acceptWG sync.WaitGroup
	)
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
		lns = nil
		acceptWG.Wait()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		held = nil
		mu.Unlock()
	}
	defer closeAll()
	fail := func(e error) { srvErr.CompareAndSwap(nil, &e) }
	var serverBase uint64 // kernel server children's VmRSS (and heap) before
	var serverBaseHeap uint64
	for i, share := range shares {
		a := netip.AddrPortFrom(server.addr, uint16(idlePortBase+i)).String()
		addrs = append(addrs, a)
		ln, err := lp.listen(a)
		if err != nil {
			return res, fmt.Errorf("idle connections: listening on %s: %w", a, err)
		}
		if kernelServer {
			// Hand the listening socket to a child that accepts and holds
			// this port's share: sockets keep the namespace they were made in.
			f, err := ln.(*net.TCPListener).File()
			ln.Close()
			if err != nil {
				return res, err
			}
			cmd, err := childCommand(nil, "idle-server", strconv.Itoa(share))
			if err != nil {
				f.Close()
				return res, err
			}
			cmd.ExtraFiles = []*os.File{f}
			p, err := startChild(fmt.Sprintf("server %d", i), cmd)
			f.Close()
			if err != nil {
				return res, err
			}
			servers = append(servers, p)
			f2, err := p.expect("listening", limit, progress)
			if err != nil {
				return res, err
			}
			rss, heap, err := parseMem(f2)
			if err != nil {
				return res, err
			}
			serverBase += rss
			serverBaseHeap += heap
			continue
		}
		lns = append(lns, ln)
		acceptWG.Add(1)
		go func() {
			defer acceptWG.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return // closed
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
				// The goroutine ends after the exchange: none is held while idle.
				go func() {
					if err := answerOne(c); err != nil {
						fail(err)
						return
					}
					answered.Add(1)
				}()
			}
		}()
	}

	before, err := takeSnapshot()
	if err != nil {
		return res, err
	}
	start := time.Now()
	for i, share := range shares {
		cmd, err := childCommand(client, "idle-client", strconv.Itoa(share), addrs[i])
		if err != nil {
			return res, err
		}
		p, err := startChild(fmt.Sprintf("client %d", i), cmd)
		if err != nil {
			return res, err
		}
		children = append(children, p)
	}
	for _, p := range children {
		if _, err := p.expect("ready", limit, progress); err != nil {
			return res, fmt.Errorf("idle connections: %w", err)
		}
	}
	if kernelServer {
		for _, p := range servers {
			if _, err := p.expect("ready", limit, progress); err != nil {
				return res, fmt.Errorf("idle connections: %w", err)
			}
		}
	} else {
		for answered.Load() < int64(n) {
			if e := srvErr.Load(); e != nil {
				return res, *e
			}
			if time.Now().After(limit) {
				return res, fmt.Errorf("idle connections: server answered %d of %d", answered.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	res.Open = time.Since(start)
	fmt.Fprintf(progress, "  idle: %d connections open in %v; letting them idle\n", n, res.Open.Round(time.Millisecond))
	// Let delayed ACKs and any timers run out, so what is measured is idle.
	time.Sleep(2 * time.Second)
	after, err := takeSnapshot()
	if err != nil {
		return res, err
	}
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	if kernelServer {
		var rss, heap uint64
		for _, p := range servers {
			if _, err := io.WriteString(p.stdin, "measure\n"); err != nil {
				return res, err
			}
			f, err := p.expect("memory", limit, progress)
			if err != nil {
				return res, err
			}
			r, h, err := parseMem(f)
			if err != nil {
				return res, err
			}
			rss += r
			heap += h
		}
		res.RSSPerConn = per(serverBase, rss)
		res.HeapPerConn = per(serverBaseHeap, heap)
	} else {
		if e := srvErr.Load(); e != nil {
			return res, *e
		}
		mu.Lock()
		got := len(held)
		mu.Unlock()
		if got != n {
			return res, fmt.Errorf("idle connections: server holds %d connections, want %d", got, n)
		}
		res.RSSPerConn = per(before.rss, after.rss)
		res.HeapPerConn = per(before.heap, after.heap)
	}
	res.SlabPerConn = per(before.slab, after.slab)
	res.TCPMemPerConn = per(before.tcpPages, after.tcpPages) * float64(os.Getpagesize())
	res.KernelPerConn, res.KernelCaches = socketCaches(before.caches, after.caches, n)
	kernelCounted := fmt.Sprintf("the kernel memory of the slab caches that grew by at least one object per two connections (/proc/slabinfo; bytes per connection: %s)", res.KernelCaches)
	procs := fmt.Sprintf("%d idle connections after a one-byte exchange each, from kernel clients in %d separate processes", n, parts)
	if kernelServer {
		share, how := res.KernelPerConn/2, "half of that growth, as both ends are kernel sockets alike (no client-only measurement was given)"
		if clientKernel > 0 {
			share = res.KernelPerConn - clientKernel
			how = fmt.Sprintf("that growth minus %.0f B per connection the kernel client sockets alone cost against an offload server", clientKernel)
		}
		res.PerConn = share + res.RSSPerConn
		res.Note = fmt.Sprintf("kernel server, %s: %s is %.0f B per connection for both ends; the server's share is %s, "+
			"plus the resident memory growth of the %d Go processes holding the server sockets (%.0f B per connection: net.Conn objects)",
			procs, kernelCounted, res.KernelPerConn, how, len(servers), res.RSSPerConn)
	} else {
		res.PerConn = res.RSSPerConn
		res.Note = fmt.Sprintf("offload server, %s: the bench process's VmRSS growth after GC and FreeOSMemory (Go heap in use %.0f B per connection); "+
			"%s is %.0f B per connection for the kernel client sockets alone, not counted",
			procs, res.HeapPerConn, kernelCounted, res.KernelPerConn)
	}

	// Tear down: the clients reset their connections (no TIME-WAIT left to
	// skew the next measurement), then the server closes its side.
	if err := stopAll(children); err != nil {
		return res, err
	}
	if err := stopAll(servers); err != nil {
		return res, err
	}
	closeAll()
	if res.PerConn <= 0 {
		// The process's memory moved more than the connections cost (a
		// collection returned earlier garbage): no honest number.
		return res, fmt.Errorf("idle connections: memory did not grow measurably (%.0f B per connection over %d connections): too few connections to rise above the process's own churn", res.PerConn, n)
	}
	return res, nil
}

// answerOne reads the client's byte and sends it back.
func answerOne(c net.Conn) error {
	var b [1]byte
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("server reading the request byte: %w", err)
	}
	if _, err := c.Write(b[:]); err != nil {
		return fmt.Errorf("server answering: %w", err)
	}
	return c.SetDeadline(time.Time{})
}

// ownMemory returns this process's VmRSS and Go heap in use after a
// collection, as "RSS HEAP" for a child's report.
func ownMemory() (string, error) {
	s, err := takeSnapshot()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d %d", s.rss, s.heap), nil
}

func parseMem(f []string) (rss, heap uint64, err error) {
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("bad memory report %q", f)
	}
	if rss, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return 0, 0, err
	}
	heap, err = strconv.ParseUint(f[1], 10, 64)
	return rss, heap, err
}

func init() {
	children["idle-client"] = idleClientChild
	children["idle-server"] = idleServerChild
}

// idleServerChild is a kernel server's holder: idle-server N takes the
// listening socket as descriptor 3, reports "listening RSS HEAP", accepts N
// connections and answers each one's byte, reports "ready N", answers each
// "measure" line on stdin with "memory RSS HEAP", and closes everything when
// stdin ends.
func idleServerChild(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: idle-server N (listener on descriptor 3)")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n <= 0 {
		return fmt.Errorf("bad connection count %q", args[0])
	}
	if err := raiseNoFile(uint64(n) + 128); err != nil {
		return err
	}
	f := os.NewFile(3, "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return err
	}
	defer ln.Close()
	var out sync.Mutex
	say := func(format string, a ...any) {
		out.Lock()
		fmt.Printf(format+"\n", a...)
		out.Unlock()
	}
	m, err := ownMemory()
	if err != nil {
		return err
	}
	say("listening %s", m)
	var connsMu sync.Mutex
	conns := make([]net.Conn, 0, n)
	defer func() {
		ln.Close() // ends the accept loop first
		connsMu.Lock()
		defer connsMu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	var answered atomic.Int64
	errc := make(chan error, 1)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				errc <- err
				return
			}
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			go func() {
				if err := answerOne(c); err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				if answered.Add(1) == int64(n) {
					say("ready %d", n)
				}
			}()
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		select {
		case err := <-errc:
			return err
		default:
		}
		if sc.Text() == "measure" {
			m, err := ownMemory()
			if err != nil {
				return err
			}
			say("memory %s", m)
		}
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	return nil
}

// idleClientChild is the client half: idle-client N ADDR opens N kernel
// connections to ADDR, sends one byte on each and waits for it to come back,
// prints progress and "ready N", and holds them until stdin closes; then it
// resets them all (SO_LINGER 0: no TIME-WAIT) and exits.
func idleClientChild(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: idle-client N ADDR")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n <= 0 {
		return fmt.Errorf("bad connection count %q", args[0])
	}
	addr := args[1]
	if err := raiseNoFile(uint64(n) + 128); err != nil {
		return err
	}
	const workers = 32
	var (
		next   atomic.Int64
		done   atomic.Int64
		mu     sync.Mutex
		conns  = make([]*net.TCPConn, 0, n)
		errOne atomic.Pointer[error]
		wg     sync.WaitGroup
		report = max(n/4, 1)
	)
	open := func() (*net.TCPConn, error) {
		c, err := net.DialTimeout("tcp4", addr, 20*time.Second)
		if err != nil {
			return nil, err
		}
		tc := c.(*net.TCPConn)
		tc.SetDeadline(time.Now().Add(20 * time.Second))
		var b [1]byte
		if _, err := tc.Write([]byte{'i'}); err != nil {
			tc.Close()
			return nil, err
		}
		if _, err := io.ReadFull(tc, b[:]); err != nil {
			tc.Close()
			return nil, err
		}
		tc.SetDeadline(time.Time{})
		return tc, nil
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for errOne.Load() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				tc, err := open()
				if err != nil {
					e := fmt.Errorf("connection %d to %s: %w", i, addr, err)
					errOne.CompareAndSwap(nil, &e)
					return
				}
				mu.Lock()
				conns = append(conns, tc)
				mu.Unlock()
				if d := done.Add(1); d%int64(report) == 0 && d < int64(n) {
					mu.Lock()
					fmt.Printf("connected %d\n", d)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.SetLinger(0)
			c.Close()
		}
	}()
	if e := errOne.Load(); e != nil {
		return *e
	}
	fmt.Printf("ready %d\n", len(conns))
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// idleSummary is one line for progress output.
func (r idleResult) idleSummary() string {
	return fmt.Sprintf("%d idle connections: %.0f B each (process RSS %.0f B, Go heap %.0f B; kernel socket caches %.0f B, meminfo Slab %.0f B, TCP mem charged %.0f B), opened in %v",
		r.Conns, r.PerConn, r.RSSPerConn, r.HeapPerConn, r.KernelPerConn, r.SlabPerConn, r.TCPMemPerConn, r.Open.Round(time.Millisecond))
}
