package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"offload/bench"
)

// The control protocol, one command per line on stdin. Every command is
// answered by exactly one "result JSON" line on stdout (a reply, whose Error
// says what failed); before it, "flows" prints a "progress" line each time
// its flows together have sent another tenth of their bytes. Addresses are
// IPv4 ADDR:PORT, durations are Go durations (1.5s, 200ms). The bench sends
// one command at a time and waits for its result.
//
//	serve sink|echo PORT          listen on our address and serve bench.Sink or bench.Echo
//	close PORT                    stop serving PORT
//	verify ADDR BYTES SEED TIMEOUT one bench.Bulk transfer (SHA-256 checked) to a Sink
//	flows ADDR N BYTES TIMEOUT    N connections to a Sink, then bench.Throughput on all at once
//	rr ADDR MSG WARM ROUNDS TIMEOUT bench.RequestResponse to an Echo server
//	rrload ADDR CONNS MSG WARM ROUNDS TIMEOUT
//	                              bench.RequestResponseLoaded: CONNS connections at once
//	cps ADDR MSG DURATION MAX     connect, one request, its reply, close; repeat
//	rss                           our resident set size
//	quit                          close everything and exit
type command struct {
	verb    string
	kind    string // serve: "sink" or "echo"
	port    uint16
	addr    netip.AddrPort
	n       int   // flows: connections; rr, rrload, cps: message size
	conns   int   // rrload
	warm    int   // rr, rrload (per connection)
	rounds  int   // rr, rrload (per connection); cps: at most this many connections
	bytes   int64 // verify, flows
	seed    uint64
	timeout time.Duration // verify, flows, rr; cps: how long to go on
}

// Caps on what a command may ask for, so a mistyped line cannot make the
// peer allocate without bound: flows keep a 256 KiB buffer each (64 MiB at
// most), rr keeps every sample and sends them all back in one line (about
// 8 MB at most; the full bench asks for 50000).
const (
	maxFlows   = 256
	maxMsg     = 1 << 20
	maxRounds  = 1_000_000
	maxTimeout = time.Hour
)

// reply is the JSON of a "result" line. The workload results are offload/bench's
// own types, so the bench decodes them into what it measures in-process.
type reply struct {
	Bulk    *bench.BulkResult    `json:",omitempty"`
	Latency *bench.LatencyResult `json:",omitempty"`
	Loaded  *bench.LoadedResult  `json:",omitempty"` // rrload
	Conns   int                  `json:",omitempty"` // cps: connections completed
	Elapsed time.Duration        `json:",omitempty"` // cps
	RSSKiB  int64                `json:",omitempty"`
	Error   string               `json:",omitempty"`
}

var errEmpty = errors.New("empty command")

// parseCommand parses one line of the control protocol.
func parseCommand(line string) (command, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return command{}, errEmpty
	}
	c := command{verb: f[0]}
	args := f[1:]
	want := map[string]int{"serve": 2, "close": 1, "verify": 4, "flows": 4, "rr": 5, "rrload": 6, "cps": 4, "rss": 0, "quit": 0}
	n, ok := want[c.verb]
	if !ok {
		return command{}, fmt.Errorf("unknown command %q", c.verb)
	}
	if len(args) != n {
		return command{}, fmt.Errorf("%s takes %d arguments, got %d", c.verb, n, len(args))
	}
	var err error
	switch c.verb {
	case "serve":
		if args[0] != "sink" && args[0] != "echo" {
			return command{}, fmt.Errorf("serve: unknown server %q (sink or echo)", args[0])
		}
		c.kind = args[0]
		c.port, err = parsePort(args[1])
	case "close":
		c.port, err = parsePort(args[0])
	case "verify":
		c.addr, err = parseAddr(args[0])
		err = errors.Join(err, intArg(args[1], "bytes", 1, 1<<40, &c.bytes))
		if err == nil {
			c.seed, err = strconv.ParseUint(args[2], 10, 64)
		}
		err = errors.Join(err, durArg(args[3], "timeout", &c.timeout))
	case "flows":
		c.addr, err = parseAddr(args[0])
		err = errors.Join(err, intArg(args[1], "flows", 1, maxFlows, &c.n))
		err = errors.Join(err, intArg(args[2], "bytes", 1, 1<<40, &c.bytes))
		err = errors.Join(err, durArg(args[3], "timeout", &c.timeout))
	case "rr":
		c.addr, err = parseAddr(args[0])
		// The request carries its sequence number in its first four bytes.
		err = errors.Join(err, intArg(args[1], "message size", 4, maxMsg, &c.n))
		err = errors.Join(err, intArg(args[2], "warm-up rounds", 0, maxRounds, &c.warm))
		err = errors.Join(err, intArg(args[3], "rounds", 1, maxRounds, &c.rounds))
		err = errors.Join(err, durArg(args[4], "timeout", &c.timeout))
	case "rrload":
		c.addr, err = parseAddr(args[0])
		err = errors.Join(err, intArg(args[1], "connections", 1, maxFlows, &c.conns))
		err = errors.Join(err, intArg(args[2], "message size", 4, maxMsg, &c.n))
		err = errors.Join(err, intArg(args[3], "warm-up rounds", 0, maxRounds, &c.warm))
		err = errors.Join(err, intArg(args[4], "rounds", 1, maxRounds, &c.rounds))
		err = errors.Join(err, durArg(args[5], "timeout", &c.timeout))
		if err == nil && c.conns*c.rounds > maxRounds {
			err = fmt.Errorf("%d connections × %d rounds keeps more than %d samples", c.conns, c.rounds, maxRounds)
		}
	case "cps":
		c.addr, err = parseAddr(args[0])
		err = errors.Join(err, intArg(args[1], "message size", 4, maxMsg, &c.n))
		err = errors.Join(err, durArg(args[2], "duration", &c.timeout))
		err = errors.Join(err, intArg(args[3], "connections", 1, maxRounds, &c.rounds))
	}
	if err != nil {
		return command{}, fmt.Errorf("%s: %w", c.verb, err)
	}
	return c, nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(p), nil
}

func parseAddr(s string) (netip.AddrPort, error) {
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if !a.Addr().Is4() || a.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s: want an IPv4 address and a port", s)
	}
	return a, nil
}

func intArg[T int | int64](s, what string, lo, hi T, v *T) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return fmt.Errorf("%s %q: want an integer in [%d, %d]", what, s, lo, hi)
	}
	*v = T(n)
	return nil
}

func durArg(s, what string, v *time.Duration) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxTimeout {
		return fmt.Errorf("%s %q: want a duration in (0, %s]", what, s, maxTimeout)
	}
	*v = d
	return nil
}
