// Command gvisorpeer runs gVisor's user-space TCP/IP stack (netstack) on a TAP
// device or on an AF_PACKET socket, so that `offload bench` can measure it
// against the Linux kernel over the same links as offload, with the same
// workloads (offload/bench). The bench starts it inside a network namespace
// and drives it over stdin/stdout (see protocol.go).
//
// It lives in its own module so that offload itself does not depend on gVisor.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

func main() {
	tapName := flag.String("tap", "", "create the TAP device NAME (in this process's network namespace) and attach the stack to it")
	ifName := flag.String("afpacket", "", "attach the stack to the interface NAME through an AF_PACKET socket")
	addr := flag.String("addr", "", "the stack's IPv4 address with its prefix, e.g. 198.18.1.1/24")
	gro := flag.Bool("gro", true, "gVisor's generic receive offload (software) on the link endpoint")
	flag.Parse()
	pfx, err := netip.ParsePrefix(*addr)
	if err == nil && !pfx.Addr().Is4() {
		err = errors.New("want an IPv4 address")
	}
	if err == nil && (*tapName == "") == (*ifName == "") {
		err = errors.New("give exactly one of -tap and -afpacket")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gvisorpeer: -addr %q: %v\n", *addr, err)
		os.Exit(2)
	}
	p, err := newPeer(linkConfig{tap: *tapName, afpacket: *ifName, addr: pfx, gro: *gro})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gvisorpeer: %v\n", err)
		os.Exit(1)
	}
	out := &output{w: bufio.NewWriter(os.Stdout)}
	out.line("ready gVisor " + gvisorVersion() + ", " + p.describe)
	serve(p, os.Stdin, out)
	p.close()
}

// gvisorVersion is the gVisor module version this binary was built with.
func gvisorVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "gvisor.dev/gvisor" {
				return d.Version
			}
		}
	}
	return "(unknown version)"
}

// output serialises the lines written to stdout: progress lines come from
// several flows at once.
type output struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *output) line(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.WriteString(s)
	o.w.WriteByte('\n')
	o.w.Flush()
}

func (o *output) reply(r reply) {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(reply{Error: "encoding the reply: " + err.Error()})
	}
	o.line("result " + string(b))
}

// serve reads commands until quit or the end of in (the bench went away).
func serve(p workloads, in io.Reader, out *output) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 4096), 4096) // a longer line is a protocol error
	for sc.Scan() {
		c, err := parseCommand(sc.Text())
		if errors.Is(err, errEmpty) {
			continue
		}
		if err != nil {
			out.reply(reply{Error: err.Error()})
			continue
		}
		if c.verb == "quit" {
			out.reply(reply{})
			return
		}
		out.reply(run(p, c, out))
	}
	if err := sc.Err(); err != nil {
		out.reply(reply{Error: "reading commands: " + err.Error()})
	}
}

// workloads is what the commands run; the stack implements it, and the
// protocol's tests a recorder.
type workloads interface {
	serveOn(kind string, port uint16) error
	stopServing(port uint16) error
	verify(c command) reply
	flows(c command, progress func()) reply
	rr(c command) reply
	rrLoad(c command) reply
	cps(c command) reply
}

func run(p workloads, c command, out *output) reply {
	var err error
	switch c.verb {
	case "serve":
		err = p.serveOn(c.kind, c.port)
	case "close":
		err = p.stopServing(c.port)
	case "verify":
		return p.verify(c)
	case "flows":
		return p.flows(c, func() { out.line("progress") })
	case "rr":
		return p.rr(c)
	case "rrload":
		return p.rrLoad(c)
	case "cps":
		return p.cps(c)
	case "rss":
		kib, err := vmRSS()
		if err != nil {
			return reply{Error: err.Error()}
		}
		return reply{RSSKiB: kib}
	default:
		err = fmt.Errorf("unknown command %q", c.verb)
	}
	if err != nil {
		return reply{Error: err.Error()}
	}
	return reply{}
}

// vmRSS returns this process's resident set size from /proc/self/status.
func vmRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}
