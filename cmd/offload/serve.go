package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"offload"
	"offload/bench"
	"offload/internal/sys"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/link/choose"
	"offload/link/tap"
)

// linkOptions say which device the stack runs on and with which address;
// `offload serve` and `offload client` share them.
type linkOptions struct {
	kind       string // "tap", "afpacket", "afxdp", "tc-tap" or "auto"
	iface      string // TAP interface to create (or attach to), or the interface AF_PACKET binds to
	netns      string // network namespace name (under /run/netns) or path; "" for ours
	addr       netip.Prefix
	gateway    netip.Addr
	kernelAddr netip.Prefix // tap: the address to give the kernel's side of the TAP interface
	mtu        int          // tap: the interface's MTU
	blocks     bool         // afpacket: the TPACKET_V3 block ring instead of the TPACKET_V2 frame ring
}

// linkFlags holds the raw flag values until they are checked.
type linkFlags struct {
	kind, iface, netns, addr, gateway, kernelAddr string
	mtu                                           int
	ring                                          string
}

func addLinkFlags(fs *flag.FlagSet) *linkFlags {
	f := &linkFlags{}
	fs.StringVar(&f.kind, "link", "", "link type: tap (a TAP interface whose kernel side is the peer), afxdp or afpacket (kernel bypass on an existing interface), tc-tap (a TAP joined to an existing interface by tc filters: needs only CAP_NET_ADMIN), or auto (AF_XDP, then AF_PACKET, then tc-tap, saying which and why)")
	fs.StringVar(&f.iface, "iface", "", "interface: the TAP interface to create (tap; empty lets the kernel name it), or the existing interface to bind to (afpacket)")
	fs.StringVar(&f.netns, "netns", "", "network namespace (a name from ip netns list, or a path) that holds the interface; empty for the current one")
	fs.StringVar(&f.addr, "addr", "", "the stack's IPv4 address with its prefix length, e.g. 198.18.0.2/24")
	fs.StringVar(&f.gateway, "gateway", "", "next hop for destinations outside --addr's subnet (optional)")
	fs.StringVar(&f.kernelAddr, "kernel-addr", "", "tap only: assign this address (with prefix length, e.g. 198.18.0.1/24) to the kernel's side of the TAP interface")
	fs.IntVar(&f.mtu, "mtu", 1500, "tap only: MTU of the TAP interface")
	fs.StringVar(&f.ring, "afpacket-ring", "frames", "afpacket only: the receive ring: frames (TPACKET_V2, one slot per frame, the kernel wakes us per frame: lowest latency) or blocks (TPACKET_V3, frames packed into blocks handed over when full or after 1 ms: fewer wake-ups under load, ~1 ms latency on a quiet link)")
	return f
}

// linkUsage is the usage of the link flags serve and client share.
const linkUsage = "--link tap|afxdp|afpacket|tc-tap|auto [--iface NAME] [--netns NAME] --addr 198.18.0.2/24"

// parseLinkCommand gives fs the usage text of `offload <name>` (its link
// flags, then rest, then about), parses args and refuses stray arguments.
func parseLinkCommand(fs *flag.FlagSet, stderr io.Writer, name, rest, about string, args []string) error {
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: offload %s %s %s\n\n", name, linkUsage, rest)
		fmt.Fprintf(stderr, "%s\n\nflags:\n", about)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see offload %s -h)", fs.Arg(0), name)
	}
	return nil
}

func (f *linkFlags) parse() (linkOptions, error) {
	o := linkOptions{kind: f.kind, iface: f.iface, netns: f.netns, mtu: f.mtu}
	switch f.kind {
	case "tap":
	case "afpacket", "afxdp", "tc-tap", "auto":
		if f.iface == "" {
			return o, fmt.Errorf("--link %s needs --iface: the interface to bind to (see `ip link`)", f.kind)
		}
		if f.kernelAddr != "" {
			return o, fmt.Errorf("--kernel-addr is for --link tap only: with %s, address the kernel's interfaces with `ip addr`", f.kind)
		}
	case "":
		return o, errors.New("--link is required: tap, afxdp, afpacket, tc-tap or auto")
	default:
		return o, fmt.Errorf("--link %q: want tap, afxdp, afpacket, tc-tap or auto", f.kind)
	}
	if f.iface != "" && (len(f.iface) > 15 || strings.ContainsAny(f.iface, "/ \t\n:")) {
		return o, fmt.Errorf("--iface %q is not a valid interface name (at most 15 characters, no '/', ':' or spaces)", f.iface)
	}
	var err error
	if f.addr == "" {
		return o, errors.New("--addr is required: the stack's address with its prefix length, e.g. 198.18.0.2/24")
	}
	if o.addr, err = netip.ParsePrefix(f.addr); err != nil || !o.addr.Addr().Is4() {
		return o, fmt.Errorf("--addr %q: want an IPv4 address with its prefix length, e.g. 198.18.0.2/24", f.addr)
	}
	if f.gateway != "" {
		if o.gateway, err = netip.ParseAddr(f.gateway); err != nil || !o.gateway.Is4() {
			return o, fmt.Errorf("--gateway %q: want an IPv4 address", f.gateway)
		}
		if !o.addr.Masked().Contains(o.gateway) {
			return o, fmt.Errorf("--gateway %v is not inside %v: the next hop must be on the link", o.gateway, o.addr.Masked())
		}
	}
	if f.kernelAddr != "" {
		if o.kernelAddr, err = netip.ParsePrefix(f.kernelAddr); err != nil || !o.kernelAddr.Addr().Is4() {
			return o, fmt.Errorf("--kernel-addr %q: want an IPv4 address with its prefix length, e.g. 198.18.0.1/24", f.kernelAddr)
		}
		if o.kernelAddr.Addr() == o.addr.Addr() {
			return o, fmt.Errorf("--kernel-addr and --addr are both %v: the kernel and offload each need their own address", o.addr.Addr())
		}
	}
	if f.mtu < 576 || f.mtu > 65521 {
		return o, fmt.Errorf("--mtu %d: want 576 to 65521", f.mtu)
	}
	switch f.ring {
	case "frames":
	case "blocks":
		// auto and afxdp fall back to link/choose's AF_PACKET, which has the frame ring.
		if f.kind != "afpacket" {
			return o, fmt.Errorf("--afpacket-ring blocks is for --link afpacket only")
		}
		o.blocks = true
	default:
		return o, fmt.Errorf("--afpacket-ring %q: want frames (TPACKET_V2) or blocks (TPACKET_V3)", f.ring)
	}
	return o, nil
}

// netnsPath resolves --netns: a name under /run/netns, or a path.
func (o *linkOptions) netnsPath() (string, error) {
	if o.netns == "" {
		return "", nil
	}
	p := o.netns
	if !strings.Contains(p, "/") {
		p = "/run/netns/" + p
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no network namespace %q (%s does not exist): `ip netns list` shows them, `ip netns add NAME` makes one", o.netns, p)
	}
	return p, nil
}

// ringNote names the AF_PACKET receive ring for the start-up line when it is
// not the default.
func (o *linkOptions) ringNote() string {
	if o.blocks {
		return " (TPACKET_V3 block ring)"
	}
	return ""
}

// where names the place of the interface for messages and hints.
func (o *linkOptions) where() (inNS, ipCmd string) {
	if o.netns == "" {
		return "", "ip"
	}
	return fmt.Sprintf(" in network namespace %s", o.netns), "ip -n " + o.netns
}

// checkPrivileges says, before anything is opened, which capability is missing.
func (o *linkOptions) checkPrivileges() error {
	var missing []string
	switch o.kind {
	case "tap":
		if !sys.HasCapability(sys.CapNetAdmin) {
			missing = append(missing, "CAP_NET_ADMIN (to create the TAP interface)")
		}
	case "afpacket":
		if !sys.HasCapability(sys.CapNetRaw) {
			missing = append(missing, "CAP_NET_RAW (to open an AF_PACKET socket)")
		}
	case "auto":
		// The chain ends on tc-tap, which needs CAP_NET_ADMIN alone.
		if !sys.HasCapability(sys.CapNetRaw) && !sys.HasCapability(sys.CapNetAdmin) {
			missing = append(missing, "CAP_NET_RAW (to open an AF_PACKET or AF_XDP socket) or CAP_NET_ADMIN (to join a TAP to the interface with tc)")
		}
	case "tc-tap":
		if !sys.HasCapability(sys.CapNetAdmin) {
			missing = append(missing, "CAP_NET_ADMIN (to create the TAP and the tc filters)")
		}
	case "afxdp":
		if !sys.HasCapability(sys.CapNetRaw) {
			missing = append(missing, "CAP_NET_RAW (to open an AF_XDP socket)")
		}
		if !sys.HasCapability(sys.CapNetAdmin) {
			missing = append(missing, "CAP_NET_ADMIN (to attach the XDP program)")
		}
	}
	if o.netns != "" && !sys.HasCapability(sys.CapSysAdmin) {
		missing = append(missing, "CAP_SYS_ADMIN (to enter network namespace "+o.netns+")")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("not privileged: this needs root; missing %s. Run it as root (sudo offload ...), or grant the binary the capabilities: sudo setcap cap_net_admin,cap_net_raw,cap_sys_admin+ep $(command -v offload)",
		strings.Join(missing, " and "))
}

// netlinkHandle opens netlink in the interface's namespace.
func (o *linkOptions) netlinkHandle() (*netlink.Handle, error) {
	p, err := o.netnsPath()
	if err != nil {
		return nil, err
	}
	if p == "" {
		return netlink.NewHandle()
	}
	ns, err := vnetns.GetFromPath(p)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", o.netns, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// checkAddrFree refuses an --addr the kernel already has in the namespace:
// the kernel and offload would both answer ARP for it, and the kernel would
// reset offload's connections.
func (o *linkOptions) checkAddrFree(nl *netlink.Handle) error {
	addrs, err := nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("listing the kernel's addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap() != o.addr.Addr() {
			continue
		}
		dev := "an interface"
		if l, err := nl.LinkByIndex(a.LinkIndex); err == nil {
			dev = l.Attrs().Name
		}
		inNS, ipCmd := o.where()
		return fmt.Errorf("address already in use: %v is the kernel's own address on %s%s. offload needs an address of its own on the link, or the kernel and offload would both answer for it: choose another --addr, or remove the kernel's: %s addr del %v dev %s",
			o.addr.Addr(), dev, inNS, ipCmd, a.IPNet, dev)
	}
	return nil
}

// attached is a device opened for the stack, with what a person needs to know about it.
type attached struct {
	dev    link.Device
	ifname string
}

// openLink checks the options against the system and opens the device, with
// errors that say what to do.
func openLink(o linkOptions) (*attached, error) {
	if err := o.checkPrivileges(); err != nil {
		return nil, err
	}
	nsPath, err := o.netnsPath()
	if err != nil {
		return nil, err
	}
	nl, err := o.netlinkHandle()
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	if err := o.checkAddrFree(nl); err != nil {
		return nil, err
	}
	inNS, ipCmd := o.where()
	switch o.kind {
	case "tap":
		d, err := tap.Open(tap.Config{Name: o.iface, Netns: nsPath, MTU: o.mtu, TSO: true})
		switch {
		case errors.Is(err, tap.ErrNoTunDevice):
			return nil, err // says what to do already
		case errors.Is(err, tap.ErrNotPrivileged):
			return nil, fmt.Errorf("not privileged: %w", err)
		case errors.Is(err, tap.ErrNameInUse):
			return nil, fmt.Errorf("%w. Pick another --iface, or remove the interface (%s link del %s) if it is left over", err, ipCmd, o.iface)
		case err != nil:
			return nil, err
		}
		a := &attached{dev: d, ifname: d.IfName()}
		if o.kernelAddr.IsValid() {
			l, err := nl.LinkByName(d.IfName())
			if err == nil {
				err = nl.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: o.kernelAddr.Addr().AsSlice(), Mask: net.CIDRMask(o.kernelAddr.Bits(), 32)}})
			}
			if errors.Is(err, syscall.EEXIST) {
				err = nil // the kernel's side already has it (a persistent TAP interface)
			}
			if err != nil {
				d.Close()
				return nil, fmt.Errorf("assigning --kernel-addr %v to %s%s: %w", o.kernelAddr, d.IfName(), inNS, err)
			}
		}
		return a, nil
	case "afpacket":
		d, err := afpacket.Open(afpacket.Config{Interface: o.iface, Netns: nsPath, Blocks: o.blocks})
		switch {
		case errors.Is(err, afpacket.ErrNoInterface):
			return nil, fmt.Errorf("no such interface: there is no %q%s (`%s link` lists them)", o.iface, inNS, ipCmd)
		case errors.Is(err, afpacket.ErrNotPrivileged):
			return nil, fmt.Errorf("not privileged: %w", err)
		case err != nil:
			return nil, err
		}
		return &attached{dev: d, ifname: o.iface}, nil
	case "afxdp", "tc-tap", "auto":
		prefer := choose.Auto
		switch o.kind {
		case "afxdp":
			prefer = choose.AFXDP
		case "tc-tap":
			prefer = choose.TAP
		}
		d, how, err := choose.Open(o.iface, nsPath, prefer, o.addr.Addr())
		switch {
		case errors.Is(err, afxdp.ErrNoInterface) || errors.Is(err, afpacket.ErrNoInterface) || errors.Is(err, choose.ErrNoInterface):
			return nil, fmt.Errorf("no such interface: there is no %q%s (`%s link` lists them)", o.iface, inNS, ipCmd)
		case errors.Is(err, afxdp.ErrNotPrivileged) || errors.Is(err, afpacket.ErrNotPrivileged) || errors.Is(err, tap.ErrNotPrivileged):
			return nil, fmt.Errorf("not privileged: %w", err)
		case errors.Is(err, afxdp.ErrUnavailable):
			return nil, fmt.Errorf("%w (try --link auto to fall back to AF_PACKET or tc-tap)", err)
		case err != nil:
			return nil, err
		}
		fmt.Fprintln(os.Stderr, how) // one line: which link, in which mode, and why
		return &attached{dev: d, ifname: o.iface}, nil
	}
	return nil, fmt.Errorf("unknown link type %q", o.kind)
}

// startStack opens the device and starts a stack on it.
func startStack(o linkOptions) (*offload.Stack, *attached, error) {
	a, err := openLink(o)
	if err != nil {
		return nil, nil, err
	}
	st, err := offload.New(offload.Options{Link: a.dev, Addr: o.addr, Gateway: o.gateway})
	if err != nil {
		a.dev.Close()
		return nil, nil, err
	}
	return st, a, nil
}

// serveConfig is a checked `offload serve` command line.
type serveConfig struct {
	link linkOptions
	mode string
	port uint16
	size int64 // source: bytes sent on each connection
}

var serveModes = []string{"discard", "echo", "http", "sink", "source"}

func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lf := addLinkFlags(fs)
	mode := fs.String("mode", "", "what to serve: discard (read and drop, RFC 863), echo (RFC 862), http (net/http: GET /, GET /bytes/N, POST /sha256), sink (offload client --mode sink), source (send --size bytes on each connection, then close: offload client --mode recv, nc, ...)")
	port := fs.Int("port", 0, "TCP port to listen on (default: 9 discard, 7 echo, 80 http, 5001 sink, 5002 source)")
	size := fs.String("size", "1GiB", "source: bytes to send on each connection (suffixes KiB, MiB, GiB)")
	if err := parseLinkCommand(fs, stderr, "serve", "--mode "+strings.Join(serveModes, "|")+" [--port N] [--size N]",
		"Runs a server on the offload stack attached to a network interface, so standard\ntools (curl, nc, iperf-like clients) in another namespace can talk to it.", args); err != nil {
		return serveConfig{}, err
	}
	var c serveConfig
	var err error
	if c.link, err = lf.parse(); err != nil {
		return c, err
	}
	c.mode = *mode
	defaults := map[string]int{"discard": 9, "echo": 7, "http": 80, "sink": 5001, "source": 5002}
	def, ok := defaults[c.mode]
	if !ok {
		if c.mode == "" {
			return c, fmt.Errorf("--mode is required: %s", strings.Join(serveModes, ", "))
		}
		return c, fmt.Errorf("--mode %q: want one of %s", c.mode, strings.Join(serveModes, ", "))
	}
	if *port == 0 {
		*port = def
	}
	if *port < 1 || *port > 65535 {
		return c, fmt.Errorf("--port %d: want 1 to 65535", *port)
	}
	c.port = uint16(*port)
	if c.size, err = parseByteSize(*size); err != nil {
		return c, fmt.Errorf("--size: %w", err)
	}
	sizeSet := false
	fs.Visit(func(f *flag.Flag) { sizeSet = sizeSet || f.Name == "size" })
	if sizeSet && c.mode != "source" {
		return c, fmt.Errorf("--size is for --mode source only (the other servers take what the client sends)")
	}
	return c, nil
}

func runServe(args []string) error {
	c, err := parseServeFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, c, os.Stdout, nil)
}

// serve runs the server until ctx ends. ready, if not nil, is called with the
// listening address once connections are accepted.
func serve(ctx context.Context, c serveConfig, out io.Writer, ready func(netip.AddrPort)) error {
	st, a, err := startStack(c.link)
	if err != nil {
		return err
	}
	defer st.Close()
	laddr := netip.AddrPortFrom(c.link.addr.Addr(), c.port)
	ln, err := st.Listen("tcp", laddr.String())
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("address already in use: %v already has a listener on this stack", laddr)
	}
	if err != nil {
		return err
	}
	defer ln.Close()

	inNS, _ := c.link.where()
	fmt.Fprintf(out, "offload: serving %s on %v over %s %s%s%s\n", c.mode, laddr, c.link.kind, a.ifname, c.link.ringNote(), inNS)
	if c.link.kernelAddr.IsValid() {
		fmt.Fprintf(out, "offload: the kernel's side of %s has %v\n", a.ifname, c.link.kernelAddr)
	}
	fmt.Fprintf(out, "offload: try %s; Ctrl-C stops\n", serveHint(c, laddr))
	if c.mode == "source" {
		// The digest of what each connection gets, to compare with
		// sha256sum's: computed meanwhile, since it takes ~0.6 s a GiB.
		digestCtx, stopDigest := context.WithCancel(ctx)
		digestDone := make(chan struct{})
		go func() {
			defer close(digestDone)
			if sum := sourceSHA256(digestCtx, c.size); sum != nil {
				fmt.Fprintf(out, "offload: each connection gets %d bytes with SHA-256 %x\n", c.size, sum)
			}
		}()
		defer func() { stopDigest(); <-digestDone }()
	}
	if ready != nil {
		ready(laddr)
	}

	var wg sync.WaitGroup
	errc := make(chan error, 1)
	go func() {
		switch c.mode {
		case "http":
			srv := &http.Server{Handler: httpHandler(), ReadHeaderTimeout: 10 * time.Second}
			errc <- srv.Serve(ln)
		case "sink":
			errc <- bench.Sink(ln)
		case "source":
			errc <- acceptLoop(ln, &wg, func(conn net.Conn) { serveSource(conn, c.size, out) })
		default:
			errc <- acceptLoop(ln, &wg, func(conn net.Conn) { serveStream(conn, c.mode, out) })
		}
	}()
	select {
	case <-ctx.Done():
		ln.Close()
		<-errc
	case err := <-errc:
		if ctx.Err() == nil {
			return fmt.Errorf("accepting connections: %w", err)
		}
	}
	wg.Wait()
	s := st.Stack().Stats()
	fmt.Fprintf(out, "offload: stopped; %d connections opened, %d segments received\n", s.ConnsOpened.Load(), s.TCPSegmentsIn.Load())
	return nil
}

func serveHint(c serveConfig, laddr netip.AddrPort) string {
	prefix := ""
	if c.link.netns != "" && !strings.Contains(c.link.netns, "/") {
		prefix = "ip netns exec " + c.link.netns + " "
	}
	switch c.mode {
	case "http":
		return fmt.Sprintf("`%scurl http://%v/`", prefix, laddr)
	case "echo", "discard":
		return fmt.Sprintf("`%snc %v %d`", prefix, laddr.Addr(), laddr.Port())
	case "source":
		return fmt.Sprintf("`%snc %v %d | sha256sum`", prefix, laddr.Addr(), laddr.Port())
	}
	return fmt.Sprintf("`%soffload client --mode sink --connect %v ...` from another stack", prefix, laddr)
}

func acceptLoop(ln net.Listener, wg *sync.WaitGroup, handle func(net.Conn)) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			handle(conn)
		}()
	}
}

// serveStream runs discard or echo on one connection and logs a line when it ends.
func serveStream(conn net.Conn, mode string, out io.Writer) {
	start := time.Now()
	var n int64
	var err error
	buf := make([]byte, 256<<10)
	switch mode {
	case "discard":
		n, err = io.CopyBuffer(io.Discard, conn, buf)
	case "echo":
		if nd, ok := conn.(interface{ SetNoDelay(bool) error }); ok {
			nd.SetNoDelay(true)
		}
		n, err = io.CopyBuffer(conn, conn, buf)
	}
	d := time.Since(start)
	status := ""
	if err != nil {
		status = " (" + err.Error() + ")"
	}
	fmt.Fprintf(out, "%v: %s %d bytes in %v, %.3f Gbit/s%s\n", conn.RemoteAddr(), map[string]string{"discard": "received", "echo": "echoed"}[mode],
		n, d.Round(time.Millisecond), float64(n)*8/d.Seconds()/1e9, status)
}

// sourceBlock returns the block the source server sends over and over: a
// pattern that does not repeat within 64 KiB, so a misplaced segment changes
// the SHA-256.
func sourceBlock() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>8)
	}
	return b
}

// sourceSHA256 is the SHA-256 of the first n bytes the source server sends,
// or nil if ctx ends first.
func sourceSHA256(ctx context.Context, n int64) []byte {
	h := sha256.New()
	block := sourceBlock()
	for n > 0 {
		if ctx.Err() != nil {
			return nil
		}
		k := min(n, int64(len(block)))
		h.Write(block[:k])
		n -= k
	}
	return h.Sum(nil)
}

// serveSource sends size bytes of sourceBlock on one connection, then closes
// gracefully: its FIN after the last byte, then it reads until the client's
// FIN (discarding anything sent), so unread data cannot turn the close into
// a reset that would cut the transfer short at the client.
func serveSource(conn net.Conn, size int64, out io.Writer) {
	start := time.Now()
	block := sourceBlock()
	var sent int64
	var err error
	for sent < size && err == nil {
		var n int
		n, err = conn.Write(block[:min(size-sent, int64(len(block)))])
		sent += int64(n)
	}
	d := time.Since(start)
	if err == nil {
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			err = cw.CloseWrite()
		}
	}
	if err == nil {
		// Everything is written, our FIN queued behind it: how the client
		// ends its side afterwards (a FIN, or a reset as its stack goes
		// away) says nothing about the transfer, so it is not reported.
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		io.Copy(io.Discard, conn)
	}
	status := ""
	if err != nil {
		status = " (" + err.Error() + ")"
	}
	fmt.Fprintf(out, "%v: sent %d bytes in %v, %.3f Gbit/s%s\n", conn.RemoteAddr(), sent, d.Round(time.Millisecond), float64(sent)*8/d.Seconds()/1e9, status)
}

// maxHTTPBytes bounds GET /bytes/N.
const maxHTTPBytes = 1 << 30

func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from offload, a user-space TCP/IP stack\nyou are %s, this is %s\n", r.RemoteAddr, r.Host)
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > maxHTTPBytes {
			http.Error(w, fmt.Sprintf("want /bytes/N with 0 <= N <= %d", maxHTTPBytes), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		block := make([]byte, 64<<10)
		for i := range block {
			block[i] = byte(i * 7)
		}
		for n > 0 {
			k := min(n, int64(len(block)))
			if _, err := w.Write(block[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%x %d\n", h.Sum(nil), n)
	})
	return mux
}
