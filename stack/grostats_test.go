package stack

import (
	"reflect"
	"testing"

	"offload/gro"
)

// GROStats sums every gro counter over a NIC's queues: a counter added to
// gro.Stats and forgotten in addGROStats would read zero for ever.
func TestAddGROStatsSumsEveryCounter(t *testing.T) {
	var one gro.Stats
	v := reflect.ValueOf(&one).Elem()
	n := 0
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Uint64:
			f.SetUint(uint64(i + 1))
			n++
		case reflect.Array:
			for j := range f.Len() {
				f.Index(j).SetUint(uint64(100 + j))
				n++
			}
		default:
			t.Fatalf("field %s of kind %v: teach this test and addGROStats about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	var sum gro.Stats
	addGROStats(&sum, one)
	addGROStats(&sum, one)
	w := reflect.ValueOf(sum)
	for i := range v.NumField() {
		a, b := v.Field(i), w.Field(i)
		if a.Kind() == reflect.Uint64 {
			if b.Uint() != 2*a.Uint() {
				t.Errorf("%s: sum %d, want %d", v.Type().Field(i).Name, b.Uint(), 2*a.Uint())
			}
			continue
		}
		for j := range a.Len() {
			if b.Index(j).Uint() != 2*a.Index(j).Uint() {
				t.Errorf("%s[%d] not summed", v.Type().Field(i).Name, j)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d counters", n)
	}
}
