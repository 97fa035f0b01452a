package wire

import (
	"errors"
	"testing"
)

func TestParseIPv4QuoteOfLinuxPortUnreachable(t *testing.T) {
	m, err := ParseICMPv4(capturedIPv4(t, capICMPPortUnreach).Payload())
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseIPv4Quote(m.Body())
	if err != nil {
		t.Fatal(err)
	}
	if q.Protocol() != ProtoUDP || q.Src() != capClientIP || q.Dst() != capServerIP ||
		q.SrcPort() != 60759 || q.DstPort() != 9999 || q.TotalLen() != 39 || q.ID() != 0xc519 ||
		q.FragOffset() != 0 || q.HeaderLen() != 20 || len(q.Transport()) != 19 {
		t.Fatalf("quote proto %d %v->%v ports %d->%d", q.Protocol(), q.Src(), q.Dst(), q.SrcPort(), q.DstPort())
	}
}

func TestParseIPv4QuoteAcceptsRFC792MinimumQuote(t *testing.T) {
	// A router quotes the IP header and 64 bits of our SYN: the quote ends long
	// before the total length and the full parser rightly refuses it.
	syn := capturedIPv4(t, capSYN).Bytes()
	quote := syn[:IPv4HeaderSize+8]
	if _, err := ParseIPv4(quote); !errors.Is(err, ErrTruncated) {
		t.Fatalf("ParseIPv4 on a quote: %v", err)
	}
	q, err := ParseIPv4Quote(quote)
	if err != nil {
		t.Fatal(err)
	}
	if q.Protocol() != ProtoTCP || q.SrcPort() != 46736 || q.DstPort() != 8080 || q.TCPSeq() != 0xee9aa814 ||
		len(q.Transport()) != 8 {
		t.Fatalf("ports %d->%d seq %#x", q.SrcPort(), q.DstPort(), q.TCPSeq())
	}
	// Routers that quote more: the view stops at the original total length.
	long := append(append([]byte{}, syn...), 0xEE, 0xEE)
	if q, err := ParseIPv4Quote(long); err != nil || len(q.Transport()) != len(syn)-20 {
		t.Fatalf("long quote: %v %d", err, len(q.Transport()))
	}
}

func TestParseIPv4QuoteRejectsShortOrBogusQuotes(t *testing.T) {
	syn := capturedIPv4(t, capSYN).Bytes()
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"header cut", syn[:19], ErrTruncated},
		{"only 7 transport bytes", syn[:27], ErrTruncated},
		{"version 6", append([]byte{0x65}, syn[1:28]...), ErrMalformed},
		{"IHL 4", append([]byte{0x44}, syn[1:28]...), ErrMalformed},
		{"IHL 15 past quote", append([]byte{0x4f, 0, 1, 0}, syn[4:28]...), ErrTruncated},
		{"IHL 15 in a 60-byte datagram: no transport bytes", append([]byte{0x4f}, syn[1:]...), ErrMalformed},
		{"total length too small for a transport header", append(append([]byte{}, syn[:2]...), append([]byte{0, 27}, syn[4:28]...)...), ErrMalformed},
	}
	for _, c := range cases {
		if _, err := ParseIPv4Quote(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
