//go:build linux

package interop

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/sys"
	"offload/netconn"
	"offload/tcp"
)

// connPair opens one connection per role and returns both ends: the kernel's
// socket and our connection.
func (r *rig) connPair(t *testing.T, role string, port uint16) (*net.TCPConn, *netconn.Conn) {
	t.Helper()
	ctx := deadline(t, 10*time.Second)
	switch role {
	case kernelClient:
		ln := r.ourListen(t, port)
		acc := r.acceptOne(ln)
		kc, err := r.kernelDial(ctx, port)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case oc, ok := <-acc:
			if !ok {
				t.Fatal("our Accept failed")
			}
			return kc, oc.(*netconn.Conn)
		case <-ctx.Done():
			t.Fatal("the kernel connected but our listener never accepted")
		}
	case ourClient:
		ln := r.kernelListen(t, port)
		acc := r.acceptOne(ln)
		oc, err := r.ourDial(ctx, port)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case kc, ok := <-acc:
			if !ok {
				t.Fatal("the kernel's Accept failed")
			}
			return kc.(*net.TCPConn), oc.(*netconn.Conn)
		case <-ctx.Done():
			t.Fatal("we connected but the kernel's listener never accepted")
		}
	}
	t.Fatalf("unknown role %q", role)
	return nil, nil
}

// TestKernelNegotiatedOptionsMatchOurOffer reads TCP_INFO from the kernel's
// socket and checks that it agrees with what our stack offered and recorded:
// window scale shifts both ways (RFC 7323 §2), timestamps (RFC 7323 §3), the
// MSS each side sends with (RFC 9293 §3.7.1, RFC 6691: the peer's MSS minus
// the 12 bytes of timestamp option), and SACK (RFC 2018 §2) exactly when
// offload offered it (tcp.Config.SACK; Linux always does).
func TestKernelNegotiatedOptionsMatchOurOffer(t *testing.T) {
	netns.Require(t)
	noOptions := tcp.DefaultConfig()
	noOptions.WindowScaling, noOptions.Timestamps, noOptions.SACK = false, false, false
	noOptions.MSS = 1200
	small := tcp.DefaultConfig()
	small.MSS = 1000
	small.RecvBufferSize = 32 << 10 // fits in 16 bits: still offers a scale (of 0)
	configs := []struct {
		name string
		cfg  *tcp.Config
		mss  int // what we advertise
	}{
		{"defaults", nil, 1460},
		{"no-wscale-no-timestamps-no-sack-mss-1200", &noOptions, 1200},
		{"mss-1000-32KiB-buffer", &small, 1000},
	}
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, cf := range configs {
				t.Run(cf.name, func(t *testing.T) {
					for _, role := range roles {
						t.Run(role, func(t *testing.T) {
							r := newRig(t, lt, rigOptions{tcp: cf.cfg})
							kc, oc := r.connPair(t, role, 7300)
							ki, err := sys.TCPInfoOf(kc)
							if err != nil {
								t.Fatal(err)
							}
							oi := oc.Info()
							t.Logf("kernel TCP_INFO: options %#x snd_wscale %d rcv_wscale %d snd_mss %d rcv_mss %d",
								ki.Options, ki.SndWscale, ki.RcvWscale, ki.SndMSS, ki.RcvMSS)
							t.Logf("offload Info: wscale snd %d rcv %d, timestamps %v, SACK %v (peer offered %v), MSS snd %d rcv %d",
								oi.SndWScale, oi.RcvWScale, oi.Timestamps, oi.SACKPermitted, oi.PeerSACKPermitted, oi.SndMSS, oi.RcvMSS)
							cfg := tcp.DefaultConfig()
							if cf.cfg != nil {
								cfg = *cf.cfg
							}
							checkNegotiated(t, role, cfg, cf.mss, ki, oi)
						})
					}
				})
			}
		})
	}
}

func checkNegotiated(t *testing.T, role string, cfg tcp.Config, ourMSS int, ki sys.TCPInfo, oi tcp.Info) {
	t.Helper()
	ts := ki.Options&sys.TCPIOptTimestamps != 0
	ws := ki.Options&sys.TCPIOptWscale != 0
	if ts != cfg.Timestamps || oi.Timestamps != cfg.Timestamps {
		t.Errorf("timestamps: kernel %v, offload %v; offered %v (Linux always offers them)", ts, oi.Timestamps, cfg.Timestamps)
	}
	if ws != cfg.WindowScaling {
		t.Errorf("window scaling: kernel %v; offered %v (Linux always offers it)", ws, cfg.WindowScaling)
	}
	// RFC 2018 §2: SACK is on when both SYNs carry SACK-permitted, and Linux always sends it.
	if sack := ki.Options&sys.TCPIOptSACK != 0; sack != cfg.SACK || oi.SACKPermitted != cfg.SACK {
		t.Errorf("SACK: kernel %v, offload %v; offload offered %v", sack, oi.SACKPermitted, cfg.SACK)
	}
	// Linux puts SACK-permitted in every SYN, and in a SYN-ACK when the SYN had it.
	if peerOffered := role == kernelClient || cfg.SACK; oi.PeerSACKPermitted != peerOffered {
		t.Errorf("offload recorded the kernel's SACK-permitted as %v; want %v", oi.PeerSACKPermitted, peerOffered)
	}
	if ws {
		// The kernel's snd_wscale is the shift we announced; its rcv_wscale the one it announced.
		if int(ki.SndWscale) != oi.RcvWScale || int(ki.RcvWscale) != oi.SndWScale {
			t.Errorf("window scale: kernel snd %d rcv %d, offload rcv %d snd %d",
				ki.SndWscale, ki.RcvWscale, oi.RcvWScale, oi.SndWScale)
		}
		// RFC 7323 §2.3: the smallest shift that lets the window express our buffer.
		want := 0
		for cfg.RecvBufferSize>>want > 65535 {
			want++
		}
		if oi.RcvWScale != want {
			t.Errorf("offload announced shift %d for a %d-byte buffer; want %d", oi.RcvWScale, cfg.RecvBufferSize, want)
		}
	} else if oi.SndWScale != -1 || oi.RcvWScale != -1 {
		t.Errorf("window scaling not negotiated, but offload reports shifts %d/%d", oi.SndWScale, oi.RcvWScale)
	}
	opt := 0
	if ts {
		opt = 12
	}
	if int(ki.SndMSS) != ourMSS-opt {
		t.Errorf("kernel sends segments of %d bytes; we advertised MSS %d (so want %d)", ki.SndMSS, ourMSS, ourMSS-opt)
	}
	// Linux advertises its interface MTU minus 40: 1460. We send with the
	// smaller of that and our own MSS, less the options.
	if want := min(1460, ourMSS) - opt; oi.SndMSS != want {
		t.Errorf("offload sends segments of %d bytes; want %d", oi.SndMSS, want)
	}
}

// TestConnectToClosedPortIsRefused_RFC9293_3_10_7_1: a SYN to a port nobody
// listens on is answered with a RST, and the dialer fails at once with
// ECONNREFUSED; both ways: our SYN to the kernel, the kernel's SYN to us.
func TestConnectToClosedPortIsRefused_RFC9293_3_10_7_1(t *testing.T) {
	netns.Require(t)
	for _, lt := range coreLinkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, role := range roles {
				t.Run(role, func(t *testing.T) {
					r := newRig(t, lt, rigOptions{})
					ctx := deadline(t, 10*time.Second)
					start := time.Now()
					var err error
					switch role {
					case kernelClient:
						_, err = r.kernelDial(ctx, 7400)
					case ourClient:
						_, err = r.ourDial(ctx, 7400)
					}
					d := time.Since(start)
					if !errors.Is(err, syscall.ECONNREFUSED) {
						t.Fatalf("dial to a closed port: %v (%T) after %v; want ECONNREFUSED", err, err, d)
					}
					// No SYN retransmission (1 s initial RTO) should be needed.
					if d > 900*time.Millisecond {
						t.Errorf("refused only after %v", d)
					}
					var op *net.OpError
					if !errors.As(err, &op) {
						t.Errorf("error %T is not a *net.OpError", err)
					}
					if role == kernelClient && r.st.Stack().Stats().TCPNoConn.Load() == 0 {
						t.Error("stack did not count the SYN that found no listener")
					}
				})
			}
		})
	}
}

// TestKernelPingIsAnswered_RFC792: the kernel's ICMP echo requests to our
// address get replies (after the kernel resolves us with ARP).
func TestKernelPingIsAnswered_RFC792(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			rtt, err := r.kernel.Ping(ourAddr, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			s := r.st.Stack().NICStats(0)
			if s.ICMPEchoRequests == 0 || s.ICMPEchoReplies == 0 {
				t.Fatalf("ping answered, but the stack counted %d echo requests and %d replies", s.ICMPEchoRequests, s.ICMPEchoReplies)
			}
			// And again, now that ARP is resolved both ways: every one answered.
			for i := range 10 {
				if _, err := r.kernel.Ping(ourAddr, time.Second); err != nil {
					t.Fatalf("ping %d: %v", i, err)
				}
			}
			t.Logf("first ping %v", rtt)
		})
	}
}

// TestJumboMTUGivesJumboMSS: on a 9000-byte MTU link, a stack whose TCP
// config leaves the MSS to the link (MSS 0) advertises 8960 (the MTU less 40
// bytes of IPv4 and TCP headers, RFC 9293 §3.7.1); the kernel sends with it,
// less the timestamp option, and a transfer each way runs through.
func TestJumboMTUGivesJumboMSS(t *testing.T) {
	netns.Require(t)
	size := min(transferSize(t), 64<<20)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			cfg := tcp.DefaultConfig()
			cfg.MSS = 0
			r := newRig(t, lt, rigOptions{mtu: 9000, tcp: &cfg})
			kc, oc := r.connPair(t, kernelClient, 7301)
			ki, err := sys.TCPInfoOf(kc)
			if err != nil {
				t.Fatal(err)
			}
			if oi := oc.Info(); ki.SndMSS != 8960-12 || oi.SndMSS != 8960-12 {
				t.Errorf("send MSS: kernel %d, offload %d; want %d both", ki.SndMSS, oi.SndMSS, 8960-12)
			}
			kc.Close()
			oc.Close()
			for _, op := range []byte{opUpload, opDownload} {
				res := r.runTransfer(t, kernelClient, op, size)
				t.Logf("MTU 9000: %s", res)
			}
		})
	}
}

// TestDefaultConfigMSSFollowsTheLinkMTU: offload.New with Options.TCP nil
// (the defaults) on a 9000-byte MTU link should advertise the MSS the link
// allows, 8960, as Linux does, not the 1460 of a 1500-byte Ethernet.
func TestDefaultConfigMSSFollowsTheLinkMTU(t *testing.T) {
	netns.Require(t)
	r := newRig(t, linkTAP, rigOptions{mtu: 9000})
	kc, _ := r.connPair(t, kernelClient, 7302)
	ki, err := sys.TCPInfoOf(kc)
	if err != nil {
		t.Fatal(err)
	}
	if ki.SndMSS != 8960-12 {
		t.Fatalf("with the default TCP config on a 9000-byte MTU link the kernel sends %d-byte segments; want %d (MSS 8960 less timestamps)", ki.SndMSS, 8960-12)
	}
}
