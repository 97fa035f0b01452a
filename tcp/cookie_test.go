package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"offload/wire"
)

var (
	ckLocal  = netip.MustParseAddrPort("198.18.0.1:80")
	ckRemote = netip.MustParseAddrPort("198.18.0.2:40000")
	ckSecret = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
)

// cookieHandshake runs a client Conn's SYN through SYNCookies.SYNACK and its
// ACK through SYNCookies.Accept, and returns both ends.
func cookieHandshake(t *testing.T, cli, srv Config) (client, server *Conn, synack wire.TCPFields) {
	t.Helper()
	ck := NewSYNCookies(ckSecret)
	now := t0
	client = Dial(&cli, now, 0x12345678)
	var out capture
	client.Poll(now, &out)
	syn := out.take()[0]
	synack, err := ck.SYNACK(&srv, now, syn.segment(), ckLocal, ckRemote, 777)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Millisecond)
	client.OnSegment(now, &Segment{TCPFields: synack})
	client.Write([]byte("hello over a cookie"))
	client.Poll(now, &out)
	segs := out.take()
	if client.State() != StateEstablished || len(segs) == 0 {
		t.Fatalf("client %v, sent %v", client.State(), segs)
	}
	server, err = ck.Accept(&srv, now, segs[0].segment(), ckLocal, ckRemote, 777)
	if err != nil {
		t.Fatalf("Accept: %v (segment %v)", err, segs[0])
	}
	for _, s := range segs[1:] {
		server.OnSegment(now, s.segment())
	}
	return client, server, synack
}

// REFERENCES item 7: a valid cookie yields an ESTABLISHED connection that
// kept the MSS (rounded down to the table), window scale, SACK and
// timestamps, and data flows both ways.
func TestSYNCookieHandshakeKeepsOptions_RFC4987_3_6_Item7(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RecvBufferSize = 1 << 20
	client, server, synack := cookieHandshake(t, cfg, cfg)
	if synack.Options.TSVal&tsOptMask != uint32(wscaleFor(1<<20))|1<<4 {
		t.Fatalf("TSval low bits %#x", synack.Options.TSVal&tsOptMask)
	}
	i := server.Info()
	if server.State() != StateEstablished || i.SndMSS != 1460-12 || i.SndWScale != int(wscaleFor(1<<20)) ||
		i.RcvWScale != int(wscaleFor(1<<20)) || !i.SACKPermitted || !i.Timestamps {
		t.Fatalf("server %v %+v", server.State(), i)
	}
	if got, _ := readAll(server, nil); string(got) != "hello over a cookie" {
		t.Fatalf("server read %q", got)
	}
	// A bulk transfer each way with the pair's conns.
	p := &pair{t: t, now: t0.Add(time.Millisecond), delay: time.Millisecond, a: client, b: server, traceOn: true}
	src := make([]byte, 300_000)
	for i := range src {
		src[i] = byte(i * 13)
	}
	var got []byte
	off := 0
	for range 5000 {
		n, _ := server.Write(src[off:])
		off += n
		p.runFor(time.Millisecond)
		got, _ = readAll(client, got)
		if len(got) == len(src) {
			break
		}
	}
	if string(got) != string(src) {
		t.Fatalf("client read %d of %d bytes\n%s", len(got), len(src), p.tail(20))
	}
	if server.Info().Timeouts != 0 || server.Info().PAWSDrops != 0 || client.Info().PAWSDrops != 0 {
		t.Fatalf("server %+v client %+v", server.Info(), client.Info())
	}
}

// Without timestamps nothing can carry window scale and SACK: the cookie
// connection runs without them (as Linux's does), MSS still kept.
func TestSYNCookieWithoutTimestampsDropsWScaleAndSACK_RFC4987_3_6(t *testing.T) {
	cli := DefaultConfig()
	cli.Timestamps = false
	cli.MSS = 1400
	_, server, synack := cookieHandshake(t, cli, DefaultConfig())
	if synack.Options.HasWScale || synack.Options.SACKPermitted || synack.Options.HasTimestamp {
		t.Fatalf("SYN-ACK offered %+v", synack.Options)
	}
	if i := server.Info(); i.SndMSS != 1360 || i.SndWScale != -1 || i.SACKPermitted || i.Timestamps {
		t.Fatalf("%+v", i)
	}
}

// REFERENCES item 7: answering a flood of 100,000 spoofed SYNs keeps no state
// and allocates nothing; a real client then still connects.
func TestSYNCookieFloodKeepsNoStateAndRealClientConnects_RFC4987_Item7(t *testing.T) {
	ck := NewSYNCookies(ckSecret)
	cfg := DefaultConfig()
	rng := rand.New(rand.NewPCG(1, 2))
	syn := &Segment{TCPFields: wire.TCPFields{Flags: wire.FlagSYN, Window: 65535}}
	syn.Options = wire.TCPOptions{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true}
	remote := ckRemote
	now := t0
	flood := func() {
		syn.Seq = wire.Seq(rng.Uint32())
		syn.Options.TSVal = rng.Uint32()
		remote = netip.AddrPortFrom(remote.Addr(), uint16(rng.Uint32()))
		if _, err := ck.SYNACK(&cfg, now, syn, ckLocal, remote, 1); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(100_000, flood); a != 0 {
		t.Fatalf("SYNACK allocates %.1f per SYN", a)
	}
	client, server, _ := cookieHandshake(t, cfg, cfg)
	if client.State() != StateEstablished || server.State() != StateEstablished {
		t.Fatal("real client did not connect")
	}
}

// REFERENCES item 8: a bare ACK with a forged, altered, misdirected or stale
// cookie is rejected (the stack answers ResetFor and keeps nothing).
func TestForgedOrStaleCookieRejected_RFC4987_Item8(t *testing.T) {
	ck := NewSYNCookies(ckSecret)
	cfg := DefaultConfig()
	now := t0
	syn := &Segment{TCPFields: wire.TCPFields{Seq: 1000, Flags: wire.FlagSYN, Window: 65535}}
	syn.Options = wire.TCPOptions{MSS: 1460}
	sa, err := ck.SYNACK(&cfg, now, syn, ckLocal, ckRemote, 0)
	if err != nil {
		t.Fatal(err)
	}
	good := &Segment{TCPFields: wire.TCPFields{Seq: 1001, Ack: sa.Seq + 1, Flags: wire.FlagACK, Window: 1000}}
	if _, err := ck.Accept(&cfg, now, good, ckLocal, ckRemote, 0); err != nil {
		t.Fatalf("genuine cookie rejected: %v", err)
	}
	bad := func(name string, s *Segment, at time.Duration, local, remote netip.AddrPort) {
		t.Helper()
		if c, err := ck.Accept(&cfg, now.Add(at), s, local, remote, 0); err != ErrBadCookie || c != nil {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		f := *good
		f.Ack = wire.Seq(rng.Uint32())
		if _, err := ck.Accept(&cfg, now, &Segment{TCPFields: f.TCPFields}, ckLocal, ckRemote, 0); err == nil && f.Ack != good.Ack {
			t.Fatalf("random cookie %#x accepted", f.Ack)
		}
	}
	mss := *good
	mss.Ack ^= 1 << 24 // claims another MSS
	bad("altered MSS bits", &mss, 0, ckLocal, ckRemote)
	seqd := *good
	seqd.Seq++ // a different peer ISN
	bad("other peer ISN", &seqd, 0, ckLocal, ckRemote)
	bad("other 4-tuple", good, 0, ckLocal, netip.MustParseAddrPort("198.18.0.3:40000"))
	bad("stale", good, (cookieMaxAge+1)*64*time.Second, ckLocal, ckRemote)
	withSYN := *good
	withSYN.Flags |= wire.FlagSYN
	bad("SYN+ACK", &withSYN, 0, ckLocal, ckRemote)
	withRST := *good
	withRST.Flags |= wire.FlagRST
	bad("RST", &withRST, 0, ckLocal, ckRemote)
	other := NewSYNCookies([16]byte{9})
	if _, err := other.Accept(&cfg, now, good, ckLocal, ckRemote, 0); err != ErrBadCookie {
		t.Error("cookie valid under another secret")
	}
	// Still valid shortly before expiry.
	if _, err := ck.Accept(&cfg, now.Add(cookieMaxAge*64*time.Second), good, ckLocal, ckRemote, 0); err != nil {
		t.Errorf("cookie expired early: %v", err)
	}
	// What the stack sends for a rejected ACK: a RST at its ACK number.
	if rst, ok := ResetFor(&Segment{TCPFields: seqd.TCPFields}); !ok || rst.Seq != seqd.Ack || rst.Flags != wire.FlagRST {
		t.Fatalf("ResetFor %+v %v", rst, ok)
	}
}

// A TSval carrying options never runs ahead of the connection's clock, or
// the peer's PAWS would drop our next segments (RFC 7323 §5).
func TestSYNCookieTSValNotAheadOfClock_RFC7323_5(t *testing.T) {
	ck := NewSYNCookies(ckSecret)
	cfg := DefaultConfig()
	syn := &Segment{TCPFields: wire.TCPFields{Seq: 1, Flags: wire.FlagSYN}}
	syn.Options = wire.TCPOptions{HasTimestamp: true, HasWScale: true, WScale: 14, SACKPermitted: true}
	for ms := range 200 {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		sa, _ := ck.SYNACK(&cfg, now, syn, ckLocal, ckRemote, 5)
		if int32(sa.Options.TSVal-(uint32(now.Millis())+5)) > 0 {
			t.Fatalf("TSval %d ahead of clock %d", sa.Options.TSVal, uint32(now.Millis())+5)
		}
	}
}

// FuzzSYNCookie feeds SYNCookies arbitrary SYNs and ACKs: no panic; a SYN's
// own cookie always validates and recovers its options (window scale clamped
// to 14, MSS rounded down to the table, SACK only with timestamps); a
// mutated ACK is rejected or yields a sane ESTABLISHED connection.
func FuzzSYNCookie(f *testing.F) {
	f.Add(uint32(1000), uint16(1460), uint8(7), true, true, uint32(5), uint32(0), uint16(0), int64(0))
	f.Add(uint32(0xffffffff), uint16(1), uint8(255), false, true, uint32(0), uint32(1<<24), uint16(3), int64(200e9))
	f.Add(uint32(7), uint16(0), uint8(14), true, false, uint32(1<<31), uint32(0xdeadbeef), uint16(1), int64(-1))
	ck := NewSYNCookies(ckSecret)
	f.Fuzz(func(t *testing.T, peerISN uint32, mss uint16, ws uint8, sack, ts bool, tsval, flip uint32, portDelta uint16, later int64) {
		cfg := DefaultConfig()
		syn := &Segment{TCPFields: wire.TCPFields{Seq: wire.Seq(peerISN), Flags: wire.FlagSYN, Window: 1000}}
		syn.Options = wire.TCPOptions{MSS: mss, HasWScale: true, WScale: ws, SACKPermitted: sack, HasTimestamp: ts, TSVal: tsval}
		sa, err := ck.SYNACK(&cfg, t0, syn, ckLocal, ckRemote, 9)
		if err != nil {
			t.Fatal(err)
		}
		a := &Segment{TCPFields: wire.TCPFields{Seq: syn.Seq + 1, Ack: sa.Seq + 1, Flags: wire.FlagACK, Window: 1000}}
		if ts {
			a.Options = wire.TCPOptions{HasTimestamp: true, TSVal: tsval + 1, TSEcr: sa.Options.TSVal}
		}
		c, err := ck.Accept(&cfg, t0.Add(time.Second), a, ckLocal, ckRemote, 9)
		if err != nil {
			t.Fatalf("own cookie rejected: %v", err)
		}
		i := c.Info()
		peer := int(mss)
		if peer == 0 {
			peer = defaultMSS // no usable MSS option (RFC 9293 §3.7.1)
		}
		idx := 0
		for k, m := range cookieMSS {
			if int(m) <= peer {
				idx = k
			}
		}
		wantMSS := min(int(cookieMSS[idx]), cfg.MSS)
		if ts {
			wantMSS -= tsOptionLen
		}
		if i.SndMSS != wantMSS {
			t.Fatalf("MSS %d (peer %d), want %d", i.SndMSS, mss, wantMSS)
		}
		if ts && (i.SndWScale != int(min(ws, 14)) || i.SACKPermitted != sack) || !ts && (i.SndWScale != -1 || i.SACKPermitted) {
			t.Fatalf("options %+v from SYN ws=%d sack=%v ts=%v", i, ws, sack, ts)
		}
		// Mutations: other cookie bits, another port, later in time.
		b := *a
		b.Ack ^= wire.Seq(flip)
		remote := netip.AddrPortFrom(ckRemote.Addr(), ckRemote.Port()+portDelta)
		c, err = ck.Accept(&cfg, t0.Add(time.Duration(later)), &b, ckLocal, remote, 9)
		if err == nil {
			if c.State() != StateEstablished || c.sndUna != b.Ack || c.rcvNxt != b.Seq {
				t.Fatalf("accepted into %v una %d nxt %d", c.State(), c.sndUna, c.rcvNxt)
			}
		} else if flip == 0 && portDelta == 0 && later >= 0 && later < 64e9 {
			t.Fatalf("unmutated cookie rejected: %v", err)
		}
	})
}
