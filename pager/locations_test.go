package pager

import (
	"reflect"
	"testing"

	"dcres/api"
)

func TestSplit(t *testing.T) {
	hosts := []string{"a", "b", "c"}
	l := SplitEven(hosts, 10)
	want := []api.Range{{Start: 0, Count: 3, Host: "a"}, {Start: 3, Count: 3, Host: "b"}, {Start: 6, Count: 4, Host: "c"}}
	if got := l.Ranges(); !reflect.DeepEqual(got, want) {
		t.Fatalf("even: %v, want %v", got, want)
	}
	l = Split(hosts, 100, []float64{0.5, 0, 0.5})
	want = []api.Range{{Start: 0, Count: 50, Host: "a"}, {Start: 50, Count: 50, Host: "c"}}
	if got := l.Ranges(); !reflect.DeepEqual(got, want) {
		t.Fatalf("split: %v, want %v", got, want)
	}
	if l.Home(49) != 0 || l.Home(50) != 2 {
		t.Fatalf("home(49)=%d home(50)=%d", l.Home(49), l.Home(50))
	}
	if got := Split(hosts, 9, []float64{-1, 0, 0}).Ranges(); !reflect.DeepEqual(got, SplitEven(hosts, 9).Ranges()) {
		t.Fatalf("no positive share should split evenly, got %v", got)
	}
}

func TestFromRanges(t *testing.T) {
	hosts := []string{"a", "b"}
	l := Split(hosts, 64, []float64{1, 3})
	l.Set(5, 2, 1)
	back, err := FromRanges(hosts, 64, l.Ranges())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Ranges(), l.Ranges()) {
		t.Fatalf("round trip: %v, want %v", back.Ranges(), l.Ranges())
	}
	bad := [][]api.Range{
		{{Start: 0, Count: 10, Host: "a"}},                                    // short
		{{Start: 0, Count: 10, Host: "a"}, {Start: 5, Count: 59, Host: "b"}},  // overlap
		{{Start: 0, Count: 10, Host: "a"}, {Start: 11, Count: 53, Host: "b"}}, // gap
		{{Start: 0, Count: 64, Host: "x"}},                                    // unknown host
		{{Start: 0, Count: 10, Host: "a"}, {Start: 10, Count: 60, Host: "b"}}, // past the end
		{{Start: 0, Count: 0, Host: "a"}, {Start: 0, Count: 64, Host: "b"}},   // empty
	}
	for i, rs := range bad {
		if _, err := FromRanges(hosts, 64, rs); err == nil {
			t.Errorf("case %d: FromRanges(%v) succeeded", i, rs)
		}
	}
	if _, err := FromRanges([]string{"a", "a"}, 1, []api.Range{{Start: 0, Count: 1, Host: "a"}}); err == nil {
		t.Error("duplicate host names accepted")
	}
}
