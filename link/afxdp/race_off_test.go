//go:build !race

package afxdp_test

const raceEnabled = false
