package wire

import "errors"

var (
	// ErrTruncated means the bytes end before the header (or a length field in it)
	// says they should.
	ErrTruncated = errors.New("wire: truncated")
	// ErrMalformed means a field holds a value the protocol forbids or offload does
	// not handle (wrong version, a header length below the minimum, an ARP hardware
	// type other than Ethernet, ...).
	ErrMalformed = errors.New("wire: malformed")
	// ErrChecksum means a checksum that the parser verifies did not match.
	ErrChecksum = errors.New("wire: bad checksum")
)
