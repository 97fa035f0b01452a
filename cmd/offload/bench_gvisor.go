package main

// gVisor's netstack as a benchmark party. gVisor is not a dependency of this
// module: bench/gvisorpeer is a module of its own, built here with the Go
// toolchain when the bench first needs it and run as a separate process inside
// the network namespace, driven over its stdin/stdout (its protocol.go). It
// runs the same offload/bench workloads, so every configuration is measured by
// the same code.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"offload/bench"
	"offload/internal/netns"
)

// gvisorPeerEnv names a gvisorpeer binary to use instead of building one.
const gvisorPeerEnv = "OFFLOAD_GVISOR_PEER"

// gvisorBuilder builds bench/gvisorpeer once, on first use.
type gvisorBuilder struct {
	once sync.Once
	dir  string // the temporary directory of the binary
	bin  string
	err  error
}

// binary returns the peer's executable, building it the first time.
func (b *gvisorBuilder) binary() (string, error) {
	b.once.Do(func() { b.bin, b.err = b.build() })
	return b.bin, b.err
}

func (b *gvisorBuilder) build() (string, error) {
	if p := os.Getenv(gvisorPeerEnv); p != "" {
		return p, nil
	}
	src, err := gvisorPeerSource()
	if err != nil {
		return "", err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building the gVisor peer needs the Go toolchain (`go` is not on PATH), or set %s to a built %s", gvisorPeerEnv, src)
	}
	if b.dir, err = os.MkdirTemp("", "offload-gvisorpeer-"); err != nil {
		return "", err
	}
	bin := filepath.Join(b.dir, "gvisorpeer")
	var out bytes.Buffer
	cmd := exec.Command(gobin, "build", "-C", src, "-o", bin, ".")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the gVisor peer in %s: %v: %s", src, err, lastLines(out.String(), 5))
	}
	return bin, nil
}

// remove deletes the built binary.
func (b *gvisorBuilder) remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// gvisorPeerSource finds bench/gvisorpeer: beside this source file when the
// binary was built from a checkout (go run, go test), else above the working
// directory.
func gvisorPeerSource() (string, error) {
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		tried = append(tried, filepath.Join(filepath.Dir(file), "..", "..", "bench", "gvisorpeer"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			tried = append(tried, filepath.Join(d, "bench", "gvisorpeer"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range tried {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Clean(d), nil
		}
	}
	return "", fmt.Errorf("the gVisor peer's source (bench/gvisorpeer of the offload repository) is not beside this binary's source nor above the working directory; run the bench from the repository, or set %s", gvisorPeerEnv)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], " | ")
}

// gvisorPeer is a running gvisorpeer process. Its commands are answered in
// order, one at a time.
type gvisorPeer struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    chan string // stdout, line by line; closed at its end
	stderr   *tailBuffer
	describe string // what the peer said it is: gVisor version, link, options

	mu       sync.Mutex // one command at a time
	waitOnce sync.Once
}

// startGvisorPeer starts cmd, the peer (inside a namespace: netns.Host.Command),
// and waits until its stack is up.
func startGvisorPeer(cmd *exec.Cmd) (*gvisorPeer, error) {
	g := &gvisorPeer{cmd: cmd, lines: make(chan string, 64), stderr: &tailBuffer{max: 4096}}
	g.cmd.Stderr = g.stderr
	if g.cmd.WaitDelay == 0 {
		g.cmd.WaitDelay = 2 * time.Second // a child holding stderr open cannot stall wait
	}
	var err error
	if g.stdin, err = g.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the gVisor peer: %w", err)
	}
	go func() {
		defer close(g.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 64<<20) // an rr result holds every sample
		for sc.Scan() {
			g.lines <- sc.Text()
		}
		if sc.Err() != nil {
			// A line past the limit: nobody reads the rest, so the peer
			// would block on its stdout and never exit.
			g.kill()
		}
	}()
	line, err := g.next(30 * time.Second)
	if err == nil && !strings.HasPrefix(line, "ready ") {
		err = fmt.Errorf("the gVisor peer said %q, not ready", line)
	}
	if err != nil {
		g.close()
		return nil, err
	}
	g.describe = strings.TrimPrefix(line, "ready ")
	return g, nil
}

// next returns the peer's next line, or an error (with what the peer printed
// to stderr) if it ended or said nothing for wait.
func (g *gvisorPeer) next(wait time.Duration) (string, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l, ok := <-g.lines:
		if !ok {
			g.wait() // all of stderr has been copied once the process is reaped
			return "", fmt.Errorf("the gVisor peer exited: %s", g.stderr.String())
		}
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("the gVisor peer said nothing for %s", wait)
	}
}

// call sends one command and decodes its result; each "progress" line before
// it prints a dot to progress. A peer that does not answer within wait is
// killed, so a stuck stack cannot stop the bench.
func (g *gvisorPeer) call(wait time.Duration, progress io.Writer, args ...any) (gvisorReply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := fmt.Fprintln(g.stdin, args...); err != nil {
		return gvisorReply{}, fmt.Errorf("the gVisor peer: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		line, err := g.next(max(time.Until(deadline), time.Millisecond))
		if err != nil {
			g.kill()
			return gvisorReply{}, err
		}
		if line == "progress" {
			if progress != nil {
				fmt.Fprint(progress, ".")
			}
			continue
		}
		js, ok := strings.CutPrefix(line, "result ")
		if !ok {
			return gvisorReply{}, fmt.Errorf("the gVisor peer said %q", line)
		}
		var r gvisorReply
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			return gvisorReply{}, fmt.Errorf("the gVisor peer's reply %q: %w", js, err)
		}
		if r.Error != "" {
			return r, errors.New(r.Error)
		}
		return r, nil
	}
}

// gvisorReply is the JSON of the peer's result line (bench/gvisorpeer's reply).
type gvisorReply struct {
	Bulk    *bench.BulkResult
	Latency *bench.LatencyResult
	Loaded  *bench.LoadedResult
	Conns   int
	Elapsed time.Duration
	RSSKiB  int64
	Error   string
}

// callSlack is how long past a command's own timeout the peer may take to
// answer before it is taken for stuck.
const callSlack = 30 * time.Second

func (g *gvisorPeer) kill() {
	if g.cmd.Process != nil {
		g.cmd.Process.Kill()
	}
}

// close asks the peer to quit and waits for it; one that does not quit is killed.
func (g *gvisorPeer) close() {
	g.stdin.Close() // the peer exits at the end of its input
	done := make(chan struct{})
	go func() {
		for range g.lines {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		g.kill()
		<-done
	}
	g.wait()
}

// wait reaps the process (once; close and a failed call may both ask).
func (g *gvisorPeer) wait() { g.waitOnce.Do(func() { g.cmd.Wait() }) }

func (g *gvisorPeer) serve(addr, kind string) (io.Closer, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	if _, err := g.call(callSlack, nil, "serve", kind, ap.Port()); err != nil {
		return nil, err
	}
	return gvisorListener{g, ap.Port()}, nil
}

type gvisorListener struct {
	g    *gvisorPeer
	port uint16
}

func (l gvisorListener) Close() error {
	_, err := l.g.call(callSlack, nil, "close", l.port)
	return err
}

func (g *gvisorPeer) verify(addr string, size int64, seed uint64, timeout time.Duration) (bench.BulkResult, error) {
	r, err := g.call(timeout+callSlack, nil, "verify", addr, size, seed, timeout)
	return bulkOf(r), err
}

func (g *gvisorPeer) flows(addr string, n int, size int64, timeout time.Duration, progress io.Writer) (bench.BulkResult, error) {
	// The flows are dialled before the clock starts; each dial may take 5 s.
	r, err := g.call(timeout+time.Duration(n)*5*time.Second+callSlack, progress, "flows", addr, n, size, timeout)
	return bulkOf(r), err
}

func bulkOf(r gvisorReply) bench.BulkResult {
	if r.Bulk == nil {
		return bench.BulkResult{}
	}
	return *r.Bulk
}

func (g *gvisorPeer) requestResponse(addr string, msg, warmup, rounds int, timeout time.Duration) (bench.LatencyResult, error) {
	r, err := g.call(timeout+callSlack, nil, "rr", addr, msg, warmup, rounds, timeout)
	if r.Latency == nil {
		return bench.LatencyResult{}, err
	}
	return *r.Latency, err
}

func (g *gvisorPeer) loadedRR(addr string, conns, msg, warmup, rounds int, timeout time.Duration) (bench.LoadedResult, error) {
	r, err := g.call(timeout+callSlack, nil, "rrload", addr, conns, msg, warmup, rounds, timeout)
	if r.Loaded == nil {
		return bench.LoadedResult{}, err
	}
	return *r.Loaded, err
}

func (g *gvisorPeer) connections(addr string, p benchParams) (int, time.Duration, error) {
	// Each connection has 5 s to dial and 5 s to echo.
	r, err := g.call(p.cpsDuration+10*time.Second+callSlack, nil, "cps", addr, p.msg, p.cpsDuration, p.cpsMax)
	return r.Conns, r.Elapsed, err
}

// rss returns the peer's resident set size in KiB.
func (g *gvisorPeer) rss() (int64, error) {
	r, err := g.call(callSlack, nil, "rss")
	return r.RSSKiB, err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) == 0 {
		return "(nothing on stderr)"
	}
	return strings.TrimSpace(string(t.b))
}

// gvisorTAPName is the TAP device of the gVisor↔kernel TAP configuration.
const gvisorTAPName = "offl-gv0"

// gvisorOnTAP starts the peer on a new TAP device in h, the kernel's
// namespace, with the kernel at kernelAddr on the device and gVisor at
// addr behind it: the same link as offload's TAP configuration.
func gvisorOnTAP(b *gvisorBuilder, h *netns.Host, addr, kernelAddr netip.Prefix) (*gvisorPeer, error) {
	bin, err := b.binary()
	if err != nil {
		return nil, err
	}
	g, err := startGvisorPeer(h.Command(bin, "-tap", gvisorTAPName, "-addr", addr.String()))
	if err != nil {
		return nil, err
	}
	if err := h.AddAddr(gvisorTAPName, kernelAddr); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// gvisorOnAFPacket starts the peer in h on interface ifname through AF_PACKET,
// at addr: the same link as offload's AF_PACKET configuration.
func gvisorOnAFPacket(b *gvisorBuilder, h *netns.Host, ifname string, addr netip.Prefix) (*gvisorPeer, error) {
	bin, err := b.binary()
	if err != nil {
		return nil, err
	}
	return startGvisorPeer(h.Command(bin, "-afpacket", ifname, "-addr", addr.String()))
}
