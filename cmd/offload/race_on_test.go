//go:build race

package main

// raceEnabled: the race detector is on (its shadow memory moves RSS too much
// for the idle-memory scenario at test sizes).
const raceEnabled = true
