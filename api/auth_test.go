package api

import (
	"testing"
	"time"
)

func TestLimiterCapAndWindow(t *testing.T) {
	l := newLimiter(2)
	t0 := time.Unix(1_000_000, 0)
	for i := range maxFailures {
		l.fail(t0.Add(time.Duration(i)*time.Second), "a")
	}
	l.fail(t0, "b")
	if w := l.wait(t0.Add(10*time.Second), "a"); w != 50*time.Second {
		t.Errorf("a waits %v, want 50s (until its oldest failure leaves the window)", w)
	}
	// Full: a new key is not tracked while the others are live.
	for range maxFailures {
		l.fail(t0.Add(20*time.Second), "c")
	}
	if w := l.wait(t0.Add(20*time.Second), "c"); w != 0 {
		t.Errorf("c tracked beyond the cap: waits %v", w)
	}
	// Once they age out, a sweep makes room.
	later := t0.Add(2 * time.Minute)
	for range maxFailures {
		l.fail(later, "c")
	}
	if w := l.wait(later, "c"); w != failWindow {
		t.Errorf("c waits %v after the sweep, want %v", w, failWindow)
	}
	if len(l.fails) != 1 {
		t.Errorf("%d keys left, want 1", len(l.fails))
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5060":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:80":          "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb:cccc::9]:80": "2001:db8:1:2::/64",
		"not an address":                 "not an address",
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}
