package stack

import (
	"reflect"
	"sync/atomic"
	"testing"
	"unsafe"
)

// Every per-queue counter reaches GSOStats, each into a field of its own: a
// counter added to gsoCounters and forgotten in add (or a GSOStats field with
// no counter behind it) would read zero for ever.
func TestGSOCountersAddEveryCounterToItsOwnField(t *testing.T) {
	var c gsoCounters
	v := reflect.ValueOf(&c).Elem()
	want := uint64(0)
	for i := range v.NumField() {
		if v.Field(i).Type() != reflect.TypeFor[atomic.Uint64]() {
			t.Fatalf("counter %s is a %v: teach this test about it", v.Type().Field(i).Name, v.Field(i).Type())
		}
		(*atomic.Uint64)(unsafe.Pointer(v.Field(i).UnsafeAddr())).Store(1 << (8 * i))
		want |= 1 << (8 * i)
	}
	var s GSOStats
	c.add(&s)
	w := reflect.ValueOf(s)
	if w.NumField() != v.NumField() {
		t.Fatalf("GSOStats has %d fields, gsoCounters %d", w.NumField(), v.NumField())
	}
	got := uint64(0)
	for i := range w.NumField() {
		f := w.Field(i).Uint()
		if f == 0 || f&(f-1) != 0 {
			t.Errorf("%s = %#x: want exactly one counter's value", w.Type().Field(i).Name, f)
		}
		got |= f
	}
	if got != want {
		t.Fatalf("fields carry %#x, counters %#x", got, want)
	}
}
