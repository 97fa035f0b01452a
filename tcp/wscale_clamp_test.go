package tcp

import (
	"testing"

	"offload/wire"
)

// A peer's SYN offering a window scale above 14 (15, or the field's largest
// value 255) is taken as 14 (RFC 7323 §2.3: "use 14 instead of the value
// received"), on the passive side and through a SYN cookie, whose TSval
// carries the shift: a window field of 1 then means 2^14 bytes, never a
// shift that overflows the 32-bit window (or, by 255, anything at all).
func TestPeerWindowScaleAbove14IsClampedOnPassiveOpenAndCookie_RFC7323_2_3(t *testing.T) {
	for _, ws := range []uint8{15, 255} {
		syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
		syn.Options = wire.TCPOptions{MSS: 1460, HasWScale: true, WScale: ws, SACKPermitted: true, HasTimestamp: true, TSVal: 100}

		// Passive open.
		cfg := DefaultConfig()
		c, err := Accept(&cfg, t0, syn.segment(), rigISS)
		if err != nil {
			t.Fatal(err)
		}
		r := &rig{t: t, now: t0, c: c}
		sa := r.poll()
		if len(sa) != 1 || !sa[0].Options.HasWScale {
			t.Fatalf("wscale %d: SYN-ACK %v", ws, sa)
		}
		r.send(tsSeg(ack(peerISS+1, rigISS+1, 1), 101, sa[0].Options.TSVal))
		if i := c.Info(); c.State() != StateEstablished || i.SndWScale != 14 || i.SndWnd != 1<<14 {
			t.Fatalf("passive open, peer's shift %d: state %v, shift %d, window %d; want 14 and %d", ws, c.State(), i.SndWScale, i.SndWnd, 1<<14)
		}

		// The same SYN answered with a cookie.
		ck := NewSYNCookies(ckSecret)
		h, err := ck.SYNACK(&cfg, t0, syn.segment(), ckLocal, ckRemote, 777)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Options.HasWScale || !h.Options.HasTimestamp {
			t.Fatalf("cookie SYN-ACK for shift %d offers %+v", ws, h.Options)
		}
		a := tsSeg(ack(peerISS+1, h.Seq+1, 1), 101, h.Options.TSVal)
		sc, err := ck.Accept(&cfg, t0, a.segment(), ckLocal, ckRemote, 777)
		if err != nil {
			t.Fatalf("cookie for shift %d refused: %v", ws, err)
		}
		if i := sc.Info(); sc.State() != StateEstablished || i.SndWScale != 14 || i.SndWnd != 1<<14 || !i.SACKPermitted {
			t.Fatalf("cookie, peer's shift %d: state %v, shift %d, window %d, SACK %v; want 14, %d, true", ws, sc.State(), i.SndWScale, i.SndWnd, i.SACKPermitted, 1<<14)
		}
	}
}
