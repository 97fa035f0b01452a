package tcp

import (
	"bytes"
	"testing"
	"time"

	"offload/wire"
)

// dialRig returns a Conn in SYN-SENT whose SYN has been emitted.
func dialRig(t *testing.T, cfg Config) (*rig, seg) {
	t.Helper()
	r := &rig{t: t, now: t0}
	r.c = Dial(&cfg, r.now, rigISS)
	out := r.poll()
	if len(out) != 1 || out[0].Flags != wire.FlagSYN {
		t.Fatalf("want SYN, got %v", out)
	}
	return r, out[0]
}

func synAck(opts wire.TCPOptions, win uint16) seg {
	s := seg{TCPFields: wire.TCPFields{Seq: peerISS, Ack: rigISS + 1, Flags: wire.FlagSYN | wire.FlagACK, Window: win}}
	s.Options = opts
	return s
}

func TestMSSOptionAbsentMeans536_RFC9293_3_7_1(t *testing.T) {
	r, _ := dialRig(t, rigConfig())
	out := r.send(synAck(wire.TCPOptions{}, 65535))
	if r.c.State() != StateEstablished || len(out) != 1 || out[0].Flags != wire.FlagACK {
		t.Fatalf("state %v out %v", r.c.State(), out)
	}
	if got := r.c.Info().SndMSS; got != 536 {
		t.Fatalf("SndMSS = %d, want 536", got)
	}
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 2000))
	for _, s := range r.poll() {
		if len(s.Payload) > 536 {
			t.Fatalf("segment of %d bytes exceeds MSS 536", len(s.Payload))
		}
	}
}

func TestMSSIsSmallerOfBothSides_RFC9293_3_7_1(t *testing.T) {
	for _, tc := range []struct{ peer, want int }{{9000, 1460}, {1000, 1000}, {1, minMSS}} {
		r, syn := dialRig(t, rigConfig())
		if syn.Options.MSS != 1460 {
			t.Fatalf("our SYN MSS %d", syn.Options.MSS)
		}
		r.send(synAck(wire.TCPOptions{MSS: uint16(tc.peer)}, 65535))
		if got := r.c.Info().SndMSS; got != tc.want {
			t.Errorf("peer MSS %d: SndMSS = %d, want %d", tc.peer, got, tc.want)
		}
	}
}

func TestWindowScaleUsedOnlyIfBothSidesSentIt_RFC7323_2_2(t *testing.T) {
	cfg := rigConfig()
	cfg.WindowScaling = true
	cfg.RecvBufferSize = 1 << 20 // needs shift 5

	// We offer, the peer does not: no scaling either way.
	r, syn := dialRig(t, cfg)
	if !syn.Options.HasWScale || syn.Options.WScale != 5 {
		t.Fatalf("SYN WScale %v %d, want 5", syn.Options.HasWScale, syn.Options.WScale)
	}
	out := r.send(synAck(wire.TCPOptions{MSS: 1460}, 1000))
	if i := r.c.Info(); i.SndWScale != -1 || i.RcvWScale != -1 {
		t.Fatalf("scaling negotiated without the peer's option: %+v", i)
	}
	if out[0].Window != 65535 {
		t.Errorf("unscaled window %d, want 65535 (buffer is larger)", out[0].Window)
	}
	r.send(ack(peerISS+1, rigISS+1, 1000))
	if w := r.c.Info().SndWnd; w != 1000 {
		t.Errorf("peer window %d, want 1000 (unscaled)", w)
	}

	// The peer offers, we have it disabled: our SYN-ACK carries no WScale.
	off := rigConfig()
	syn2 := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 100}}
	syn2.Options = wire.TCPOptions{MSS: 1460, HasWScale: true, WScale: 3}
	c, _ := Accept(&off, t0, syn2.segment(), rigISS)
	var cap1 capture
	c.Poll(t0, &cap1)
	if sa := cap1.take()[0]; sa.Options.HasWScale {
		t.Fatalf("SYN-ACK carries WScale although disabled")
	}
	c.OnSegment(t0, ack(peerISS+1, rigISS+1, 100).segment())
	if w := c.Info().SndWnd; w != 100 {
		t.Errorf("peer window %d, want 100 (unscaled)", w)
	}

	// Both offer: the peer's windows are shifted, SYN windows are not.
	r, _ = dialRig(t, cfg)
	r.send(synAck(wire.TCPOptions{MSS: 1460, HasWScale: true, WScale: 2}, 1000))
	if w := r.c.Info().SndWnd; w != 1000 {
		t.Errorf("SYN-ACK window scaled: %d", w)
	}
	r.send(ack(peerISS+1, rigISS+1, 1000))
	if w := r.c.Info().SndWnd; w != 4000 {
		t.Errorf("peer window %d, want 1000<<2", w)
	}
	r.c.Write([]byte("x"))
	out = r.poll()
	if len(out) != 1 || out[0].Window != uint16((1<<20)>>5-1) && out[0].Window != uint16((1<<20)>>5) {
		t.Errorf("our scaled window field %v", out)
	}
}

// REFERENCES item 12: window scale 15..255 is treated as 14.
func TestWindowScaleShiftClampedTo14_RFC7323_2_3(t *testing.T) {
	cfg := rigConfig()
	cfg.WindowScaling = true
	r, _ := dialRig(t, cfg)
	r.send(synAck(wire.TCPOptions{MSS: 1460, HasWScale: true, WScale: 20}, 1))
	r.send(ack(peerISS+1, rigISS+1, 1))
	if i := r.c.Info(); i.SndWScale != 14 || i.SndWnd != 1<<14 {
		t.Fatalf("shift %d window %d, want 14 and 16384", i.SndWScale, i.SndWnd)
	}
}

func tsSeg(s seg, val, ecr uint32) seg {
	s.Options.HasTimestamp = true
	s.Options.TSVal, s.Options.TSEcr = val, ecr
	return s
}

// newTSRig is an established passive Conn with timestamps negotiated; the
// peer's TSval so far is 100.
func newTSRig(t *testing.T) (*rig, uint32) {
	cfg := rigConfig()
	cfg.Timestamps = true
	r := &rig{t: t, now: t0}
	syn := tsSeg(seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}, 100, 0)
	syn.Options.MSS = 1460
	c, err := Accept(&cfg, r.now, syn.segment(), rigISS)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	sa := r.poll()[0]
	if !sa.Options.HasTimestamp || sa.Options.TSEcr != 100 {
		t.Fatalf("SYN-ACK timestamps %+v, want TSEcr 100", sa.Options)
	}
	r.send(tsSeg(ack(peerISS+1, rigISS+1, 65535), 100, sa.Options.TSVal))
	if !c.Info().Timestamps || c.State() != StateEstablished {
		t.Fatalf("timestamps not negotiated: %+v", c.Info())
	}
	return r, sa.Options.TSVal
}

func TestTimestampsEchoTSRecent_RFC7323_4_3(t *testing.T) {
	r, _ := newTSRig(t)
	out := r.send(tsSeg(data(peerISS+1, rigISS+1, 65535, []byte("abc")), 150, 0))
	r.now = r.now.Add(r.c.cfg.DelayedACK)
	out = append(out, r.poll()...)
	if len(out) != 1 || out[0].Options.TSEcr != 150 || !out[0].Options.HasTimestamp {
		t.Fatalf("want one ACK echoing 150, got %v %+v", out, out)
	}
	if r.c.Info().SndMSS != 1460-12 {
		t.Errorf("SndMSS %d, want 1448", r.c.Info().SndMSS)
	}
}

// REFERENCES item 19: stale timestamps are dropped and ACKed.
func TestPAWSDropsSegmentWithOldTimestamp_RFC7323_5_3(t *testing.T) {
	r, _ := newTSRig(t)
	r.send(tsSeg(data(peerISS+1, rigISS+1, 65535, []byte("new")), 200, 0))
	// An old duplicate (TSval 150 < TS.Recent 200) with fresh-looking sequence numbers.
	out := r.send(tsSeg(data(peerISS+4, rigISS+1, 65535, []byte("old")), 150, 0))
	if len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != peerISS+4 {
		t.Fatalf("want an ACK for RCV.NXT, got %v", out)
	}
	got, _ := readAll(r.c, nil)
	if !bytes.Equal(got, []byte("new")) {
		t.Fatalf("read %q: PAWS let the old segment in", got)
	}
	if r.c.Info().PAWSDrops != 1 {
		t.Errorf("PAWSDrops %d", r.c.Info().PAWSDrops)
	}
	// TSval wrap-around is modular: 0x10 is "after" 0xfffffff0.
	// (Each gets ACKed before the next, so TS.Recent follows: RFC 7323 §4.3.)
	r.send(tsSeg(data(peerISS+4, rigISS+1, 65535, []byte("d")), 0x7fff0000, 0))
	r.advance(time.Second)
	r.send(tsSeg(data(peerISS+5, rigISS+1, 65535, []byte("e")), 0xfff00000, 0))
	r.advance(time.Second)
	r.send(tsSeg(data(peerISS+6, rigISS+1, 65535, []byte("f")), 0x10, 0))
	if got, _ := readAll(r.c, nil); string(got) != "def" {
		t.Fatalf("read %q across TSval wrap", got)
	}
	// RSTs are exempt from PAWS (RFC 7323 §5.2).
	rst := tsSeg(seg{TCPFields: wire.TCPFields{Seq: peerISS + 7, Flags: wire.FlagRST}}, 1, 0)
	r.send(rst)
	if r.c.State() != StateClosed || r.c.Err() != ErrConnectionReset {
		t.Fatalf("RST with old timestamp ignored: %v %v", r.c.State(), r.c.Err())
	}
}

func TestSACKNegotiation_RFC2018_2(t *testing.T) {
	for _, tc := range []struct {
		ours, peers, want bool
	}{{true, true, true}, {true, false, false}, {false, true, false}} {
		cfg := rigConfig()
		cfg.SACK = tc.ours
		syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 100}}
		syn.Options.SACKPermitted = tc.peers
		c, _ := Accept(&cfg, t0, syn.segment(), rigISS)
		var o capture
		c.Poll(t0, &o)
		if got := o.take()[0].Options.SACKPermitted; got != tc.want {
			t.Errorf("ours %v peer's %v: SYN-ACK SACK-permitted %v", tc.ours, tc.peers, got)
		}
		if i := c.Info(); i.SACKPermitted != tc.want || i.PeerSACKPermitted != tc.peers {
			t.Errorf("ours %v peer's %v: %+v", tc.ours, tc.peers, i)
		}
	}
	cfg := rigConfig()
	cfg.SACK = true
	_, syn := dialRig(t, cfg)
	if !syn.Options.SACKPermitted {
		t.Error("SYN does not offer SACK")
	}
}

// sackRig is an established passive Conn with SACK (and optionally timestamps).
func sackRig(t *testing.T, ts bool) *rig { return sackRigCfg(t, rigConfig(), ts) }

// sackRigCfg is sackRig with a given Config.
func sackRigCfg(t *testing.T, cfg Config, ts bool) *rig {
	return sackRigWith(t, cfg, sackPeer{ts: ts})
}

// sackPeer is what the peer of sackRigWith offers besides MSS 1460 and SACK,
// and how long the handshake's ACK takes (the first RTT sample when > 0).
type sackPeer struct {
	ts, wscale bool // timestamps; window scale 7
	rtt        time.Duration
}

// sackRigWith is an established passive Conn with SACK (cfg.SACK is set,
// cfg.Timestamps follows p.ts); the rig's time is t0 + p.rtt.
func sackRigWith(t *testing.T, cfg Config, p sackPeer) *rig {
	t.Helper()
	cfg.SACK = true
	cfg.Timestamps = p.ts
	syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
	syn.Options = wire.TCPOptions{MSS: 1460, SACKPermitted: true, HasTimestamp: p.ts, TSVal: 1, HasWScale: p.wscale, WScale: 7}
	c, err := Accept(&cfg, t0, syn.segment(), rigISS)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, now: t0, c: c}
	r.poll()
	r.now = r.now.Add(p.rtt)
	a := ack(peerISS+1, rigISS+1, 65535)
	if p.ts {
		a = tsSeg(a, 1, 0)
	}
	r.send(a)
	if !c.Info().SACKPermitted || c.State() != StateEstablished {
		t.Fatalf("%+v", c.Info())
	}
	return r
}

func TestSACKBlocksReportHeldData_RFC2018_4(t *testing.T) {
	for _, ts := range []bool{false, true} {
		r := sackRig(t, ts)
		send := func(off int) []seg {
			s := data(peerISS+1+wire.Seq(off), rigISS+1, 65535, make([]byte, 100))
			if ts {
				s = tsSeg(s, 2, 0)
			}
			return r.send(s)
		}
		base := peerISS + 1
		send(1000)
		send(3000)
		send(5000)
		send(7000)
		out := send(2000) // the most recent arrival goes first
		if len(out) != 1 {
			t.Fatal(out)
		}
		o := out[0].Options
		want := 4
		if ts {
			want = 3 // 40 option bytes: 12 for timestamps leave room for 3 blocks
		}
		if int(o.NumSACK) != want || o.SACK[0] != (wire.SACKBlock{Start: base + 2000, End: base + 2100}) || o.SACK[1] != (wire.SACKBlock{Start: base + 1000, End: base + 1100}) {
			t.Fatalf("ts=%v: SACK blocks %d %+v", ts, o.NumSACK, o.SACK)
		}
		// Filling everything leaves nothing to report.
		fill := data(base, rigISS+1, 65535, make([]byte, 7100))
		if ts {
			fill = tsSeg(fill, 3, 0)
		}
		r.send(fill)
		if r.c.Info().OutOfOrderRanges != 0 {
			t.Fatalf("ts=%v: ranges left", ts)
		}
		r.c.Write([]byte("x"))
		for _, s := range r.poll() {
			if s.Options.NumSACK != 0 {
				t.Fatalf("SACK blocks with nothing held: %+v", s.Options)
			}
		}
	}
}

func TestSACKBlocksNeverGrowFullSegmentPastMSS_RFC2018(t *testing.T) {
	r := sackRig(t, false)
	r.c.SetNoDelay(true)
	r.send(data(peerISS+1+1000, rigISS+1, 65535, make([]byte, 100)))
	r.c.Write(make([]byte, 1460+1400))
	out := r.poll()
	if len(out) != 2 {
		t.Fatal(out)
	}
	if out[0].Options.NumSACK != 0 {
		t.Fatalf("full-sized segment carries %d SACK blocks", out[0].Options.NumSACK)
	}
	if out[1].Options.NumSACK != 1 {
		t.Fatalf("short segment has room but carries %d blocks", out[1].Options.NumSACK)
	}
}

func TestSegmentWithoutTimestampsDropped_RFC7323_3_2(t *testing.T) {
	r, _ := newTSRig(t)
	if out := r.send(data(peerISS+1, rigISS+1, 65535, []byte("nots"))); len(out) != 0 {
		t.Fatalf("answered: %v", out)
	}
	if r.c.Info().RecvBuffered != 0 || r.c.Info().PAWSDrops != 1 {
		t.Fatalf("%+v", r.c.Info())
	}
	// A RST without timestamps still counts (RFC 7323 §3.2 exempts RSTs).
	r.send(rstSeg(peerISS + 1))
	if r.c.State() != StateClosed {
		t.Fatal(r.c.State())
	}
}

func TestTimestampEchoIsEarliestUnackedSegment_RFC7323_4_3(t *testing.T) {
	r, _ := newTSRig(t)
	full := make([]byte, 1448)
	if out := r.send(tsSeg(data(peerISS+1, rigISS+1, 65535, full), 300, 0)); len(out) != 0 {
		t.Fatalf("first segment ACKed at once: %v", out)
	}
	out := r.send(tsSeg(data(peerISS+1+1448, rigISS+1, 65535, full), 400, 0))
	if len(out) != 1 || out[0].Options.TSEcr != 300 {
		t.Fatalf("want the delayed ACK to echo 300 (the earliest), got %+v", out)
	}
}

func TestZeroConfigGetsSaneDefaults(t *testing.T) {
	var cfg Config
	cfg.normalize()
	d := DefaultConfig()
	if cfg.MSS != d.MSS || cfg.MinRTO != d.MinRTO || cfg.MaxRTO != d.MaxRTO || cfg.InitialRTO != d.InitialRTO ||
		cfg.MaxRetries != d.MaxRetries || cfg.SynRetries != d.SynRetries || cfg.RecvBufferSize != d.RecvBufferSize {
		t.Fatalf("%+v", cfg)
	}
	bad := Config{MSS: 1 << 20, RecvBufferSize: 1 << 40, SendBufferSize: -5, MinRTO: time.Second, MaxRTO: time.Millisecond, InitialRTO: time.Hour}
	bad.normalize()
	if bad.MSS != maxMSS || bad.RecvBufferSize != maxBuffer || bad.SendBufferSize != minBuffer || bad.MaxRTO != time.Second || bad.InitialRTO != time.Second {
		t.Fatalf("%+v", bad)
	}
}

func TestDataOnHandshakeACKIsAccepted_RFC9293_3_10_7_4(t *testing.T) {
	cfg := rigConfig()
	syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
	c, _ := Accept(&cfg, t0, syn.segment(), rigISS)
	r := &rig{t: t, now: t0, c: c}
	r.poll()
	r.send(data(peerISS+1, rigISS+1, 65535, []byte("GET /")))
	if c.State() != StateEstablished {
		t.Fatal(c.State())
	}
	if got, _ := readAll(c, nil); string(got) != "GET /" {
		t.Fatalf("%q", got)
	}
}

func TestWriteBeforeHandshakeIsSentAfterIt(t *testing.T) {
	r, _ := dialRig(t, rigConfig())
	if n, err := r.c.Write([]byte("early")); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	if out := r.poll(); len(out) != 0 {
		t.Fatalf("sent before the handshake: %v", out)
	}
	out := r.send(synAck(wire.TCPOptions{MSS: 1460}, 65535))
	if len(out) != 1 || string(out[0].Payload) != "early" || out[0].Seq != rigISS+1 || out[0].Ack != peerISS+1 {
		t.Fatalf("want the data with the handshake ACK, got %v", out)
	}
}
