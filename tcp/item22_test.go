package tcp

import (
	"errors"
	"testing"

	"offload/wire"
)

// allFlags is every TCP flag at once (a "Christmas tree" segment).
const allFlags = wire.FlagFIN | wire.FlagSYN | wire.FlagRST | wire.FlagPSH | wire.FlagACK | wire.FlagURG | wire.FlagECE | wire.FlagCWR

// oddFlagCase is one crafted segment and what the state tables of RFC 9293
// §3.10.7 say must follow it.
type oddFlagCase struct {
	name      string
	flags     wire.TCPFlags
	seq, ack  wire.Seq
	payload   []byte
	wantState State
	wantErr   error         // the connection's error afterwards (nil: none)
	wantOut   wire.TCPFlags // flags of the one segment sent in answer; 0: nothing sent
	wantAck   wire.Seq      // its acknowledgment number, if it has ACK
}

// runOddFlags sends each case to a fresh Conn from mk and checks the state,
// the answer and that no byte of any payload is delivered.
func runOddFlags(t *testing.T, mk func(t *testing.T) *rig, cases []oddFlagCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mk(t)
			s := seg{TCPFields: wire.TCPFields{Seq: tc.seq, Ack: tc.ack, Flags: tc.flags, Window: 65535}, Payload: tc.payload}
			out := r.send(s)
			if got := r.c.State(); got != tc.wantState {
				t.Errorf("state %v, want %v", got, tc.wantState)
			}
			if err := r.c.Err(); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			switch {
			case tc.wantOut == 0 && len(out) != 0:
				t.Errorf("answered with %v, want silence", out)
			case tc.wantOut != 0 && (len(out) != 1 || out[0].Flags != tc.wantOut):
				t.Errorf("answered with %v, want one segment with flags %v", out, tc.wantOut)
			case tc.wantOut&wire.FlagACK != 0 && out[0].Ack != tc.wantAck:
				t.Errorf("answer acknowledges %d, want %d", out[0].Ack, tc.wantAck)
			}
			if i := r.c.Info(); i.BytesReceived != 0 || i.RecvBuffered != 0 {
				t.Errorf("delivered %d bytes (%d buffered)", i.BytesReceived, i.RecvBuffered)
			}
		})
	}
}

// REFERENCES item 22 in SYN-SENT, RFC 9293 §3.10.7.3's order: an ACK that
// does not acknowledge our SYN draws a RST (unless the segment is a RST);
// a RST counts only with an acceptable ACK (RFC 5961 §3.2), and is never
// answered; then the SYN bit; a segment with neither SYN nor RST is dropped.
// A SYN-ACK that also carries FIN establishes the connection and
// acknowledges only the SYN: the FIN is left for the peer to resend, as
// Linux does (it runs only the URG step on a SYN-ACK), rather than queued
// for after ESTABLISHED as §3.10.7.3 allows. A SYN+FIN without ACK is a
// simultaneous open (figure 7) and gets our SYN-ACK, again for the SYN only.
func TestOddFlagsInSynSentFollowStateTable_RFC9293_3_10_7_3_Item22(t *testing.T) {
	mk := func(t *testing.T) *rig { r, _ := dialRig(t, rigConfig()); return r }
	ok, bad := rigISS+1, rigISS+50 // acceptable: acknowledges our SYN and nothing more
	runOddFlags(t, mk, []oddFlagCase{
		{"SYN+FIN", wire.FlagSYN | wire.FlagFIN, peerISS, 0, nil, StateSynReceived, nil, wire.FlagSYN | wire.FlagACK, peerISS + 1},
		{"SYN+FIN+ACK", wire.FlagSYN | wire.FlagFIN | wire.FlagACK, peerISS, ok, nil, StateEstablished, nil, wire.FlagACK, peerISS + 1},
		{"SYN+FIN+ACK+data", wire.FlagSYN | wire.FlagFIN | wire.FlagACK, peerISS, ok, []byte("early"), StateEstablished, nil, wire.FlagACK, peerISS + 1},
		{"SYN+FIN+bad ACK", wire.FlagSYN | wire.FlagFIN | wire.FlagACK, peerISS, bad, nil, StateSynSent, nil, wire.FlagRST, 0},
		{"SYN+RST without ACK", wire.FlagSYN | wire.FlagRST, peerISS, 0, nil, StateSynSent, nil, 0, 0},
		{"SYN+RST+ACK", wire.FlagSYN | wire.FlagRST | wire.FlagACK, peerISS, ok, nil, StateClosed, ErrConnectionRefused, 0, 0},
		{"no flags", 0, peerISS, 0, []byte("null"), StateSynSent, nil, 0, 0},
		{"all flags", allFlags, peerISS, ok, []byte("xmas"), StateClosed, ErrConnectionRefused, 0, 0},
		{"all flags, bad ACK", allFlags, peerISS, bad, []byte("xmas"), StateSynSent, nil, 0, 0},
		{"RST+data without ACK", wire.FlagRST, peerISS, 0, []byte("data"), StateSynSent, nil, 0, 0},
		{"RST+ACK+data", wire.FlagRST | wire.FlagACK, peerISS, ok, []byte("data"), StateClosed, ErrConnectionRefused, 0, 0},
	})
}

// REFERENCES item 22 in SYN-RECEIVED (entered by a passive open), RFC 9293
// §3.10.7.4's order: sequence number, RST, SYN, ACK. A retransmission of the
// peer's SYN (its ISN again) gets our SYN-ACK again; a RST resets only at
// exactly RCV.NXT, an in-window one draws a challenge ACK (RFC 5961 §3.2); a
// segment without ACK is dropped, its data unread. Policy: an in-window SYN
// here draws a challenge ACK (RFC 5961 §4.2) and keeps the half-open
// connection, where RFC 9293 says to return to LISTEN: otherwise a blind
// in-window SYN would tear down a connection being accepted, the attack RFC
// 5961 closes in the synchronized states.
func TestOddFlagsInSynReceivedFollowStateTable_RFC9293_3_10_7_4_Item22(t *testing.T) {
	mk := func(t *testing.T) *rig {
		cfg := rigConfig()
		syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
		c, err := Accept(&cfg, t0, syn.segment(), rigISS)
		if err != nil {
			t.Fatal(err)
		}
		r := &rig{t: t, now: t0, c: c}
		if out := r.poll(); len(out) != 1 || out[0].Flags != wire.FlagSYN|wire.FlagACK {
			t.Fatalf("want SYN-ACK, got %v", out)
		}
		return r
	}
	nxt, ok := peerISS+1, rigISS+1
	runOddFlags(t, mk, []oddFlagCase{
		{"SYN+FIN repeating the SYN", wire.FlagSYN | wire.FlagFIN, peerISS, 0, nil, StateSynReceived, nil, wire.FlagSYN | wire.FlagACK, nxt},
		{"SYN+FIN at RCV.NXT", wire.FlagSYN | wire.FlagFIN, nxt, 0, nil, StateSynReceived, nil, wire.FlagACK, nxt},
		{"SYN+FIN+ACK at RCV.NXT", wire.FlagSYN | wire.FlagFIN | wire.FlagACK, nxt, ok, []byte("x"), StateSynReceived, nil, wire.FlagACK, nxt},
		{"SYN+RST at RCV.NXT", wire.FlagSYN | wire.FlagRST, nxt, 0, nil, StateClosed, ErrConnectionRefused, 0, 0},
		{"SYN+RST in window", wire.FlagSYN | wire.FlagRST, nxt + 100, 0, nil, StateSynReceived, nil, wire.FlagACK, nxt},
		{"SYN+RST outside window", wire.FlagSYN | wire.FlagRST, nxt + 1<<20, 0, nil, StateSynReceived, nil, 0, 0},
		{"no flags", 0, nxt, 0, []byte("null"), StateSynReceived, nil, 0, 0},
		{"FIN without ACK", wire.FlagFIN, nxt, 0, nil, StateSynReceived, nil, 0, 0},
		{"all flags at RCV.NXT", allFlags, nxt, ok, []byte("xmas"), StateClosed, ErrConnectionRefused, 0, 0},
		{"all flags in window", allFlags, nxt + 100, ok, []byte("xmas"), StateSynReceived, nil, wire.FlagACK, nxt},
		{"RST+data at RCV.NXT", wire.FlagRST, nxt, 0, []byte("data"), StateClosed, ErrConnectionRefused, 0, 0},
		{"RST+ACK+data in window", wire.FlagRST | wire.FlagACK, nxt + 10, ok, []byte("data"), StateSynReceived, nil, wire.FlagACK, nxt},
	})
}

// REFERENCES item 22 in TIME-WAIT: RSTs, whatever else they carry, are
// ignored (RFC 1337 §3); a SYN that does not qualify to reopen the 4-tuple
// draws a challenge ACK (RFC 5961 §4.2) and a SYN+FIN never qualifies (it
// could not open a connection: Accept refuses it, so ending TIME-WAIT for it
// would only cut 2*MSL short); a segment without ACK is dropped. None of them
// restarts or ends the TIME-WAIT timer.
func TestOddFlagsInTimeWaitFollowStateTable_RFC9293_3_10_7_4_Item22(t *testing.T) {
	var deadline = map[*Conn]int64{}
	mk := func(t *testing.T) *rig {
		r := newEstablishedRig(t, rigConfig())
		r.c.Close()
		r.poll()
		fin := ack(peerISS+1, rigISS+2, 65535)
		fin.Flags |= wire.FlagFIN
		r.send(fin)
		if r.c.State() != StateTimeWait {
			t.Fatalf("state %v, want TIME-WAIT", r.c.State())
		}
		deadline[r.c] = int64(r.c.Deadline())
		return r
	}
	nxt, ok := peerISS+2, rigISS+2
	cases := []oddFlagCase{
		{"SYN+FIN at RCV.NXT", wire.FlagSYN | wire.FlagFIN, nxt, 0, nil, StateTimeWait, nil, wire.FlagACK, nxt},
		{"SYN+FIN above RCV.NXT", wire.FlagSYN | wire.FlagFIN, nxt + 1000, 0, nil, StateTimeWait, nil, wire.FlagACK, nxt},
		{"SYN+RST at RCV.NXT", wire.FlagSYN | wire.FlagRST, nxt, 0, nil, StateTimeWait, nil, 0, 0},
		{"no flags", 0, nxt, 0, []byte("null"), StateTimeWait, nil, 0, 0},
		{"all flags at RCV.NXT", allFlags, nxt, ok, []byte("xmas"), StateTimeWait, nil, 0, 0},
		{"RST+data at RCV.NXT", wire.FlagRST, nxt, 0, []byte("data"), StateTimeWait, nil, 0, 0},
		{"RST+ACK+data outside window", wire.FlagRST | wire.FlagACK, nxt + 1<<20, ok, []byte("data"), StateTimeWait, nil, 0, 0},
	}
	runOddFlags(t, func(t *testing.T) *rig {
		r := mk(t)
		t.Cleanup(func() {
			if got := int64(r.c.Deadline()); got != deadline[r.c] {
				t.Errorf("TIME-WAIT deadline moved from %d to %d", deadline[r.c], got)
			}
		})
		return r
	}, cases)

	// The stack asks TimeWaitReusable before it ends TIME-WAIT for a new
	// connection: a plain SYN above RCV.NXT may reopen, the same with FIN may not.
	r := mk(t)
	syn := seg{TCPFields: wire.TCPFields{Seq: nxt + 1000, Flags: wire.FlagSYN, Window: 65535}}
	if !r.c.TimeWaitReusable(syn.segment()) {
		t.Fatal("a SYN above RCV.NXT may not reopen TIME-WAIT (RFC 9293 §3.10.7.4, RFC 1122 §4.2.2.13)")
	}
	syn.Flags |= wire.FlagFIN
	if r.c.TimeWaitReusable(syn.segment()) {
		t.Fatal("a SYN+FIN may reopen TIME-WAIT, though no connection can be accepted from it")
	}
}
