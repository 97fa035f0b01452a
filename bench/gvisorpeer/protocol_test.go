package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"offload/bench"
)

func TestParseCommandReadsEveryVerbsArguments(t *testing.T) {
	a := netip.MustParseAddrPort("198.18.1.2:5001")
	for _, tc := range []struct {
		line string
		want command
	}{
		{"serve sink 5001", command{verb: "serve", kind: "sink", port: 5001}},
		{"  serve   echo 5002  ", command{verb: "serve", kind: "echo", port: 5002}},
		{"close 5001", command{verb: "close", port: 5001}},
		{"verify 198.18.1.2:5001 1048576 18446744073709551615 60s", command{verb: "verify", addr: a, bytes: 1 << 20, seed: 1<<64 - 1, timeout: time.Minute}},
		{"flows 198.18.1.2:5001 8 33554432 1m0s", command{verb: "flows", addr: a, n: 8, bytes: 32 << 20, timeout: time.Minute}},
		{"rr 198.18.1.2:5001 64 500 5000 60s", command{verb: "rr", addr: a, n: 64, warm: 500, rounds: 5000, timeout: time.Minute}},
		{"rr 198.18.1.2:5001 4 0 1 1ms", command{verb: "rr", addr: a, n: 4, rounds: 1, timeout: time.Millisecond}},
		{"rrload 198.18.1.2:5001 16 64 50 500 60s", command{verb: "rrload", addr: a, conns: 16, n: 64, warm: 50, rounds: 500, timeout: time.Minute}},
		{"cps 198.18.1.2:5001 64 1s 5000", command{verb: "cps", addr: a, n: 64, rounds: 5000, timeout: time.Second}},
		{"flows 198.18.1.2:5001 256 1 1h", command{verb: "flows", addr: a, n: maxFlows, bytes: 1, timeout: maxTimeout}},
		{"rr 198.18.1.2:5001 1048576 0 1000000 1s", command{verb: "rr", addr: a, n: maxMsg, rounds: maxRounds, timeout: time.Second}},
		{"rss", command{verb: "rss"}},
		{"quit", command{verb: "quit"}},
	} {
		got, err := parseCommand(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("parseCommand(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
}

// A mistyped or hostile line is refused with a reason, never run with a
// nonsense or unbounded value.
func TestParseCommandRefusesMalformedAndOutOfRangeArguments(t *testing.T) {
	for _, line := range []string{
		"SERVE sink 5001",                    // verbs are lower case
		"serve",                              // too few
		"serve sink 5001 extra",              // too many
		"serve http 80",                      // no such server
		"serve sink 0",                       // port 0
		"serve sink 65536",                   // not a port
		"close -1",                           //
		"verify 198.18.1.2 100 1 1s",         // no port
		"verify [2001:db8::1]:5001 100 1 1s", // IPv4 only
		"verify 198.18.1.2:0 100 1 1s",
		"verify 198.18.1.2:5001 0 1 1s",            // nothing to send
		"verify 198.18.1.2:5001 100 -1 1s",         // seed is unsigned
		"verify 198.18.1.2:5001 100 1 0s",          // no time at all
		"verify 198.18.1.2:5001 100 1 -1s",         //
		"verify 198.18.1.2:5001 100 1 1000h",       // beyond maxTimeout
		"verify 198.18.1.2:5001 100 1 60",          // a duration needs its unit
		"flows 198.18.1.2:5001 0 100 1s",           // no flows
		"flows 198.18.1.2:5001 257 100 1s",         // more than maxFlows
		"flows 198.18.1.2:5001 8 1e9 1s",           // not an integer
		"rr 198.18.1.2:5001 3 0 10 1s",             // too short for the sequence number
		"rr 198.18.1.2:5001 2097152 0 10 1s",       // beyond maxMsg
		"rr 198.18.1.2:5001 64 0 0 1s",             // no rounds
		"rr 198.18.1.2:5001 64 0 1000001 1s",       // beyond maxRounds: every sample is kept
		"rrload 198.18.1.2:5001 257 64 0 10 1s",    // beyond maxFlows
		"rrload 198.18.1.2:5001 256 64 0 10000 1s", // 2.56 million samples
		"rrload 198.18.1.2:5001 0 64 0 10 1s",      // no connections
		"cps 198.18.1.2:5001 64 1s 0",
		"rss now",
		"quit 0",
	} {
		if c, err := parseCommand(line); err == nil {
			t.Errorf("parseCommand(%q) = %+v, want an error", line, c)
		}
	}
	if _, err := parseCommand(" \t "); err != errEmpty {
		t.Errorf("a blank line: %v, want errEmpty", err)
	}
}

// recorder stands in for the stack: it records the commands it is given.
type recorder struct{ got []string }

func (r *recorder) serveOn(kind string, port uint16) error {
	r.got = append(r.got, "serve "+kind)
	return nil
}
func (r *recorder) stopServing(port uint16) error { r.got = append(r.got, "close"); return nil }
func (r *recorder) verify(c command) reply {
	r.got = append(r.got, "verify")
	return reply{Bulk: &bench.BulkResult{Bytes: c.bytes, Duration: time.Second, Verified: true, Hashed: true}}
}
func (r *recorder) flows(c command, progress func()) reply {
	r.got = append(r.got, "flows")
	progress()
	progress()
	return reply{Bulk: &bench.BulkResult{Bytes: c.bytes * int64(c.n)}, Error: "boom"}
}
func (r *recorder) rr(c command) reply {
	r.got = append(r.got, "rr")
	return reply{Latency: &bench.LatencyResult{Samples: []time.Duration{time.Microsecond}, Requests: 1}}
}
func (r *recorder) rrLoad(c command) reply {
	r.got = append(r.got, "rrload")
	return reply{Loaded: &bench.LoadedResult{Conns: c.conns}}
}
func (r *recorder) cps(c command) reply { r.got = append(r.got, "cps"); return reply{Conns: 3} }

// runLines feeds input to serve and returns the lines it printed.
func runLines(t *testing.T, w workloads, input string) []string {
	t.Helper()
	var out bytes.Buffer
	serve(w, strings.NewReader(input), &output{w: bufio.NewWriter(&out)})
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func decode(t *testing.T, line string) reply {
	t.Helper()
	js, ok := strings.CutPrefix(line, "result ")
	if !ok {
		t.Fatalf("%q is not a result line", line)
	}
	var r reply
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return r
}

func TestServeAnswersEachCommandWithOneResultAndStopsAtQuit(t *testing.T) {
	rec := &recorder{}
	lines := runLines(t, rec, "serve sink 5001\n\nbogus\nverify 198.18.1.2:5001 10 1 1s\nflows 198.18.1.2:5001 2 5 1s\nrr 198.18.1.2:5001 64 0 1 1s\ncps 198.18.1.2:5001 64 1s 3\nclose 5001\nquit\nserve echo 5002\n")
	want := []string{"result {}", "result", "result", "progress", "progress", "result", "result", "result", "result {}", "result {}"}
	if len(lines) != len(want) {
		t.Fatalf("printed %q, want %d lines", lines, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want %q...", i, lines[i], w)
		}
	}
	if r := decode(t, lines[1]); !strings.Contains(r.Error, `unknown command "bogus"`) {
		t.Errorf("bogus: %+v", r)
	}
	if r := decode(t, lines[2]); r.Bulk == nil || r.Bulk.Bytes != 10 || !r.Bulk.Verified || !r.Bulk.Hashed || r.Bulk.Duration != time.Second {
		t.Errorf("verify: %+v", r)
	}
	if r := decode(t, lines[5]); r.Bulk == nil || r.Bulk.Bytes != 10 || r.Error != "boom" {
		t.Errorf("flows: %+v", r)
	}
	if r := decode(t, lines[6]); r.Latency == nil || len(r.Latency.Samples) != 1 || r.Latency.Samples[0] != time.Microsecond {
		t.Errorf("rr: %+v", r)
	}
	if r := decode(t, lines[7]); r.Conns != 3 {
		t.Errorf("cps: %+v", r)
	}
	// Nothing after quit runs.
	if got := strings.Join(rec.got, ","); got != "serve sink,verify,flows,rr,cps,close" {
		t.Errorf("ran %s", got)
	}
}

func TestServeAnswersRSSWithOurResidentMemory(t *testing.T) {
	lines := runLines(t, &recorder{}, "rss\n")
	if r := decode(t, lines[0]); r.RSSKiB <= 0 || r.Error != "" {
		t.Errorf("rss: %+v", r)
	}
}

// An over-long line cannot grow the peer's memory: it is an error, and the
// peer stops reading (the bench has gone wrong).
func TestServeRefusesAnOverlongLineAndStops(t *testing.T) {
	rec := &recorder{}
	lines := runLines(t, rec, "serve sink 5001\n"+strings.Repeat("x", 10000)+"\nserve echo 5002\n")
	if len(lines) != 2 {
		t.Fatalf("printed %q, want 2 lines", lines)
	}
	if r := decode(t, lines[1]); !strings.Contains(r.Error, "too long") {
		t.Errorf("over-long line: %+v", r)
	}
	if len(rec.got) != 1 {
		t.Errorf("ran %q after the over-long line", rec.got)
	}
}

func TestVmRSSReadsThisProcess(t *testing.T) {
	kib, err := vmRSS()
	if err != nil || kib < 1024 || kib > 16<<20 {
		t.Errorf("vmRSS() = %d KiB, %v", kib, err)
	}
}

// FuzzParseCommand: no line makes the parser panic, and nothing it accepts
// is outside the caps.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"serve sink 5001", "verify 198.18.1.2:5001 1048576 7 60s", "flows 198.18.1.2:5001 8 33554432 1m",
		"rr 198.18.1.2:5001 64 500 5000 60s", "cps 198.18.1.2:5001 64 1s 5000", "close 5001", "rss", "quit", "rr 1.2.3.4:1 4 0 1 1ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseCommand(line)
		if err != nil {
			return
		}
		if c.n > maxMsg || c.n > maxFlows && c.verb == "flows" || c.rounds > maxRounds || c.warm > maxRounds || c.timeout > maxTimeout || c.bytes < 0 {
			t.Errorf("parseCommand(%q) accepted %+v", line, c)
		}
		if c.verb != "rss" && c.verb != "quit" && c.port == 0 && c.addr.Port() == 0 {
			t.Errorf("parseCommand(%q) accepted %+v without a port", line, c)
		}
	})
}
