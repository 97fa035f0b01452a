package stack_test

import (
	"net/netip"
	"testing"

	"offload/link"
	"offload/pkt"
	"offload/wire"
)

// answerLog records the TCP segments a stack sends, by destination port.
type answerLog struct {
	link.Device
	sent map[uint16][]wire.TCPFields
}

func (d *answerLog) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		eth, err := wire.ParseEthernet(f.Bytes())
		if err != nil || eth.EtherType() != wire.EtherTypeIPv4 {
			continue
		}
		if ip, err := wire.ParseIPv4(eth.Payload()); err == nil && ip.Protocol() == wire.ProtoTCP {
			if t, err := wire.ParseTCP(ip.Payload()); err == nil {
				d.sent[t.DstPort()] = append(d.sent[t.DstPort()], t.Fields())
			}
		}
	}
	return d.Device.Send(q, b)
}

// segmentFrameData is segmentFrame with a payload.
func segmentFrameData(dstMAC [6]byte, src, dst netip.AddrPort, h wire.TCPFields, payload []byte) *pkt.Buffer {
	h.SrcPort, h.DstPort = src.Port(), dst.Port()
	tl := wire.TCPHeaderLen(&h)
	n := 14 + 20 + tl + len(payload)
	b := pkt.NewBuffer(n, 0)
	f := b.Append(n)
	wire.EmitEthernet(f, &wire.EthernetFields{Dst: dstMAC, Src: wire.MAC{2, 0, 0, 0, 0, 0x99}, EtherType: wire.EtherTypeIPv4})
	wire.EmitIPv4(f[14:], &wire.IPv4Fields{TTL: 64, Protocol: wire.ProtoTCP, Src: src.Addr(), Dst: dst.Addr(), PayloadLen: tl + len(payload)})
	wire.EmitTCP(f[34:], &h)
	copy(f[34+tl:], payload)
	wire.SetTCPChecksum(f[34:], src.Addr(), dst.Addr())
	return b
}

// What a listener answers to odd flag combinations (REFERENCES item 22, RFC
// 9293 §3.10.7.2), with a free backlog and with a full one (SYN cookies on):
//   - a RST, whatever else it carries (SYN+RST, all flags, RST with data),
//     is ignored (first check);
//   - an ACK without RST draws <SEQ=SEG.ACK><CTL=RST> (second check);
//   - a SYN+FIN opens nothing and is dropped silently, as Linux drops it
//     (tcp_rcv_state_process, LISTEN): a SYN+FIN has no legitimate use and
//     is a scanner's probe; no SYN-ACK, no cookie, no state;
//   - a segment with no SYN, ACK or RST (no flags at all, or FIN alone) is
//     dropped: RFC 9293's fourth check in LISTEN, as Linux does (a closed
//     port answers it with a RST);
//   - a plain SYN is the control: it is answered with a SYN-ACK.
func TestListenerAnswersOddFlagCombinations_RFC9293_3_10_7_2_Item22(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(map[bool]string{false: "backlog-free", true: "backlog-full-cookies"}[full], func(t *testing.T) {
			backlog := 8
			if full {
				backlog = 1
			}
			s, inj := cookieSim(t, backlog)
			log := &answerLog{Device: inj.Device, sent: map[uint16][]wire.TCPFields{}}
			inj.Device = log
			dst := netip.AddrPortFrom(simB.Addr(), 80)
			ln, err := s.b.ListenTCP(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// One real connection, left unaccepted: the server learns the
			// client's MAC, and with a backlog of 1 it fills the backlog.
			real, err := s.a.DialTCP(netip.AddrPort{}, dst)
			if err != nil {
				t.Fatal(err)
			}
			for s.b.NumConns() == 0 || !isClosed(real.Connected()) {
				s.step()
			}
			conns := s.b.NumConns()
			cookies := s.b.Stats().SYNCookiesSent.Load()

			const iss = 1_000_000
			all := wire.FlagFIN | wire.FlagSYN | wire.FlagRST | wire.FlagPSH | wire.FlagACK | wire.FlagURG | wire.FlagECE | wire.FlagCWR
			cases := []struct {
				name    string
				flags   wire.TCPFlags
				payload []byte
				want    wire.TCPFlags // 0: silence
				wantSeq wire.Seq
				wantAck wire.Seq
			}{
				{"SYN+FIN", wire.FlagSYN | wire.FlagFIN, nil, 0, 0, 0},
				{"SYN+FIN+data", wire.FlagSYN | wire.FlagFIN | wire.FlagPSH, []byte("hello"), 0, 0, 0},
				{"SYN+RST", wire.FlagSYN | wire.FlagRST, nil, 0, 0, 0},
				{"all flags", all, []byte("xmas"), 0, 0, 0},
				{"RST+data", wire.FlagRST, []byte("data"), 0, 0, 0},
				{"SYN+ACK", wire.FlagSYN | wire.FlagACK, nil, wire.FlagRST, 777, 0},
				{"no flags", 0, []byte("null"), 0, 0, 0},
				{"FIN alone", wire.FlagFIN, nil, 0, 0, 0},
				{"SYN", wire.FlagSYN, nil, wire.FlagSYN | wire.FlagACK, 0, iss + 1},
			}
			for i, tc := range cases {
				port := uint16(40000 + i)
				src := netip.AddrPortFrom(simA.Addr(), port)
				h := wire.TCPFields{Seq: iss, Flags: tc.flags, Window: 65535, Options: wire.TCPOptions{MSS: 1460}}
				if tc.flags.Has(wire.FlagACK) {
					h.Ack = 777
				}
				inj.in = append(inj.in, segmentFrameData(inj.Caps().HardwareAddr, src, dst, h, tc.payload))
				for range 3 {
					s.b.Poll() // only the server: the client stack would answer our SYN-ACKs
				}
				got := log.sent[port]
				switch {
				case tc.want == 0 && len(got) != 0:
					t.Errorf("%s: answered with %+v, want silence", tc.name, got)
				case tc.want != 0 && (len(got) != 1 || got[0].Flags != tc.want):
					t.Errorf("%s: answered with %+v, want one segment with flags %v", tc.name, got, tc.want)
				case tc.want&wire.FlagSYN == 0 && tc.want != 0 && (got[0].Seq != tc.wantSeq || got[0].Ack != tc.wantAck):
					t.Errorf("%s: RST seq %d ack %d, want %d and %d", tc.name, got[0].Seq, got[0].Ack, tc.wantSeq, tc.wantAck)
				case tc.want&wire.FlagSYN != 0 && got[0].Ack != tc.wantAck:
					t.Errorf("%s: SYN-ACK acknowledges %d, want %d", tc.name, got[0].Ack, tc.wantAck)
				}
				if tc.flags != wire.FlagSYN {
					if n := s.b.NumConns(); n != conns {
						t.Errorf("%s: %d connections, want %d: state was kept", tc.name, n, conns)
					}
					if c := s.b.Stats().SYNCookiesSent.Load(); c != cookies {
						t.Errorf("%s: a SYN cookie was sent", tc.name)
					}
				}
			}
			// The control SYN: a connection with a free backlog, a cookie and
			// no state with a full one.
			if full && s.b.Stats().SYNCookiesSent.Load() != cookies+1 {
				t.Errorf("the control SYN to a full backlog got no cookie")
			}
			if !full && s.b.NumConns() != conns+1 {
				t.Errorf("the control SYN made no connection")
			}
		})
	}
}
