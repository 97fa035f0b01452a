package tcp

import "offload/wire"

// QuoteInFlight reports whether seq, the sequence number an ICMP error quotes
// from the segment it is about, is that of data this connection has sent and
// not yet seen acknowledged: SND.UNA ≤ seq < SND.MAX (RFC 5927 §4.1; SND.MAX,
// not SND.NXT, because a timeout may have pulled SND.NXT back). An error that
// fails this check is forged or stale, and must not shrink the MSS or end the
// connection.
func (c *Conn) QuoteInFlight(seq wire.Seq) bool {
	return seq.GreaterEq(c.sndUna) && seq.LessThan(c.sndMax)
}
