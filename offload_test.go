package offload_test

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"offload"
	"offload/link/pipe"
)

// The facade makes a dual-stack stack from Addr plus Addrs: one net/http
// server on ":80" answers over IPv4 and IPv6.
func TestFacadeDualStackServesHTTPOverBothFamilies(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	srv, err := offload.New(offload.Options{Link: a, Addr: netip.MustParsePrefix("198.18.0.2/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("2001:2::2/64")}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := offload.New(offload.Options{Link: b, Addr: netip.MustParsePrefix("198.18.0.1/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("2001:2::1/64")}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ln, err := srv.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) }))
	hc := &http.Client{Transport: &http.Transport{DialContext: cli.DialContext}}
	for _, url := range []string{"http://198.18.0.2/", "http://[2001:2::2]/"} {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "198.18.0.1:"
		if strings.Contains(url, "[") {
			want = "[2001:2::1]:"
		}
		if !strings.HasPrefix(string(body), want) {
			t.Fatalf("%s: the server saw the client as %q, want %s...", url, body, want)
		}
	}
}
