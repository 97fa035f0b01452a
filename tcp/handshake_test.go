package tcp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"offload/wire"
)

func TestThreeWayHandshake_RFC9293_3_5(t *testing.T) {
	p := newPair(t, DefaultConfig(), DefaultConfig(), 100, 300, time.Millisecond)
	p.connect()
	syn, synack, ackseg := p.sentAB[0], p.sentBA[0], p.sentAB[1]
	if syn.Flags != wire.FlagSYN || syn.Seq != 100 || syn.Options.MSS != 1460 {
		t.Errorf("SYN = %v %+v", syn, syn.Options)
	}
	if synack.Flags != wire.FlagSYN|wire.FlagACK || synack.Seq != 300 || synack.Ack != 101 {
		t.Errorf("SYN-ACK = %v", synack)
	}
	if ackseg.Flags != wire.FlagACK || ackseg.Seq != 101 || ackseg.Ack != 301 {
		t.Errorf("ACK = %v", ackseg)
	}
	if !p.a.Established() || !p.b.Established() {
		t.Error("Established() false")
	}
	ia, ib := p.a.Info(), p.b.Info()
	if !ia.Timestamps || !ib.Timestamps || ia.SndWScale != ib.RcvWScale || ia.RcvWScale != ib.SndWScale || ia.SndWScale < 0 {
		t.Errorf("options not negotiated: A %+v B %+v", ia, ib)
	}
	// 1460 minus the 12 bytes of the timestamps option (RFC 9293 §3.7.1).
	if ia.SndMSS != 1448 || ib.SndMSS != 1448 {
		t.Errorf("MSS A=%d B=%d, want 1448", ia.SndMSS, ib.SndMSS)
	}
	// RTT measured from the handshake: 2 ms.
	if ia.SRTT != 2*time.Millisecond {
		t.Errorf("A SRTT = %v", ia.SRTT)
	}
}

// REFERENCES item 23: simultaneous open.
func TestSimultaneousOpen_RFC9293_3_5_Figure7(t *testing.T) {
	cfg := DefaultConfig()
	now := t0
	a := Dial(&cfg, now, 100)
	b := Dial(&cfg, now, 300)
	var ao, bo capture
	a.Poll(now, &ao)
	b.Poll(now, &bo)
	synA, synB := ao.take(), bo.take()
	if len(synA) != 1 || len(synB) != 1 {
		t.Fatalf("SYNs: %v %v", synA, synB)
	}
	// The SYNs cross.
	a.OnSegment(now, synB[0].segment())
	b.OnSegment(now, synA[0].segment())
	if a.State() != StateSynReceived || b.State() != StateSynReceived {
		t.Fatalf("states %v %v, want SYN-RECEIVED", a.State(), b.State())
	}
	a.Poll(now, &ao)
	b.Poll(now, &bo)
	saA, saB := ao.take(), bo.take()
	if len(saA) != 1 || saA[0].Flags != wire.FlagSYN|wire.FlagACK || saA[0].Seq != 100 || saA[0].Ack != 301 {
		t.Fatalf("A's SYN-ACK: %v", saA)
	}
	if len(saB) != 1 || saB[0].Flags != wire.FlagSYN|wire.FlagACK || saB[0].Seq != 300 || saB[0].Ack != 101 {
		t.Fatalf("B's SYN-ACK: %v", saB)
	}
	a.OnSegment(now, saB[0].segment())
	b.OnSegment(now, saA[0].segment())
	if a.State() != StateEstablished || b.State() != StateEstablished {
		t.Fatalf("states %v %v, want ESTABLISHED", a.State(), b.State())
	}
	// Data flows afterwards.
	a.Write([]byte("hello"))
	a.Poll(now, &ao)
	for _, s := range ao.take() {
		b.OnSegment(now, s.segment())
	}
	buf := make([]byte, 10)
	n, _ := b.Read(buf)
	if string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
}

// transfer writes src into w and reads everything from r, running the pair.
func transfer(t *testing.T, p *pair, w, r *Conn, src []byte, rng *rand.Rand) []byte {
	t.Helper()
	var got []byte
	off := 0
	buf := make([]byte, 70000)
	for i := 0; len(got) < len(src); i++ {
		if i > 200000 {
			t.Fatalf("transfer stalled at %d/%d\n%s", len(got), len(src), p.tail(40))
		}
		if off < len(src) {
			n := 1 + rng.IntN(20000)
			if rng.IntN(4) == 0 {
				n = 1 + rng.IntN(10)
			}
			k, err := w.Write(src[off:min(len(src), off+n)])
			if err != nil {
				t.Fatal(err)
			}
			off += k
		}
		p.runFor(time.Duration(rng.IntN(3000)) * time.Microsecond)
		m := rng.IntN(len(buf)) + 1
		k, err := r.Read(buf[:m])
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

func TestBulkTransferRandomSizes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		issA   wire.Seq
		issB   wire.Seq
		ts, ws bool
	}{
		{"options", 1, 2, true, true},
		{"no-options", 7, 9, false, false},
		// Sequence wrap-around mid-stream: both ISNs just below 2^32.
		{"seq-wrap", 0xffff_ff00, 0xffff_f000, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			cfg := DefaultConfig()
			cfg.Timestamps, cfg.WindowScaling = tc.ts, tc.ws
			p := newPair(t, cfg, cfg, tc.issA, tc.issB, 500*time.Microsecond)
			p.connect()
			src := make([]byte, 3<<20)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			got := transfer(t, p, p.a, p.b, src, rng)
			if !bytes.Equal(got, src) {
				t.Fatalf("A->B data differs")
			}
			back := src[:1<<20]
			got = transfer(t, p, p.b, p.a, back, rng)
			if !bytes.Equal(got, back) {
				t.Fatalf("B->A data differs")
			}
			if i := p.a.Info(); i.Retransmits != 0 {
				t.Errorf("retransmits on a lossless path: %+v", i)
			}
		})
	}
}

func TestActiveCloseThenPassiveClose_RFC9293_3_6(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TimeWait = 30 * time.Second
	p := newPair(t, cfg, cfg, 1, 2, time.Millisecond)
	p.connect()
	p.a.Write([]byte("request"))
	if err := p.a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if p.a.State() != StateFinWait1 {
		t.Fatalf("A %v", p.a.State())
	}
	p.runFor(100 * time.Millisecond)
	if p.a.State() != StateFinWait2 || p.b.State() != StateCloseWait {
		t.Fatalf("A %v B %v", p.a.State(), p.b.State())
	}
	got, err := readAll(p.b, nil)
	if string(got) != "request" || err != io.EOF {
		t.Fatalf("B read %q %v", got, err)
	}
	// Half-close: B still sends after A's FIN.
	p.b.Write([]byte("response"))
	p.runFor(100 * time.Millisecond)
	got, err = readAll(p.a, nil)
	if string(got) != "response" || err != nil {
		t.Fatalf("A read %q %v", got, err)
	}
	if _, err := p.a.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write after CloseWrite: %v", err)
	}
	p.b.Close()
	if p.b.State() != StateLastAck {
		t.Fatalf("B %v", p.b.State())
	}
	p.runFor(100 * time.Millisecond)
	if p.a.State() != StateTimeWait || !p.b.Done() {
		t.Fatalf("A %v B %v done=%v", p.a.State(), p.b.State(), p.b.Done())
	}
	if _, err := p.a.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("A read after FIN: %v", err)
	}
	// TIME-WAIT lasts cfg.TimeWait (2*MSL), then the connection is gone.
	entered := p.now.Add(-100*time.Millisecond + 2*time.Millisecond) // roughly when B's FIN arrived
	p.runUntil(entered.Add(cfg.TimeWait - 10*time.Millisecond))
	if p.a.State() != StateTimeWait {
		t.Fatalf("TIME-WAIT ended early: %v", p.a.State())
	}
	p.runFor(time.Second)
	if !p.a.Done() || p.a.Err() != nil || p.b.Err() != nil {
		t.Fatalf("A %v done=%v err=%v/%v", p.a.State(), p.a.Done(), p.a.Err(), p.b.Err())
	}
}

// REFERENCES item 23: simultaneous close.
func TestSimultaneousClose_RFC9293_3_6_Figure13(t *testing.T) {
	cfg := DefaultConfig()
	p := newPair(t, cfg, cfg, 1, 2, time.Millisecond)
	p.connect()
	p.a.Close()
	p.b.Close()
	if p.a.State() != StateFinWait1 || p.b.State() != StateFinWait1 {
		t.Fatalf("A %v B %v", p.a.State(), p.b.State())
	}
	p.pollAll()                                     // both FINs on the wire
	p.runFor(time.Millisecond + time.Microsecond/2) // FINs cross
	// Each side got the other's FIN before the ACK of its own: CLOSING.
	if p.a.State() != StateClosing || p.b.State() != StateClosing {
		t.Fatalf("A %v B %v, want CLOSING on both", p.a.State(), p.b.State())
	}
	p.runFor(10 * time.Millisecond)
	if p.a.State() != StateTimeWait || p.b.State() != StateTimeWait {
		t.Fatalf("A %v B %v, want TIME-WAIT on both", p.a.State(), p.b.State())
	}
	p.runFor(cfg.TimeWait + time.Second)
	if !p.a.Done() || !p.b.Done() {
		t.Fatalf("not done: %v %v", p.a.State(), p.b.State())
	}
}

func TestGSOSuperSegmentsAreMultiplesOfMSS(t *testing.T) {
	cfg := DefaultConfig()
	cfg.GSOMaxSize = 65535 - 60
	p := newPair(t, cfg, cfg, 1, 2, time.Millisecond)
	p.connect()
	rng := rand.New(rand.NewPCG(5, 5))
	src := make([]byte, 2<<20)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	got := transfer(t, p, p.a, p.b, src, rng)
	if !bytes.Equal(got, src) {
		t.Fatal("data differs")
	}
	mss := p.a.SendMSS()
	big := 0
	for _, s := range p.sentAB {
		n := len(s.Payload)
		if n > mss {
			big++
			if n%mss != 0 && s.Flags&wire.FlagFIN == 0 {
				t.Fatalf("super-segment of %d bytes is not a multiple of %d", n, mss)
			}
			if n > cfg.GSOMaxSize {
				t.Fatalf("segment of %d bytes exceeds GSOMaxSize", n)
			}
		}
	}
	if big == 0 {
		t.Fatal("no super-segments emitted")
	}
}

func TestPassiveSideHalfCloseFirst_RFC9293_3_6(t *testing.T) {
	cfg := DefaultConfig()
	p := newPair(t, cfg, cfg, 10, 20, time.Millisecond)
	p.connect()
	// The server (B) shuts its write side first; the client keeps sending.
	p.b.Write([]byte("banner"))
	p.b.CloseWrite()
	p.runFor(50 * time.Millisecond)
	if p.b.State() != StateFinWait2 || p.a.State() != StateCloseWait {
		t.Fatalf("A %v B %v", p.a.State(), p.b.State())
	}
	got, err := readAll(p.a, nil)
	if string(got) != "banner" || err != io.EOF {
		t.Fatalf("%q %v", got, err)
	}
	src := bytes.Repeat([]byte("upload"), 50000)
	got = transfer(t, p, p.a, p.b, src, rand.New(rand.NewPCG(1, 1)))
	if !bytes.Equal(got, src) {
		t.Fatal("data after half-close differs")
	}
	p.a.Close()
	p.runFor(50 * time.Millisecond)
	if p.a.State() != StateClosed || p.b.State() != StateTimeWait {
		t.Fatalf("A %v B %v", p.a.State(), p.b.State())
	}
	if _, err := p.b.Read(make([]byte, 1)); err != io.EOF {
		t.Fatal(err)
	}
}

func TestCloseSendsBufferedDataBeforeFIN_RFC9293_3_10_4(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SendBufferSize = 64 << 10
	cfg.RecvBufferSize = 16 << 10 // forces several windows' worth of waiting
	p := newPair(t, cfg, cfg, 10, 20, time.Millisecond)
	p.connect()
	src := make([]byte, 60<<10)
	for i := range src {
		src[i] = byte(i)
	}
	if n, _ := p.a.Write(src); n != len(src) {
		t.Fatal(n)
	}
	p.a.Close()
	var got []byte
	for range 1000 {
		p.runFor(5 * time.Millisecond)
		got, _ = readAll(p.b, got)
		if p.b.State() == StateCloseWait && p.b.Info().RecvBuffered == 0 {
			break
		}
	}
	if !bytes.Equal(got, src) {
		t.Fatalf("got %d bytes", len(got))
	}
	if _, err := p.b.Read(make([]byte, 1)); err != io.EOF {
		t.Fatal(err)
	}
}
