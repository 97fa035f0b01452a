package offload_test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"

	"offload"
	"offload/link/pipe"
)

// Serving net/http over two offload stacks joined by an in-memory link: the
// README's example, run as a test.
func Example_httpOverPipe() {
	a, b := pipe.New(pipe.Config{})
	srv, err := offload.New(offload.Options{Link: a, Addr: netip.MustParsePrefix("198.18.0.2/24")})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	cli, err := offload.New(offload.Options{Link: b, Addr: netip.MustParsePrefix("198.18.0.1/24")})
	if err != nil {
		panic(err)
	}
	defer cli.Close()

	ln, err := srv.Listen("tcp", "198.18.0.2:80")
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello over offload")
	}))

	hc := &http.Client{Transport: &http.Transport{DialContext: cli.DialContext}}
	resp, err := hc.Get("http://198.18.0.2/")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, ": ", string(body))
	// Output: 200 OK: hello over offload
}
