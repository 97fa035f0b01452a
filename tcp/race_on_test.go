//go:build race

package tcp

// raceEnabled: the race detector makes sync.Pool drop a random share of what
// is put in it (to shake out reuse bugs), so the buffer pools refill by
// allocating and allocation counts mean nothing under -race.
const raceEnabled = true
