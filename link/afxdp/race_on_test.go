//go:build race

package afxdp_test

// raceEnabled: the race detector allocates on synchronisation, so allocation
// counts are only checked without it.
const raceEnabled = true
